"""The runs a server was started with: each loaded once, named, described for ``/v1/models``.

The server reads nothing else: a request names a model, never a path.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError
from rnnkit.tasks import task_of
from rnnkit.tasks.interface import Run, Task


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many streams a model runs and queues."""

    max_length: int = 4000
    max_n: int = 16
    max_batch: int = 32
    max_waiting: int = 64


@dataclasses.dataclass
class ServedModel:
    """One loaded run. ``lock`` serialises the verbs that use the model directly; generation
    goes through the run's batcher (``shared("batcher", ...)``), which owns its own thread."""

    name: str
    task: Task
    loaded: Run
    precision: str
    limits: Limits
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    _shared: dict[str, Any] = dataclasses.field(default_factory=dict)

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """One object per model made on first use (a batcher), closed with the server."""
        with self.lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]

    def generation_load(self) -> dict | None:
        """Streams running and waiting in the model's batcher (None before its first generation)."""
        batcher = self._shared.get("batcher")
        return batcher.load() if batcher is not None else None

    def close(self) -> None:
        for thing in self._shared.values():
            if hasattr(thing, "close"):
                thing.close()

    def info(self) -> dict:
        loaded = self.loaded
        tokenizer = getattr(loaded, "tokenizer", None) or getattr(loaded, "target_tokenizer", None)
        model = loaded.model  # type: ignore[attr-defined]
        parameters = sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else None
        return {"name": self.name, "task": self.task.name, "verbs": sorted(self.task.serves),
                "vocab_size": tokenizer.vocab_size if tokenizer is not None else None,
                "labels": getattr(loaded, "labels", None) or None, "parameters": parameters,
                **training_record(loaded.run)}


def training_record(run: Path) -> dict:
    """The best validation loss, the last validation's scores and the training time, from metrics.jsonl."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return {"validation": None, "best_val_loss": None, "training_seconds": None}
    validations, elapsed = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        elapsed = record.get("elapsed", elapsed)
        if "val_loss" in record:
            validations.append(record)
    last = {k[4:]: v for k, v in validations[-1].items() if k.startswith("val_")} if validations else None
    best = min((r["val_loss"] for r in validations), default=None)
    return {"validation": last, "best_val_loss": best, "training_seconds": elapsed}


def parse_spec(spec: str) -> tuple[str, Path]:
    """``PATH`` is named by its directory name; ``NAME=PATH`` names it."""
    name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path_ = Path(path)
    name = name or path_.resolve().name
    if not name or "/" in name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UserError(f"{spec}: a model name is letters, digits, '-', '_' and '.'; give it as NAME=PATH")
    return name, path_


def load_models(specs: list[str], device: str, precision: str, limits: Limits, runtime: str = "torch",
                quantize: str = "none") -> dict[str, ServedModel]:
    """Every run, loaded once (on ``runtime`` and ``quantize`` where its task has them, the others on
    PyTorch, said on stderr); a repeated name is refused (name them with NAME=PATH)."""
    from rnnkit.tasks.runs import resolve_device
    from rnnkit.train.precision import resolve_precision

    models: dict[str, ServedModel] = {}
    for spec in specs:
        name, path = parse_spec(spec)
        if name in models:
            raise UserError(f"{spec}: two runs are named {name!r}; name one with NAME=PATH")
        if not path.is_dir():
            raise UserError(f"{path}: no such run directory; pass a folder `rnnkit train` wrote")
        task = task_of(path)
        if not task.serves:
            raise UserError(f"{path}: a {task.name} run has nothing to serve")
        loaded = task.load(path, device)
        resolved = resolve_precision(precision, resolve_device(device))
        if (runtime, quantize) != ("torch", "none"):
            if task.runtime is None:
                print(f"rnnkit serve: {name} (a {task.name} run) runs on PyTorch: --runtime and --quantize are "
                      "for language models", file=sys.stderr)
            else:
                loaded, resolved = task.runtime(loaded, runtime, quantize), "fp32"
        models[name] = ServedModel(name, task, loaded, resolved, limits)
    return models
