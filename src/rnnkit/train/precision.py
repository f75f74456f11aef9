"""Mixed precision: bf16 matrix multiplies with fp32 weights, loss and softmax.

bf16 keeps fp32's exponent range, so unlike fp16 it needs no loss scaling; the
optimizer still updates fp32 master weights. On CPUs with AVX-512 bf16 or AMX,
and on GPUs from Ampere on, its matrix multiplies run several times faster.
"""

from __future__ import annotations

import contextlib
import functools
import sys

import torch

from rnnkit.nn.fused import bf16_kernel_works
from rnnkit.nn.hardware import cpuinfo

PRECISIONS = ("fp32", "bf16", "auto")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU reports AVX-512 bf16 or AMX tiles."""
    flags = cpuinfo("flags").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_runs_bf16() -> bool:
    """The flags say bf16 is fast, and a tiny bf16 LSTM step actually runs (cached per process):
    flags are only a hint; what decides is whether this oneDNN build makes the bf16 kernel."""
    return cpu_has_fast_bf16() and bf16_kernel_works("lstm")


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the hardware runs it fast, else 'fp32'."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    if name == "bf16" and device.type == "cpu" and not bf16_kernel_works("lstm"):
        _note_fused_fp32()
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_runs_bf16() else "fp32"


@functools.cache
def _note_fused_fp32() -> None:
    print("precision bf16: this CPU's oneDNN has no bf16 LSTM kernel, so the fused LSTM layers run in fp32 "
          "and the rest in bf16 (--backend compiled runs them in bf16; --precision fp32 runs all in fp32)",
          file=sys.stderr)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context that runs a forward pass in ``precision`` (a resolved one)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
