"""Ordered, bounded parallel map over worker processes.

Results come back in input order, and at most ``window`` tasks are in flight, so a slow
consumer never lets results pile up in memory. With one worker everything runs in-process
(simpler tracebacks, no process start-up). Workers are forked where the platform allows it:
this works from any caller (a script without an ``if __name__ == "__main__"`` guard, a
notebook) and shares read-only memory; the tasks run here only use numpy/scipy/orjson/Arrow
and callers close their DuckDB connections before mapping. Elsewhere ``spawn`` is used.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from ..processes import init_worker, stop_pool

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    """``map(fn, items)`` over ``workers`` processes, in order, with at most ``window`` tasks pending."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    window = window or 2 * workers
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                                   initializer=init_worker, initargs=(os.getpid(),))
    pending: deque[Future] = deque()
    source = iter(items)
    interrupted = True
    try:
        for item in source:
            pending.append(executor.submit(fn, item))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            for item in source:
                pending.append(executor.submit(fn, item))
                break
            yield result
        interrupted = False
    finally:
        stop_pool(executor, interrupted=interrupted)
