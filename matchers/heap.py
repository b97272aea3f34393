"""The C heap of a scanning process: big buffers kept for reuse, not handed back.

A scan allocates and frees buffers of megabytes per range, over and over: the bytes
read, the decoded text, its normalised copy, numpy arrays of offsets. By default glibc
serves an allocation above its mmap threshold (128 KiB at first, raised as big blocks
are freed, up to 32 MiB) with a fresh mmap, and returns free memory at the heap's top
past its trim threshold. Either way the next range finds no pages mapped and faults
each 4 KiB one in again, zeroed by the kernel.

`keep_big_buffers` sets both thresholds once per process (`mallopt`): blocks below
`MMAP_THRESHOLD` come from the heap, and up to `TRIM_THRESHOLD` of free memory at its
top is kept for the next range. On the 20 MB leak corpus, HETU only, one job, a scan's
page faults fell from 5,880 to 511 and its time from 0.103 to 0.093 s (1.10x); a scan
of all types was as fast as before, with 44 MB more peak RSS (170 -> 214 MB)
(`benchmarks/scan_heap.py`). That memory is the price: a process keeps up to
`TRIM_THRESHOLD` free after a big input, plus what fragmentation holds. Forked scan
workers inherit the setting.

Only glibc has these knobs. Elsewhere (musl, macOS), or when the operator tunes malloc
through the environment (GLIBC_TUNABLES' glibc.malloc.*, MALLOC_*_), nothing is changed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Above a `TASK_BYTES` range decoded to 4-byte characters (scanfiles): whatever a range
# allocates comes from the heap.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20

_state: list[bool] = []  # [whether the thresholds were set], once tried


def keep_big_buffers() -> bool:
    """Set the heap's thresholds for scanning, once per process (module doc). Returns
    whether they are set."""
    if not _state:
        _state.append(_set_thresholds())
    return _state[0]


def operator_tuned(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment already tunes glibc's malloc: it then has the last word."""
    return ("glibc.malloc." in environ.get("GLIBC_TUNABLES", "")
            or any(name.startswith("MALLOC_") and name.endswith("_") for name in environ))


def _set_thresholds() -> bool:
    if operator_tuned():
        return False
    import ctypes  # here: most vahti commands never scan

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False  # not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Either one set ends glibc's own raising of both as big blocks are freed: both are set.
    done = (mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    if not done:
        log.debug("mallopt refused the scan's heap thresholds")
    return done
