"""Progress display for long work: a bar with counts, rate and ETA on a terminal,
nothing at all in pipes and CI (``CI`` set, stderr not a TTY, or ``DISCOGS_TOOLS_QUIET=1``).

    with Progress("releases.xml.gz", total=size_bytes, unit="B") as bar:
        bar.update(completed=bytes_read, records=n)
"""

from __future__ import annotations

import os
import sys
from typing import Any


def progress_enabled() -> bool:
    """True when progress should be drawn: an interactive stderr, outside CI."""
    if os.environ.get("DISCOGS_TOOLS_QUIET", "") not in ("", "0"):
        return False
    if os.environ.get("CI", "") not in ("", "0", "false"):
        return False
    return sys.stderr.isatty()


class Progress:
    """A single progress bar. ``total`` may be bytes of input (for an ETA) or a count.

    ``update(completed=..., advance=..., records=..., step=...)``: ``completed``/``advance`` move
    the bar; ``records`` is shown as a running count with its rate (records/s); ``step`` is shown
    after the description (stages of a few long steps, such as build-dataset).
    """

    def __init__(self, description: str, total: float | None = None, unit: str = "records",
                 enabled: bool | None = None) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.enabled = progress_enabled() if enabled is None else enabled
        self._progress: Any = None
        self._task: Any = None
        self.records = 0

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)
            from rich.console import Console

            amount = [DownloadColumn(), TransferSpeedColumn()] if self.unit == "B" else [MofNCompleteColumn()]
            self._progress = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), *amount,
                TextColumn("{task.fields[records_text]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, records_text="")
        return self

    def update(self, *, completed: float | None = None, advance: float | None = None,
               records: int | None = None, step: str | None = None) -> None:
        """Move the bar; ``step`` names what a stage made of a few long steps is doing now."""
        if records is not None:
            self.records = records
        if not self.enabled or self._progress is None:
            return
        fields: dict[str, Any] = {}
        if step is not None:
            fields["description"] = f"{self.description}: {step}"
        if records is not None:
            elapsed = self._progress.tasks[0].elapsed or 0.0
            rate = records / elapsed if elapsed > 0 else 0.0
            fields["records_text"] = f"{records:,} rec ({rate:,.0f}/s)"
        self._progress.update(self._task, completed=completed, advance=advance, **fields)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
