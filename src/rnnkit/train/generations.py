"""Checkpoints as generations: each one complete and self-describing, switched to atomically.

A save writes ``checkpoints/step-NNNNNNNN/`` (weights, the loop's state as safetensors,
its skeleton and the log offsets as JSON) under a temporary name, fsyncs the files and
the folder, renames it into place, then rewrites the one pointer, ``checkpoints/LATEST``.
Whatever moment a process dies at, the pointer names a complete generation, and the
generation before it is kept until the next is complete. ``--keep`` bounds how many stay.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rnnkit.errors import UserError
from rnnkit.train import checkpoint, state_files

FOLDER = "checkpoints"
POINTER = "LATEST"
WEIGHTS, TENSORS, SKELETON = "weights.safetensors", "state.safetensors", "state.json"
PREFIX = "step-"


@dataclasses.dataclass(frozen=True)
class Generation:
    path: Path
    step: int

    @property
    def name(self) -> str:
        return f"{FOLDER}/{self.path.name}"


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a power cut after it cannot undo it)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write(run: Path, model: torch.nn.Module, state: dict) -> Generation:
    """Write the complete generation for ``state["step"]`` (not yet pointed to)."""
    folder = run / FOLDER
    folder.mkdir(exist_ok=True)
    final = folder / f"{PREFIX}{int(state['step']):08d}"
    staging = folder / f".{final.name}.tmp{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        _write_files(staging, model, state)
        fsync_folder(staging)
        shutil.rmtree(final, ignore_errors=True)  # a complete one a crash left before its pointer
        os.replace(staging, final)
        fsync_folder(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Generation(final, int(state["step"]))


def point_to(run: Path, generation: Generation) -> None:
    """The commit: LATEST names ``generation`` (an atomic rename, made durable)."""
    checkpoint.write_json(run / FOLDER / POINTER, {"generation": generation.path.name, "step": generation.step})
    fsync_folder(run / FOLDER)


def _write_files(staging: Path, model: torch.nn.Module, state: dict) -> None:
    skeleton, tensors = state_files.split(state)
    checkpoint.save_weights(staging / WEIGHTS, model, int(state["step"]))
    _durable(staging / TENSORS, lambda path: save_file(tensors, str(path)))
    _durable(staging / SKELETON, lambda path: path.write_text(json.dumps(skeleton) + "\n", encoding="utf-8"))


def _durable(path: Path, write) -> None:
    write(path)
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def prune(folder: Path, keep: int, current: str) -> None:
    """Delete all but the newest ``keep`` complete generations (never ``current``) and stale staging."""
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith(PREFIX) and p.is_dir())
    for name in names[:-max(keep, 1)]:
        if name != current:
            shutil.rmtree(folder / name, ignore_errors=True)
    for stale in folder.glob(f".{PREFIX}*.tmp*"):
        if not stale.name.endswith(f".tmp{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)


def complete(path: Path) -> bool:
    return all((path / name).is_file() for name in (WEIGHTS, TENSORS, SKELETON))


def latest(run: Path) -> Generation | None:
    """The generation LATEST names, or (pointer missing or damaged) the newest complete one."""
    folder = run / FOLDER
    if not folder.is_dir():
        return None
    try:
        named = folder / json.loads((folder / POINTER).read_text(encoding="utf-8"))["generation"]
        if named.parent == folder and complete(named):
            return Generation(named, int(named.name[len(PREFIX):]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = sorted(p for p in folder.glob(f"{PREFIX}*") if p.is_dir() and complete(p))
    return Generation(found[-1], int(found[-1].name[len(PREFIX):])) if found else None


def damaged(generation: Generation, why: str) -> UserError:
    return UserError(f"{generation.path}: damaged ({why}); delete this folder to resume from the generation "
                     "before it")


def read(generation: Generation, model: torch.nn.Module, device: torch.device) -> dict:
    """Load the weights into ``model`` and return the loop's state tree."""
    weights_step = checkpoint.load_weights(generation.path / WEIGHTS, model, device)
    try:
        skeleton = json.loads((generation.path / SKELETON).read_text(encoding="utf-8"))
        state = state_files.join(skeleton, load_file(str(generation.path / TENSORS)))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as err:
        raise damaged(generation, err.__class__.__name__) from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise damaged(generation, "no step in state.json")
    if weights_step != state.get("step"):
        raise UserError(f"{generation.path}: weights of step {weights_step}, state of step {state.get('step')}; "
                        "delete this folder to resume from the generation before it")
    return state


LOGS = ("metrics.jsonl", "samples.jsonl")
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES}
NOT_WRITABLE = {errno.EROFS, errno.EACCES}


def save(run: Path, model: torch.nn.Module, state: dict, keep: int) -> Generation:
    """One checkpoint: the generation, ``last.safetensors`` as a link to its weights, then the
    pointer, the one step that commits it (the loop writes the best weights before). The state
    records how long each log was, so a run resumed from here drops what was logged after it."""
    state = {**state, "logs": {name: (run / name).stat().st_size if (run / name).exists() else 0
                               for name in LOGS}}
    generation = write(run, model, state)
    _link(generation.path / WEIGHTS, run / checkpoint.LAST)
    point_to(run, generation)
    prune(run / FOLDER, keep, generation.path.name)
    (run / checkpoint.STATE).unlink(missing_ok=True)  # a run from before generations, now converted
    return generation


def _link(source: Path, target: Path) -> None:
    """``target`` becomes ``source`` (a hard link: no second copy on disk), atomically."""
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def rewind_logs(run: Path, state: dict) -> None:
    """Cut the logs back to where they were at this checkpoint: a run killed after it had logged
    steps it will now train again."""
    for name, size in state.get("logs", {}).items():
        path = run / name
        if name in LOGS and path.exists() and path.stat().st_size > size:
            with open(path, "r+b") as handle:
                handle.truncate(size)


def disk_full_message(run: Path, err: OSError, step: int, saved_step: int | None) -> str:
    """One line for a checkpoint the disk refused: what is intact, and the space one checkpoint takes."""
    newest = latest(run)
    size = sum(p.stat().st_size for p in newest.path.iterdir()) if newest else 0
    kept = f"the checkpoint of step {saved_step} is intact" if saved_step is not None else "no checkpoint yet"
    need = f"free at least {max(size / 1e6, 0.1):.1f} MB (one checkpoint), then " if size else \
        "free some space, then "  # rounded up: a tiny run's checkpoint still reads as 0.1 MB, not 0.0
    if err.errno in NOT_WRITABLE:
        need = f"make {run} writable, then "
    return (f"{run}: could not write the checkpoint of step {step} ({err.strerror or err}); {kept}; "
            f"{need}continue with: rnnkit resume {run}")
