"""The batch-invariant product's way per weight shape, remembered on disk per machine.

``rows`` finds the way by multiplying its probe draws at every batch size up to 64: 3.4 s for
the 1x512 LSTM's 512 x 2048 bf16 weight on a 2-core Intel Xeon with AMX, which every
``rnnkit sample`` and every server start of a bf16 run would pay again. Kernels are picked
by shape, dtype, processor, thread count and PyTorch build; ``machine_key`` names the
last three, so a way found once holds for every later process on the machine. Kept
beside the backend timings (``RNNKIT_CACHE`` moves both), written atomically, and
keyed by the probe's version too: a way that an older probe chose is found again.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.nn.backends import cache_path, machine_key, read_cache, write_cache

# Bump when the probe or rows.MAX_ROWS changes. 2: bf16 and fp16 are checked on cancelling draws
# first (version 1's random draw missed AMX's batch kernel).
PROBE_VERSION = 2


def ways_path() -> Path:
    return cache_path().with_name("product_ways.json")


def _keys(shape: tuple[int, int], dtype: torch.dtype, device: str) -> tuple[str, str]:
    """(the machine and probe, the weight's shape and dtype)."""
    machine = f"{machine_key(torch.device(device))} | probe {PROBE_VERSION}"
    return machine, f"{shape[0]}x{shape[1]} {str(dtype).removeprefix('torch.')}"


def _weights(cache: dict, machine: str) -> dict:
    """The machine's entry; a damaged one counts as empty (and is overwritten)."""
    entry = cache.get(machine)
    return entry if isinstance(entry, dict) else {}


def remembered_way(shape: tuple[int, int], dtype: torch.dtype, device: str) -> str | None:
    machine, weight = _keys(shape, dtype, device)
    way = _weights(read_cache(ways_path()), machine).get(weight)
    return way if isinstance(way, str) else None


def remember_way(shape: tuple[int, int], dtype: torch.dtype, device: str, way: str) -> None:
    """Added to what other processes remembered (a lost race costs one probe, never a wrong way)."""
    path = ways_path()
    cache = read_cache(path)
    machine, weight = _keys(shape, dtype, device)
    cache[machine] = {**_weights(cache, machine), weight: way}
    write_cache(path, cache)


def describe_ways() -> list[str]:
    """One line per remembered shape: the machine, the weight and its way."""
    cache = read_cache(ways_path())
    return [f"{machine.split(' ', 1)[-1]}: rows of a {weight} product: {way}"
            for machine in sorted(cache) for weight, way in sorted(_weights(cache, machine).items())]


def clear_ways() -> int:
    """Delete what was remembered; returns how many shapes it held."""
    count = len(describe_ways())
    ways_path().unlink(missing_ok=True)
    return count
