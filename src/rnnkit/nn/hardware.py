"""What the processor says about itself, for choosing kernels and keying measured timings."""

from __future__ import annotations

from pathlib import Path


def cpuinfo(field: str) -> str:
    """The first value of ``field`` in Linux's /proc/cpuinfo ("" elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(field)), "")
