"""``discogs-tools ingest discogs PATH...``: Discogs XML dumps -> tables/discogs/*."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import WorkspaceOption, handle_errors, ingest_app, print_report, workers_or_default, workspace


@ingest_app.command("discogs")
@handle_errors
def ingest_discogs(
    paths: Annotated[list[Path], typer.Argument(help="Dump files (.xml or .xml.gz) or folders holding them. "
                                                     "The entity is read from each file's root element.")],
    ws_path: WorkspaceOption = None,
    strict: Annotated[bool, typer.Option("--strict/--no-strict", help="Stop at the first malformed record "
                                                          "instead of rejecting it.")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", show_default=False,
                                                   help="Parser processes (0: parse in the main process; "
                                                        "default: every core available).")] = None,
    allow_truncated: Annotated[bool, typer.Option("--allow-truncated/--no-allow-truncated", help="Accept a dump that ends early "
                                                  "(e.g. cut with head): its last, partial record is "
                                                  "rejected instead of failing the run.")] = False,
    chunk_mb: Annotated[Optional[float], typer.Option("--chunk-mb", help="Size of the record chunks handed to "
                                                                        "workers, one Parquet part file each "
                                                                        "(memory ~ workers x chunk; "
                                                                        "default 16)", show_default=False)] = None,
) -> None:
    """Ingest Discogs XML dumps (artists, labels, masters, releases) into Parquet tables."""
    from ..discogs.ingest import run, summary_lines

    sizes = {} if chunk_mb is None else {"chunk_bytes": int(chunk_mb * (1 << 20))}
    report = run(paths, workspace(ws_path), strict=strict, workers=workers_or_default(workers), allow_truncated=allow_truncated, **sizes)
    for line in summary_lines(report):
        typer.echo(line)
    print_report(report)
