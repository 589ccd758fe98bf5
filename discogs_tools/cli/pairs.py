"""`discogs-tools make-pairs` and `discogs-tools validate-pairs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import SeedOption, WorkspaceOption, app, handle_errors, print_report, workspace

ASSOCIATION_HELP = ("track, release, artist, label, artist-co, playlist-co, playlist-tco, playlist-w2v or playlist-ico")
DatasetOption = Annotated[str, typer.Option("--dataset", help="Dataset name (workspace/datasets/<name>/).")]
SplitOption = Annotated[str, typer.Option("--split", help="train, validation or test.")]
Word2VecOption = Annotated[Optional[Path], typer.Option(
    "--word2vec", help="Word2Vec vectors.parquet (default: datasets/<name>/word2vec/vectors.parquet).")]


@app.command("make-pairs")
@handle_errors
def make_pairs_command(
    association: Annotated[str, typer.Option("--association", "-a", help=ASSOCIATION_HELP)],
    split: SplitOption = "train",
    epoch: Annotated[int, typer.Option("--epoch", help=(
        "First epoch to draw. Above 0, the stored epochs of an earlier run with the same dataset version, "
        "seed and settings are kept (draw epochs in batches); 0 replaces every stored epoch."))] = 0,
    epochs: Annotated[int, typer.Option("--epochs", help="Number of consecutive epochs to draw.")] = 1,
    seed: SeedOption = 0,
    dataset: DatasetOption = "discogs20",
    top: Annotated[int, typer.Option("--top", help="playlist-tco: neighbours to draw from.")] = 10,
    word2vec: Word2VecOption = None,
    table_batch: Annotated[int, typer.Option(
        "--table-batch", help="Batch size of the Table 5.1 figure 'pairs per epoch in whole batches' "
                              "(ICASSP 2023: 384, seed 004 sec. 5.3.3).")] = 384,
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Draw pairs of one association for one split, one file per epoch, and print Table-1 statistics
    (and, for track, artist-co and the playlist associations, Table 5.1's pairs per epoch)."""
    # One run replaces the split's pairs as a whole (keeping, from --epoch N > 0, the earlier epochs of
    # the same dataset version and settings) and records the dataset version they come from (see
    # discogs_tools.pairs.make); readers refuse them once the dataset is rebuilt.
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    from ..pairs.command import make_pairs

    print_report(make_pairs(workspace(options.pop("workspace_dir")), **options))


@app.command("validate-pairs")
@handle_errors
def validate_pairs_command(
    association: Annotated[str, typer.Option("--association", "-a", help=ASSOCIATION_HELP)],
    split: SplitOption = "train",
    epoch: Annotated[Optional[int], typer.Option("--epoch", help="Only this epoch (default: every epoch written).")] = None,
    dataset: DatasetOption = "discogs20",
    word2vec: Word2VecOption = None,
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Re-check every pair against its association's rule; exit 1 when any pair is invalid."""
    from ..pairs.validate import validate_pairs

    report = validate_pairs(workspace(workspace_dir), dataset, association, split, epoch, word2vec=word2vec)
    print_report(report)
    if report.counts["violations"]:
        raise typer.Exit(code=1)
