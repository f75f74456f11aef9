"""Run directories: weights, config, vocabulary and training state, written atomically.

Every file is written to a temporary name beside its target and renamed over it,
so a crash or Ctrl-C never leaves a half-written file; checkpoints are whole
generations (``generations.py``). Nothing here executes code on load: weights and
training state are safetensors, metadata JSON. Only the ``trainer_state.pt`` of a run
made before 0.3 is read with ``torch.load(weights_only=True)``, once, to convert it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from rnnkit.errors import UserError

FORMAT = 1
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
BEST = "model.safetensors"
LAST = "last.safetensors"
STATE = "trainer_state.pt"  # runs before 0.3 only: converted on resume
TRAIN_IDS = "train_ids.npy"
VAL_IDS = "val_ids.npy"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path`` (atomic on POSIX)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from None  # name the file in the error
    finally:
        tmp.unlink(missing_ok=True)


LOCK = ".lock"


@contextlib.contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """Hold the run directory for one training process: a second one gets a one-line error.

    An ``fcntl`` lock belongs to the open file, so the kernel drops it when its process dies,
    however it dies: a lock left by a killed run never blocks the next one."""
    handle = open(run / LOCK, "a+")  # noqa: SIM115 - held open for as long as the lock
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(f"{run}: already being trained by process {holder}; wait for it to finish or stop "
                            "it, then resume") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8"))


def save_weights(path: Path, model: torch.nn.Module, step: int) -> None:
    """safetensors, de-duplicating tied weights; the step goes in the metadata."""
    atomic_write(path, lambda tmp: save_model(model, str(tmp), metadata={"step": str(step)}))


def save_ids(path: Path, ids: np.ndarray) -> np.ndarray:
    """Keep the encoded corpus in the run (1-2 bytes a token) and reopen it memory-mapped.

    Training then pages the corpus in from disk instead of holding it in memory, and a
    resumed run reads exactly the tokens it started with, even if the source files moved.
    """
    atomic_write(path, lambda tmp: _write_npy(tmp, ids))
    return load_ids(path)


def _write_npy(path: Path, ids: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, ids, allow_pickle=False)


def save_raw_ids(path: Path, raw: Path, dtype: np.dtype, count: int) -> np.ndarray:
    """``save_ids`` for ids already on disk as raw ``dtype`` values (a streamed corpus): the .npy header,
    then the raw bytes copied across in blocks, so no step holds the array in memory."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out, open(raw, "rb") as source:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                      "shape": (count,)}
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(source, out, 16 << 20)
    atomic_write(path, write)
    return load_ids(path)


def load_ids(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: missing, so the run cannot resume; start a new run") from None
    except ValueError as err:
        raise UserError(f"{path}: corrupt ({err}); start a new run") from None


def read_config(run: Path) -> dict:
    """The run's config.json, or a UserError saying why this is not a usable run."""
    if not run.exists():
        raise UserError(f"{run}: no such run directory; pass the folder `rnnkit train TASK --out` wrote")
    config_path = run / CONFIG
    if not run.is_dir() or not config_path.exists():
        raise UserError(f"{run}: not an rnnkit run (no {CONFIG}); pass the folder `rnnkit train TASK --out` wrote")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{config_path}: corrupt ({err.__class__.__name__}); "
                        "restore it from a backup or train again") from None
    if not isinstance(config, dict) or "rnnkit_format" not in config:
        raise UserError(f"{config_path}: not written by rnnkit (no rnnkit_format); "
                        "pass a run directory made by `rnnkit train`")
    if config["rnnkit_format"] != FORMAT:
        raise UserError(f"{run}: checkpoint format {config['rnnkit_format']} comes from an incompatible rnnkit "
                        f"version (this one reads format {FORMAT}); use the matching rnnkit or train again")
    return config


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the run is incomplete, train again") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: corrupt ({err.__class__.__name__}); train again") from None


def load_weights(path: Path, model: torch.nn.Module, device: torch.device | str = "cpu") -> int:
    """Load safetensors weights into ``model``; returns the step they were saved at."""
    if not path.exists():
        raise UserError(f"{path}: missing; the run has no weights yet, train it first")
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(device))
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_len))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0][:120]
        raise UserError(f"{path}: corrupt or does not match config.json ({reason}); "
                        "use the run's other .safetensors file or train again") from None
    if missing or unexpected:
        raise UserError(f"{path}: weights do not match config.json (missing {sorted(missing)[:3]}, "
                        f"unexpected {sorted(unexpected)[:3]}); train again")
    return int(header.get("__metadata__", {}).get("step", 0))


def load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: missing, so the run cannot resume; start a new run") from None
    except Exception as err:  # torch raises several types for a damaged file
        raise UserError(f"{path}: corrupt ({str(err).splitlines()[0][:100]}); start a new run") from None
