"""What every trained run shares: the device, a fresh run directory, the header, and exact resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from rnnkit import __version__
from rnnkit.data.labelled import Example
from rnnkit.errors import UserError
from rnnkit.train import checkpoint
from rnnkit.train.loop import Task, TrainConfig, TrainLoop

SPLITS = ("train", "val", "test")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(name)


def new_run_dir(out: str | None, sources: list[str]) -> Path:
    """``--out`` if given (refusing to overwrite a run), else runs/NAME, runs/NAME-2, ..."""
    if out:
        run = Path(out)
        if (run / checkpoint.CONFIG).exists():
            raise UserError(f"{run}: already holds a run; continue it with --resume {run} or pick a new --out")
    else:
        stem = Path(sources[0]).stem or "run"
        run, n = Path("runs") / stem, 2
        while run.exists():
            run, n = Path("runs") / f"{stem}-{n}", n + 1
    run.mkdir(parents=True, exist_ok=True)
    return run


def run_header(task: str, sources: list[str], **fields) -> dict:
    """The start of every config.json: format, version, task and where the data came from."""
    return {"rnnkit_format": checkpoint.FORMAT, "rnnkit_version": __version__, "task": task,
            "sources": [str(Path(s).resolve()) if Path(s).exists() else s for s in sources], **fields}


def resumed_loop(run: Path, model: torch.nn.Module, task: Task, train_config: TrainConfig, config: dict,
                 device: torch.device, show_progress: bool | None) -> TrainLoop:
    """A loop at the run's last checkpoint: weights, optimizer, RNG and the task's carried state."""
    state = checkpoint.load_state(run / checkpoint.STATE)
    weights_step = checkpoint.load_weights(run / checkpoint.LAST, model, device)
    if weights_step != state["step"]:
        raise UserError(f"{run}: {checkpoint.LAST} (step {weights_step}) and {checkpoint.STATE} "
                        f"(step {state['step']}) disagree; the checkpoint is damaged, start a new run")
    checkpoint.write_json(run / checkpoint.CONFIG, config)  # the new budget, for the next resume
    loop = TrainLoop(model, task, train_config, run, show_progress)
    loop.load_state_dict(state)
    print(f"run {run}: resuming at step {loop.step}", file=sys.stderr)
    return loop


def write_split(run: Path, name: str, examples: list[Example]) -> None:
    lines = "".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n" for t, y in examples)
    checkpoint.atomic_write(run / f"{name}.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))


def read_split(run: Path, name: str) -> list[Example]:
    path = run / f"{name}.jsonl"
    try:
        return [(row["text"], row["label"]) for row in map(json.loads, path.read_text("utf-8").splitlines())]
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the run is incomplete, train again") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{path}: corrupt; train again") from None
