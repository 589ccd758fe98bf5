"""`discogs-tools ingest collection PATH`: register the user's audio (folder or manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import WorkspaceOption, handle_errors, ingest_app, print_report, workspace


@ingest_app.command("collection")
@handle_errors
def ingest_collection_command(
    path: Annotated[Path, typer.Argument(help="Folder of audio files (tags read with mutagen), or a manifest "
                                              "CSV/TSV/Parquet with columns artist, title and track_id or path.")],
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Register a collection as tables/collection/tracks (unreadable files go to rejects/collection/)."""
    from ..collection import ingest

    print_report(ingest.run(path, workspace(workspace_dir)))
