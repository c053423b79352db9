"""glibc malloc settings for training on CPU.

By default glibc maps and unmaps every large tensor buffer each step (mmap threshold), which made a training step
1.8x slower on our 2-core machines. Turning mmap off for the heap and raising the trim threshold keeps freed
buffers for reuse. Equivalent to MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large> in the environment, but
applied at run time, so it also holds inside Dagster's step processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30


def tune_glibc_malloc() -> bool:
    """Returns True when the settings were applied (glibc present)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
