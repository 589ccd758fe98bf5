"""`discogs-tools export`: a trained run's backbone weights alone, for use outside the toolkit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import WorkspaceOption, app, handle_errors, print_report, workspace


@app.command("export")
@handle_errors
def export_command(
    run: Annotated[str, typer.Argument(help="Run name (runs/<run>/) or a checkpoint .pt file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .pt file to write.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Which checkpoint of the run: best, last or swa.")] = "best",
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Write a run's backbone weights (state_dict without the training heads) plus the config that
    rebuilds it, loadable with torch.load(FILE, weights_only=True); see docs/python-api.md."""
    from ..report import Report
    from ..train.checkpoint import export_backbone
    from ..train.embed import resolve_checkpoint

    source = resolve_checkpoint(workspace(workspace_dir), run, checkpoint)
    meta = export_backbone(source, output)
    print_report(Report(stage="export", counts={"parameters": meta["parameters"]},
                        outputs={"backbone": str(output), "from": str(source)},
                        details=[{"arch": meta["arch"], "epoch": meta["epoch"]}]))
