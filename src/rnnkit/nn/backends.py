"""``--backend auto``: time each backend on the run's own shapes once, remember the winner.

Which backend is fastest depends on the cell, the sizes, the batch, the precision and
the machine (measured here: the fused LSTM beats the compiled one, the compiled GRU
beats the fused one). So the first run of a shape times a training step (forward and
backward, random data) on each candidate and caches the answer per machine; later runs
read it back in microseconds. The compiled backend's compile time is counted against
the run's budget: it is only chosen when what it saves pays for it several times over.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.nn.compiled import CompiledRecurrent
from rnnkit.nn.fused import FusedRecurrent
from rnnkit.nn.hardware import cpu_identity
from rnnkit.nn.pointwise import compiler_works

CANDIDATES = {"fused": FusedRecurrent, "compiled": CompiledRecurrent}
MIN_BUDGET_S = 60.0      # below this a run keeps the fused kernels: measuring would cost too much of it
MIN_STEPS = 500          # the same for a budget given in steps only
COMPILE_SHARE = 0.1      # compile time may take at most this share of the budget


@dataclass(frozen=True)
class Shape:
    """What decides a recurrent layer stack's speed."""

    cell: str
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    batch: int
    steps: int
    precision: str
    device: str
    weight_drop: float = 0.0      # the regularisers change the step's work (weight drop: a dropped copy of
    locked_dropout: float = 0.0   # the matrices per batch; locked dropout: fused runs layer by layer)


def cache_path() -> Path:
    root = os.environ.get("RNNKIT_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "rnnkit" / "backends.json"


def machine_key(device: torch.device) -> str:
    """The processor (or GPU) and the PyTorch build: a cached timing is only valid on the same pair."""
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else cpu_identity() or platform.processor() or platform.machine())
    raw = f"{name}|{torch.__version__}|{torch.get_num_threads()} threads"
    return hashlib.sha1(raw.encode()).hexdigest()[:12] + " " + raw


def shape_key(shape: Shape) -> str:
    """The cache's key for a shape; without the regularisers when they are off, so the timings
    cached before they existed still count."""
    fields = {k: v for k, v in shape.__dict__.items() if k not in ("weight_drop", "locked_dropout") or v}
    return json.dumps(fields, sort_keys=True)


def time_backend(kind: str, shape: Shape, repeats: int = 3) -> tuple[float, float]:
    """(seconds for the first step, which includes any compiling; median seconds per later step)."""
    device = torch.device(shape.device)
    with torch.random.fork_rng(devices=[]):  # must not move the run's random stream
        module = CANDIDATES[kind](shape.cell, shape.input_size, shape.hidden_size, shape.num_layers,
                                  bidirectional=shape.bidirectional, weight_drop=shape.weight_drop,
                                  locked_dropout=shape.locked_dropout).to(device).train()
        x = torch.randn(shape.batch, shape.steps, shape.input_size, device=device)

    def step() -> float:
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=shape.precision == "bf16"):
            out, _ = module(x)
        out.float().square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    first = step()
    return first, statistics.median(step() for _ in range(repeats))


def choose_backend(shape: Shape, minutes: float, steps: int, log=print, use_cache: bool = True,
                   ) -> tuple[str, dict]:
    """The backend to train ``shape`` for ``minutes`` (else ``steps``) with, and why.

    ``use_cache=False`` times again and leaves the cache as it was (``--no-cache``)."""
    if (minutes > 0 and minutes * 60 < MIN_BUDGET_S) or (minutes <= 0 and steps < MIN_STEPS):
        return "fused", {"reason": "a short budget: fused, without measuring"}
    key, path = shape_key(shape), cache_path()
    cache = read_cache(path)
    machine = machine_key(torch.device(shape.device))
    known = cache.get(machine, {}).get(key) if use_cache else None
    if known is None:
        candidates = ["fused"] + (["compiled"] if compiler_works() else [])
        where = f"cached in {path}" if use_cache else "not cached: --no-cache"
        log(f"backend auto: timing {', '.join(candidates)} on this shape once ({where})")
        known = {kind: dict(zip(("first_s", "step_s"), time_backend(kind, shape), strict=True))
                 for kind in candidates}
        if use_cache:
            cache.setdefault(machine, {})[key] = known
            write_cache(path, cache)
    budget_s = minutes * 60 if minutes > 0 else steps * known["fused"]["step_s"]
    return _pick(known, budget_s), {"timings": known}


def fused_step_seconds(shape: Shape) -> float:
    """The fused kernels' seconds per step on ``shape``: the cached timing when ``--backend auto``
    made one on this machine, else measured now (and not cached: an entry without the other
    candidates would keep ``choose_backend`` from timing them)."""
    known = read_cache(cache_path()).get(machine_key(torch.device(shape.device)), {}).get(shape_key(shape), {})
    return known["fused"]["step_s"] if "fused" in known else time_backend("fused", shape)[1]


def _pick(timings: dict, budget_s: float) -> str:
    """The fastest per step, unless its one-off extra cost (compiling) would eat the budget."""
    fused = timings["fused"]["step_s"]
    best = min(timings, key=lambda kind: timings[kind]["step_s"])
    if best == "fused":
        return best
    extra = max(timings[best]["first_s"] - timings[best]["step_s"], 0.0)
    saved = (1 - timings[best]["step_s"] / fused) * budget_s
    return best if extra <= COMPILE_SHARE * budget_s and saved > 3 * extra else "fused"


def read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # missing or damaged: measure again
        return {}


def write_cache(path: Path, cache: dict) -> None:
    """Written to a temporary name and renamed, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(cache, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError:  # a read-only home still trains; it just measures again next time
        tmp.unlink(missing_ok=True)


def describe_cache(path: Path | None = None) -> list[str]:
    """One line per cached shape: the machine, the shape and each backend's step time."""
    cache = read_cache(path or cache_path())
    lines = []
    for machine, shapes in sorted(cache.items()):
        for key, timings in sorted(shapes.items()):
            shape = json.loads(key)
            times = ", ".join(f"{kind} {t['step_s'] * 1e3:.1f} ms/step (first {t['first_s']:.1f} s)"
                              for kind, t in timings.items())
            lines.append(f"{machine.split(' ', 1)[-1]}: {shape['cell']} {shape['num_layers']}x"
                         f"{shape['hidden_size']}, batch {shape['batch']}x{shape['steps']}, {shape['precision']}, "
                         f"{shape['device']}: {times}")
    return lines


def clear_cache(path: Path | None = None) -> int:
    """Delete the cache; returns how many shapes it held."""
    path = path or cache_path()
    count = sum(len(shapes) for shapes in read_cache(path).values())
    path.unlink(missing_ok=True)
    return count
