"""`discogs-tools demo` (the whole pipeline on bundled data) and `discogs-tools demo-data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (SeedOption, WorkersOption, WorkspaceOption, app, handle_errors, print_report,
                     workers_or_default, workspace)


@app.command("demo-data")
@handle_errors
def demo_data(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the generated collection, playlists and probe task.")],
    workspace_dir: WorkspaceOption = None,
    other_releases: Annotated[int, typer.Option(help="Releases sampled besides those of multi-release artists.")] = 120,
    tracks_per_release: Annotated[int, typer.Option(help="Recordings taken from each chosen release.")] = 2,
    duration: Annotated[float, typer.Option(help="Seconds of audio per track.")] = 21.0,
    playlists: Annotated[int, typer.Option(help="Number of synthetic playlists.")] = 300,
    workers: WorkersOption = None,
    seed: SeedOption = 0,
) -> None:
    """Generate the demo's synthetic audio collection, playlists and probe task from the ingested
    Discogs sample (needs `ingest discogs` first)."""
    from ..demo.synth import generate

    report = generate(workspace(workspace_dir), out_dir, n_other_releases=other_releases,
                      tracks_per_release=tracks_per_release, duration_s=duration, n_playlists=playlists,
                      seed=seed, workers=workers_or_default(workers))
    print_report(report)


@app.command("demo")
@handle_errors
def demo(
    workspace_dir: WorkspaceOption = None,
    force: Annotated[bool, typer.Option(help="Rerun every stage even if up to date.")] = False,
) -> None:
    """Run the whole pipeline on bundled data (Discogs samples, synthetic playlists and audio):
    ingest, match, build-dataset, make-pairs, word2vec, features, train, probe. No download."""
    from ..demo.run import run_demo

    run_demo(workspace(workspace_dir), force=force, echo=typer.echo)
