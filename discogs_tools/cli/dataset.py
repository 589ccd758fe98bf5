"""`discogs-tools build-dataset`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import SeedOption, WorkspaceOption, app, handle_errors, print_report, workspace


@app.command("build-dataset")
@handle_errors
def build_dataset_command(
    name: Annotated[str, typer.Option("--name", help="Dataset name: output under workspace/datasets/<name>/.")] = "discogs20",
    top_styles: Annotated[int, typer.Option("--top-styles", help="Keep the N styles with most releases.")] = 400,
    max_styles: Annotated[int, typer.Option("--max-styles", help="Drop master groups with more styles than this.")] = 5,
    min_duration: Annotated[float, typer.Option("--min-duration", help="Drop tracks shorter than this (seconds).")] = 20.0,
    validation: Annotated[float, typer.Option("--validation", help="Validation size: a fraction (<1) or a track count.")] = 0.1,
    test: Annotated[float, typer.Option("--test", help="Test size: a fraction (<1) or a track count.")] = 0.1,
    min_releases: Annotated[int, typer.Option("--min-releases", help="Releases every kept style needs in validation and in test.")] = 50,
    seed: SeedOption = 0,
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Build a dataset (Discogs20 recipe): per-track entities, master-level style labels, artist-filtered splits."""
    from ..dataset.build import run

    report = run(workspace(workspace_dir), name, top_styles=top_styles, max_styles=max_styles,
                 min_duration=min_duration, validation=validation, test=test, min_releases=min_releases, seed=seed)
    print_report(report)
