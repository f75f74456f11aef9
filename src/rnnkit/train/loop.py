"""The training loop: it knows optimisers, budgets and checkpoints, not models.

A task supplies four things: the loss for a global step, validation scores
(``loss``, and ``objective`` when early stopping should follow something else,
lower is better), a sample, and whatever state it carries between steps (for
truncated BPTT, the hidden state). The loop does the rest: AdamW, warm-up and cosine
decay, clipping by global norm, evaluation, early stopping, progress, logs,
atomic checkpoints, exact resume, Ctrl-C and divergence.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from rnnkit.errors import UserError
from rnnkit.train import checkpoint, distributed, generations
from rnnkit.train.averaging import WeightAverage
from rnnkit.train.best_pool import BestPool
from rnnkit.train.config import TrainConfig, make_optimizer
from rnnkit.train.progress import progress_bar
from rnnkit.train.schedule import learning_rate, progress
from rnnkit.train.signals import Interrupted, install_stop_handlers


class Task(Protocol):
    unit: str  # what units_per_step counts: "chars", "tokens" or "values"

    def loss(self, step: int) -> torch.Tensor: ...
    def units_per_step(self) -> float: ...
    def evaluate(self) -> dict: ...
    def describe(self, scores: dict, short: bool = False) -> str: ...
    def sample(self, generator: torch.Generator) -> str: ...
    def carried_state(self) -> dict: ...
    def load_carried_state(self, state: dict) -> None: ...


class TrainLoop:
    """Runs a task to its budget, writing ``metrics.jsonl``, ``samples.jsonl`` and checkpoints."""

    def __init__(self, model: torch.nn.Module, task: Task, config: TrainConfig, run: Path,
                 show_progress: bool | None = None) -> None:
        self.model, self.task, self.config, self.run = model, task, config, run
        self.optimizer = make_optimizer(model, config)
        self.step = 0
        self.elapsed = 0.0
        self.best_score = math.inf
        self.bad_evals = 0
        self.saved_step: int | None = None
        self.pool = BestPool(config.average_last or config.average, latest=config.average_last > 0)
        self.average = WeightAverage(config.ema, config.tail_average)
        self.last_eval: dict = {}
        self.show_progress = show_progress
        self._stop_signal: int | None = None
        self._gnorm, self._stop_everywhere = 0.0, False
        self.world = distributed.current()
        self._clock = 0.0  # this rank's own training time; ``elapsed`` is the ranks' mean
        self.world.broadcast_parameters(model)
        distributed.seed_rank(self.world, config.seed)

    # -- resume --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "step": self.step, "elapsed": self.elapsed, "best_score": self.best_score,
            "bad_evals": self.bad_evals, "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "task": self.task.carried_state(), "best_pool": self.pool.state(), "average": self.average.state(),
            # every rank's dropout generator, so a resumed group draws the same masks
            **({"rank_rng": list(self.world.gather_rows(torch.get_rng_state()[None]).unbind(0))}
               if self.world.active else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.best_score, self.bad_evals = float(state["best_score"]), int(state["bad_evals"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        ranks = state.get("rank_rng", [])
        if self.world.active and len(ranks) == self.world.size:
            torch.set_rng_state(ranks[self.world.rank])
        elif self.world.active:
            distributed.seed_rank(self.world, self.config.seed)  # another world size: new dropout masks
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.task.load_carried_state(state["task"])
        self.pool.load(state.get("best_pool", []))
        self.average.load(state.get("average"))
        self.saved_step = self.step
        self._clock = self.elapsed

    # -- the loop ------------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None) -> dict:
        """Train until the budget, early stopping, ``stop_at`` steps, or Ctrl-C; returns the last scores.

        The run directory is locked meanwhile: a second process training it is refused."""
        with checkpoint.run_lock(self.run) if self.world.leader else contextlib.nullcontext():  # leader's lock
            try:
                final = self._fit(stop_at)
                if self.world.leader:
                    return final
                raise distributed.FollowerDone
            except OSError as err:
                if err.errno not in generations.DISK_ERRORS:
                    raise
                raise UserError(generations.disk_full_message(self.run, err, self.step, self.saved_step)) from None

    def _fit(self, stop_at: int | None) -> dict:
        config = self.config
        if config.steps <= 0 and config.minutes <= 0:
            raise UserError("no budget: pass --steps N or --minutes M")
        bar = progress_bar(self.config, self.step, self.elapsed, self.show_progress if self.world.leader else False)
        previous_handlers = install_stop_handlers(self._request_stop)
        units_seen, training_time = 0, 0.0
        try:
            while not self._budget_spent() and (stop_at is None or self.step < stop_at):
                step_started = time.perf_counter()
                loss = self.train_step()
                step_time = time.perf_counter() - step_started
                self._clock += step_time  # training time only: validation does not eat the budget
                if not self.world.active:
                    self.elapsed = self._clock
                training_time += step_time
                units_seen += self.task.units_per_step()
                rate = units_seen / max(training_time, 1e-9)
                if self.step % 10 == 0 and self.world.leader:
                    self._log({"step": self.step, "loss": loss, "lr": self._lr(), "grad_norm": self._gnorm,
                               "elapsed": round(self.elapsed, 3), f"{self.task.unit}_per_s": round(rate)})
                if bar is not None:
                    bar.update_to(self.step, self.elapsed, loss, rate, self.task, self.last_eval)
                if self._stop_signal is not None or self._stop_everywhere:
                    self._stop_here()
                if self.step % config.eval_every == 0 and self._evaluate_and_save():
                    break
            if self.saved_step != self.step:
                self._evaluate_and_save()
        finally:
            for signum, previous in previous_handlers.items():
                signal.signal(signum, previous)
            if bar is not None:
                bar.close()
        if not self.last_eval:  # resumed with nothing left to do: report where it stands
            self.last_eval = {**self.task.evaluate(), "step": self.step, "elapsed": round(self.elapsed, 3),
                              "best_objective": self.best_score}
        return self.last_eval

    def _stop_here(self) -> None:
        """A stop was asked for (here or on another rank): checkpoint, then say how to continue."""
        self._evaluate_and_save()
        stopped_by = self._stop_signal or signal.SIGTERM  # another rank's signal: as torchrun's
        how = "interrupted" if stopped_by == signal.SIGINT else f"stopped by {signal.Signals(stopped_by).name}"
        raise Interrupted(f"{how} at step {self.step}; checkpoint saved in {self.run}; "
                          f"continue with: rnnkit resume {self.run}", stopped_by)

    def train_step(self) -> float:
        started = time.perf_counter()
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.task.loss(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = self._synchronise(loss, started) if self.world.active else loss.item()
        if self.config.clip > 0:
            gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        else:
            gnorm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in self.model.parameters()
                                                          if p.grad is not None]))
        self._gnorm = float(gnorm)
        if not (math.isfinite(value) and math.isfinite(self._gnorm)):
            self._diverged(value, "loss" if not math.isfinite(value) else "gradient norm")
        self.optimizer.step()
        self.step += 1
        self.average.update(self.model, self._progress())
        return value

    def _synchronise(self, loss: torch.Tensor, started: float) -> float:
        """Gradients summed over the ranks; the global loss, the stop request and the clock agreed."""
        clock = self._clock + time.perf_counter() - started
        params = [p for p in self.model.parameters() if p.requires_grad]
        value, self._stop_everywhere, self.elapsed = self.world.sync_step(
            params, loss, self._stop_signal is not None, clock)
        return value

    def _diverged(self, value: float, what: str) -> None:
        kept = (f"the last good checkpoint (step {self.saved_step}) is kept in {self.run}"
                if self.saved_step is not None else "no checkpoint had been written yet")
        raise UserError(f"training diverged at step {self.step} ({what} {value}); {kept}; "
                        "lower --lr or --clip and train again")

    def _evaluate_and_save(self) -> bool:
        """Validate, sample, keep the best, checkpoint; returns True when early stopping says stop.
        With ``--ema`` or ``--tail-average`` the average is what is validated, sampled and kept.
        Every rank validates its share; the leader alone samples, logs and writes."""
        with self.average.applied(self.model):
            scores = self.task.evaluate()
            if not math.isfinite(scores["loss"]):
                self._diverged(scores["loss"], "validation loss")
            score = scores.get("objective", scores["loss"])
            improved = score < self.best_score
            if improved:
                self.best_score, self.bad_evals = score, 0
            else:
                self.bad_evals += 1
            self.last_eval = {**scores, "step": self.step, "elapsed": round(self.elapsed, 3),
                              "best_objective": self.best_score}
            if self.world.leader:
                self._write_validation(scores, improved)
                if self.pool.offer(self.run, self.model, score, self.step):
                    self.pool.write_best(self.run, self.model, self.step)
        self.save()
        return self.config.patience > 0 and self.bad_evals >= self.config.patience

    def _write_validation(self, scores: dict, improved: bool) -> None:
        """The leader's record of a validation: the metrics line, the report and a sample."""
        generator = torch.Generator().manual_seed(self.config.seed * 100003 + self.step)
        text = self.task.sample(generator)
        self._log({"step": self.step, "elapsed": round(self.elapsed, 3),
                   **{f"val_{k}": v for k, v in scores.items()}})
        self._report(scores, improved)
        _append_jsonl(self.run / "samples.jsonl", {"step": self.step, "elapsed": round(self.elapsed, 3),
                                                   "text": text})

    def save(self) -> None:
        """A new checkpoint generation (``generations.save``) of the raw weights and the loop's state;
        the best weights were written before it. Every rank hands in its carried state and
        generator; the leader writes."""
        state = self.state_dict()
        if self.world.leader:
            generations.save(self.run, self.model, state, self.config.keep)
            self.pool.clean(self.run)
        self.saved_step = self.step

    # -- helpers -------------------------------------------------------------------------------
    def _progress(self) -> float:
        return progress(self.step, self.elapsed, self.config.steps, self.config.minutes * 60)

    def _lr(self) -> float:
        return learning_rate(self.config.lr, self.step, self._progress(), self.config.warmup_steps,
                             self.config.schedule, self.config.min_lr_ratio)

    def _budget_spent(self) -> bool:
        config = self.config
        return ((config.steps > 0 and self.step >= config.steps)
                or (config.minutes > 0 and self.elapsed >= config.minutes * 60))

    def _request_stop(self, signum, frame) -> None:
        """Finish the step, checkpoint, then stop: Ctrl-C, and what schedulers, ``timeout`` and
        container runtimes send (SIGTERM) or a closed terminal (SIGHUP)."""
        if self._stop_signal is not None and signum == signal.SIGINT:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _report(self, scores: dict, improved: bool) -> None:
        """One line per validation, above the progress bar (or alone when there is none)."""
        if self.show_progress is False or not self.world.leader:
            return
        line = (f"step {self.step:>6}  {self.elapsed:7.1f}s  val {self.task.describe(scores)}"
                f"{'  *best' if improved else ''}")
        tqdm.write(line, file=sys.stderr)

    def _log(self, record: dict) -> None:
        _append_jsonl(self.run / "metrics.jsonl", record)


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
