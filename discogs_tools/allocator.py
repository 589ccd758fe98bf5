"""C allocator tuning for processes that build and free many small objects (lxml trees).

glibc's malloc keeps small freed blocks in per-size "fastbins" and merges them all at once
(``malloc_consolidate``) the next time a large block is asked for. An ``ingest discogs`` worker
parses a 4.5 MB chunk of 1,000 releases into an lxml tree of 172,000 elements, 35,000 attributes
and 84,000 text nodes (some 400,000 small blocks), frees the whole tree, then asks for large
blocks (Parquet writer, Arrow buffers): every chunk paid for a walk over all those parked
blocks (``malloc_consolidate`` was 8% of all CPU in a perf profile of the stage). With fastbins off
(``mallopt(M_MXFAST, 0)``) blocks are merged as they are freed, which is cheaper for this
build-everything-then-free-everything pattern: 10-15% less CPU per chunk of releases
(``python benchmarks/bench_ingest_discogs.py --stages``, with and without
``DISCOGS_TOOLS_MALLOC_DEFAULTS=1``).

This changes only speed, never results. It is a no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_MXFAST = 1  # mallopt parameter: largest request served from fastbins (0 turns them off)

_done = False


def tune_for_tree_parsing() -> bool:
    """Turn glibc fastbins off in this process (once). True when the setting was applied.

    Set ``DISCOGS_TOOLS_MALLOC_DEFAULTS=1`` to keep the C library's defaults (for comparisons).
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("DISCOGS_TOOLS_MALLOC_DEFAULTS", "") not in ("", "0"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = mallopt(M_MXFAST, 0) == 1
    return _done
