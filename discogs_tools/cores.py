"""How many processes ``--workers`` means when it is not given: every core this process may use
(docs/cli-vocabulary.md), for the CLI and declarative pipelines alike."""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores available to this process (its CPU affinity on Linux), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def workers_or_all(workers: int | None) -> int:
    """``workers`` as given, or every available core."""
    return workers if workers is not None else available_cores()
