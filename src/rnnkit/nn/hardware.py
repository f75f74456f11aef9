"""What the processor says about itself, for choosing kernels and keying measured timings."""

from __future__ import annotations

from pathlib import Path

# The instruction sets that decide which kernels oneDNN runs, and so what a timing is worth.
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def read_cpuinfo() -> str:
    """Linux's /proc/cpuinfo ("" elsewhere)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpuinfo(field: str, text: str | None = None) -> str:
    """The first value of exactly ``field`` (``model`` is not ``model name``) in /proc/cpuinfo."""
    for line in (read_cpuinfo() if text is None else text).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == field:
            return value.strip()
    return ""


def cpu_identity(text: str | None = None) -> str:
    """The processor as timings must be keyed: virtual machines often report a bare
    ``AMD EPYC`` for Zen 3, 4 and 5 alike, whose kernels and speeds differ, so the family,
    model and stepping and the kernel-deciding flags go with the name."""
    text = read_cpuinfo() if text is None else text
    name = cpuinfo("model name", text)
    if not name:
        return ""
    numbers = ", ".join(f"{field.split()[-1]} {cpuinfo(field, text) or '?'}"
                        for field in ("cpu family", "model", "stepping"))
    flags = set(cpuinfo("flags", text).split())
    return f"{name} ({numbers}; {' '.join(f for f in KERNEL_FLAGS if f in flags) or 'no avx2'})"
