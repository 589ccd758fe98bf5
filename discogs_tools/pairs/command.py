"""The ``make-pairs`` command as a plain function of its options, and the one report of a run of
several epochs.

Parameters are named after the long options and default as the command line does, so the CLI
forwards what it parsed and a declarative pipeline calls the same function with a stage's options
(see discogs_tools.pipeline.options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..report import Report
from ..workspace import Workspace


def make_pairs(
    ws: Workspace, *,
    association: str,
    split: str = "train",
    epoch: int = 0,
    epochs: int = 1,
    seed: int = 0,
    dataset: str = "discogs20",
    top: int = 10,
    word2vec: Optional[Path] = None,
    table_batch: int = 384,
) -> Report:
    """Draw ``epochs`` epochs of pairs from ``epoch`` on (``discogs-tools make-pairs``); one report
    (the epoch's own, or :func:`epochs_summary`)."""
    from .make import make_pairs_epochs
    from .registry import get

    get(association)  # an unknown association: one line naming the known ones
    reports = make_pairs_epochs(ws, dataset, association, split, epoch, epochs, seed, word2vec=word2vec, top=top,
                                table_batch=table_batch)
    return reports[0] if len(reports) == 1 else epochs_summary(reports)


def epochs_summary(reports: list[Report]) -> Report:
    """One report for a run of several epochs (each epoch's own is in the manifest): the first
    epoch's statistics, then the pairs per epoch over all of them."""
    first, pairs = reports[0], [r.counts.get("pairs", 0) for r in reports]
    epochs = [Path(r.outputs["pairs"]).stem.split("-")[-1].lstrip("0") or "0" for r in reports]
    summary = Report(stage=f"{first.stage}, epochs {epochs[0]}..{epochs[-1]}",
                     counts={**{f"epoch {epochs[0]} {k}": v for k, v in first.counts.items()},
                             "epochs": len(reports), "pairs_all_epochs": sum(pairs),
                             "pairs_per_epoch_min": min(pairs), "pairs_per_epoch_max": max(pairs)},
                     figures={"seconds": sum(float(r.figures.get("seconds", 0.0)) for r in reports)},
                     outputs={"pairs": str(Path(first.outputs["pairs"]).parent)})
    summary.warnings = [w for r in reports for w in r.warnings]
    summary.warnings.append("per-epoch statistics (Table 1): manifest.json, make-pairs entries")
    return summary
