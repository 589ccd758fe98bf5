"""One progress bar for a whole ``probe`` run: every trained epoch of every probe advances it.

A probe run trains many small models (models x seeds x folds x trials x grid settings), each in
its own function far below :func:`discogs_tools.probe.run.run`. Rather than thread a callback
through all of them, ``run`` opens a bar with :func:`counting` and the training loops call
:func:`tick` once per epoch; outside ``counting`` a tick does nothing. The bar is drawn only on an
interactive terminal (see :mod:`discogs_tools.progress`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..progress import Progress

_BAR: ContextVar[Any] = ContextVar("probe_progress_bar", default=None)


@contextmanager
def counting(description: str, total: int | None = None) -> Iterator[Progress]:
    """Open the run's bar (``total`` epochs if known) for the ticks inside the block."""
    with Progress(description, total=total, unit="epochs") as bar:
        token = _BAR.set(bar)
        try:
            yield bar
        finally:
            _BAR.reset(token)


def tick(epochs: int = 1) -> None:
    """One more trained epoch (a no-op outside :func:`counting`)."""
    bar = _BAR.get()
    if bar is not None:
        bar.records += epochs
        bar.update(advance=epochs, records=bar.records)
