"""What every trained run shares: the device, a fresh run directory, the header, and exact resume."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path

import torch

from rnnkit import __version__
from rnnkit.config import from_dict, to_dict
from rnnkit.data.labelled import Example
from rnnkit.data.tokenizers import Tokenizer, fit_tokenizer, tokenizer_from_dict
from rnnkit.errors import UserError
from rnnkit.tasks.choices import Choice, apply, chosen_for
from rnnkit.tasks.interface import DAMAGE
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint, distributed, generations
from rnnkit.train.loop import Task, TrainConfig, TrainLoop
from rnnkit.train.precision import resolve_precision

SPLITS = ("train", "val", "test")


def resolve_device(name: str) -> torch.device:
    """``--device``; under torchrun, a CUDA device is this rank's own GPU."""
    if name == "auto":
        return distributed.current().device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible; use --device cpu or auto")
    return distributed.current().device(torch.device(name))


def new_run_dir(out: str | None, sources: list[str]) -> Path:
    """``--out`` if given (refusing to overwrite a run), else runs/NAME, runs/NAME-2, ...
    Under torchrun the leader makes it and tells the other ranks."""
    world = distributed.current()
    if not world.leader:
        return Path(world.broadcast_text(""))
    if out:
        run = Path(out)
        if (run / checkpoint.CONFIG).exists() and not restarted_here(run):
            raise UserError(f"{run}: already holds a run; continue it with `rnnkit resume {run}` or pick a new --out")
    else:
        if world.active and distributed.may_restart():
            raise UserError("torchrun --max-restarts: give --out DIR, so a restarted group finds the run it trains")
        stem = Path(sources[0]).stem or "run"
        run, n = Path("runs") / stem, 2
        while run.exists():
            run, n = Path("runs") / f"{stem}-{n}", n + 1
    run.mkdir(parents=True, exist_ok=True)
    if (run / checkpoint.CONFIG).exists():  # restarted before its first checkpoint: its logs go, it starts over
        for name in ("metrics.jsonl", "samples.jsonl"):
            (run / name).unlink(missing_ok=True)
    if world.active:
        world.broadcast_text(str(run))
    return run


def restarted_here(run: Path) -> bool:
    """Whether ``run`` was made by this torchrun launch before it restarted the group (``--max-restarts``)."""
    if not distributed.restarted():
        return False
    try:
        made_by = checkpoint.read_json(run / checkpoint.CONFIG).get("distributed", {}).get("run_id")
    except (UserError, AttributeError):
        return False
    return made_by is not None and made_by == distributed.launch_id()


def run_header(task: str, sources: list[str], **fields) -> dict:
    """The start of every config.json: format, version, task and where the data came from."""
    world = distributed.current()
    return {"rnnkit_format": checkpoint.FORMAT, "rnnkit_version": __version__, "task": task,
            "sources": [str(Path(s).resolve()) if Path(s).exists() else s for s in sources], **fields,
            **({"distributed": world.describe()} if world.active else {})}


def settle_labelled(train_split: list[Example], given: set[str] | None, model_config: ModelConfig,
                    data: DataConfig, train_config: TrainConfig, device: torch.device,
                    ) -> tuple[list[Choice], ModelConfig, DataConfig, TrainConfig, Tokenizer]:
    """Before a labelled run starts: the automatic choices made and applied, the tokenizer fitted on
    the training split, and the precision resolved (saved once, in the train section)."""
    choices = chosen_for(train_split, given, data.tokenizer)
    model_config, data, train_config = apply(choices, model_config, data, train_config)
    tokenizer = fit_tokenizer(data.tokenizer, "\n".join(t for t, _ in train_split), data.vocab_size)
    precision = resolve_precision(train_config.precision, device)
    return choices, model_config, data, dataclasses.replace(train_config, precision=precision), tokenizer


def run_tokenizer(run: Path) -> Tokenizer:
    """The run's tokenizer.json as the tokenizer it describes."""
    return tokenizer_from_dict(checkpoint.read_json(run / checkpoint.TOKENIZER))


def saved_precision(config: dict) -> str:
    """The arithmetic a run trains in: its ``train.precision``, resolved when it started. Runs before
    0.3 kept the resolved value beside the sections, and ``auto`` in them."""
    if config.get("precision"):
        return config["precision"]
    chosen = config.get("train", {}).get("precision", "fp32")
    return "fp32" if chosen == "auto" else chosen


def resumed_loop(run: Path, model: torch.nn.Module, task: Task, train_config: TrainConfig, config: dict,
                 device: torch.device, show_progress: bool | None) -> TrainLoop:
    """A loop at the run's newest complete checkpoint: weights, optimizer, RNG and the task's carried
    state, with the logs cut back to it. A run from before generations is converted to one here.
    Under torchrun every rank reads the checkpoint; the leader alone locks and writes."""
    world = distributed.current()
    if world.active:
        config["distributed"] = world.describe()
    with checkpoint.run_lock(run) if world.leader else contextlib.nullcontext():
        state, where = read_checkpoint(run, model, device)
        if world.leader:
            checkpoint.write_json(run / checkpoint.CONFIG, config)  # the new budget, for the next resume
        loop = TrainLoop(model, task, train_config, run, show_progress)
        try:
            loop.load_state_dict(state)
        except DAMAGE as err:
            raise UserError(f"{run}: the checkpoint in {where} is damaged ({err.__class__.__name__}); delete it "
                            "to resume from the one before, or train again") from None
        if world.leader:
            generations.rewind_logs(run, state)
        if where == checkpoint.STATE:
            loop.save()
            where += f", converted to {generations.latest(run).name}"
    if world.leader:
        print(f"run {run}: resuming at step {loop.step} (from {where})", file=sys.stderr)
    return loop


def read_checkpoint(run: Path, model: torch.nn.Module, device: torch.device) -> tuple[dict, str]:
    """The newest complete generation, or the single checkpoint of a run made before 0.3."""
    generation = generations.latest(run)
    if generation is not None:
        return generations.read(generation, model, device), generation.name
    if not (run / checkpoint.STATE).exists():
        raise UserError(f"{run}: no checkpoint yet (it stopped before its first); train it again")
    state = checkpoint.load_state(run / checkpoint.STATE)
    weights_step = checkpoint.load_weights(run / checkpoint.LAST, model, device)
    if weights_step != state["step"]:
        raise UserError(f"{run}: {checkpoint.LAST} (step {weights_step}) and {checkpoint.STATE} "
                        f"(step {state['step']}) disagree; the checkpoint is damaged, start a new run")
    return state, checkpoint.STATE


def write_split(run: Path, name: str, examples: list[Example], keys: tuple[str, str] = ("text", "label")) -> None:
    """One JSON object per example, its two parts under ``keys`` (pairs use source and target)."""
    lines = "".join(json.dumps(dict(zip(keys, e, strict=True)), ensure_ascii=False) + "\n" for e in examples)
    checkpoint.atomic_write(run / f"{name}.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))


def read_split(run: Path, name: str, keys: tuple[str, str] = ("text", "label")) -> list[Example]:
    path = run / f"{name}.jsonl"
    try:
        return [(row[keys[0]], row[keys[1]]) for row in map(json.loads, path.read_text("utf-8").splitlines())]
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the run is incomplete, train again") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{path}: corrupt; train again") from None


def start_split_run(task: str, sources: list[str], out: str | None, splits: dict[str, list[Example]], origin: str,
                    tokenizer: Tokenizer, labels: list[str], auto: list[dict] | None = None,
                    **sections) -> tuple[Path, dict]:
    """A new run of examples: its directory with the split, config.json and tokenizer.json written.

    ``sections`` are the run's config dataclasses (model, train, data...), saved as JSON.
    """
    run = new_run_dir(out, sources)
    config = run_header(task, sources, labels=labels, split=origin, auto=auto or [],
                        **{name: to_dict(section) for name, section in sections.items()})
    if distributed.current().leader:  # every rank made the same split; one writes it
        for name in SPLITS:
            write_split(run, name, splits[name])
        checkpoint.write_json(run / checkpoint.CONFIG, config)
        checkpoint.write_json(run / checkpoint.TOKENIZER, tokenizer.to_dict())
    return run, config


def reopen(run: Path, overrides: dict) -> tuple[dict, TrainConfig, Tokenizer, dict[str, list[Example]]]:
    """A stopped run's config (with the new budget), training settings, tokenizer and split."""
    config = checkpoint.read_config(run)
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    config["train"] = to_dict(train_config)
    tokenizer = run_tokenizer(run)
    return config, train_config, tokenizer, {name: read_split(run, name) for name in SPLITS}
