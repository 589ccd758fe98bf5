"""``discogs-tools features``: log-mel spectrograms of the collection (see discogs_tools.features.extract)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import WorkersOption, WorkspaceOption, app, handle_errors, print_report, workers_or_default, workspace


@app.command("features")
@handle_errors
def features_command(
    name: Annotated[str, typer.Option("--name", help="Feature set name: features/<name>/.")] = "default",
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only the tracks of datasets/<name>/tracks.")] = None,
    crop_s: Annotated[Optional[float], typer.Option("--crop-s", help="Keep only the centre N seconds of each track (e.g. 30).")] = None,
    workers: WorkersOption = None,
    tracks_per_shard: Annotated[int, typer.Option("--tracks-per-shard", help="Tracks per shard file (unit of work and of resume).")] = 64,
    force: Annotated[bool, typer.Option("--force/--no-force", help="Recompute everything instead of resuming.")] = False,
    mel: Annotated[str, typer.Option("--mel", help="Mel front end: numpy (Essentia-exact), torch (GPU-capable, "
                                                   "within 1e-5 of numpy), or auto: torch on a GPU if there is one, "
                                                   "else numpy.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="Device of the torch front end: auto (this rank's GPU "
                                                         "if any, else cpu), cpu, cuda, cuda:N.")] = "auto",
    collection_root: Annotated[Optional[Path], typer.Option(
        "--collection-root", help="Folder the collection's audio is in now, when it moved after ingest collection "
                                  "(default: the folder ingest read, moved with the workspace when inside it; "
                                  "or DISCOGS_TOOLS_COLLECTION_ROOT).")] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Compute 96-band log-mel spectrograms (Essentia MusiCNN front end) as float16 shards + index; resumable.

    Under torchrun (several processes or machines sharing the workspace) each rank computes its own
    share of the tracks and rank 0 merges the counts and rejects."""
    import os

    from ..features.extract import run

    report = run(workspace(ws).ensure(), name, dataset=dataset, crop_s=crop_s, workers=workers_or_default(workers),
                 tracks_per_shard=tracks_per_shard, force=force, mel=mel, device=device,
                 collection_root=collection_root)
    if os.environ.get("RANK", "0") == "0":  # under torchrun rank 0 prints the merged report
        print_report(report)
