"""A training run's curves: ``runs/<run>/metrics.csv`` (one row per epoch, the scalars of
``metrics.jsonl`` at full precision, readable by any spreadsheet, pandas or polars) and
``curves.png`` (loss, top-1 and learning rate per epoch).

The CSV is rewritten after every epoch, so a run can be watched while it trains; the PNG is drawn
at the end of the run (matplotlib, a declared dependency, Agg backend: no display needed). The
plot holds no timings, so the same history draws the same bytes. To draw it for an interrupted
run: ``python -m discogs_tools.train.curves runs/<run>``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import write_text_atomic

#: First columns of metrics.csv, in this order; other scalars of the history follow by name.
LEADING = ("epoch", "train_loss", "train_top1", "val_loss", "val_top1", "lr", "pairs_per_s", "pairs",
           "seconds", "val_seconds")


def flat_scalars(entry: dict[str, Any]) -> dict[str, Any]:
    """An epoch's scalars, nested per-task dicts flattened as ``key/task`` (``task_loss/artist``)."""
    flat: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, (int, float)) or v is None:
                    flat[f"{key}/{sub}"] = v
        elif isinstance(value, (int, float)) or value is None:
            flat[key] = value
    return flat


def write_metrics_csv(run_dir: str | os.PathLike[str], history: Sequence[dict[str, Any]]) -> Path:
    """Write ``metrics.csv`` (atomically) from the per-epoch history; floats in full precision."""
    rows = [flat_scalars(h) for h in history]
    seen = {k for row in rows for k in row}
    columns = [k for k in LEADING if k in seen] + sorted(seen - set(LEADING))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else repr(row[k]) if isinstance(row[k], float) else row[k]
                         for k in columns})
    path = Path(run_dir) / "metrics.csv"
    write_text_atomic(path, out.getvalue())
    return path


def plot_curves(run_dir: str | os.PathLike[str], history: Sequence[dict[str, Any]]) -> Path:
    """Draw ``curves.png``: training and validation loss, top-1, and the learning rate per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from ..probe.plot import save_png

    epochs = [h["epoch"] for h in history]

    def series(key: str) -> list[float]:
        return [float("nan") if h.get(key) is None else float(h[key]) for h in history]

    fig, (loss_ax, top1_ax, lr_ax) = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, title in ((loss_ax, "loss", "loss"), (top1_ax, "top1", "top-1 accuracy (in-batch)")):
        ax.plot(epochs, series(f"train_{key}"), marker="o", markersize=3, label="train")
        if any(h.get(f"val_{key}") is not None for h in history):
            ax.plot(epochs, series(f"val_{key}"), marker="o", markersize=3, label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    lr_ax.plot(epochs, series("lr"), marker="o", markersize=3)
    lr_ax.set_title("learning rate")
    lr_ax.set_xlabel("epoch")
    if all(v > 0 for v in series("lr")):
        lr_ax.set_yscale("log")
    lr_ax.grid(alpha=0.3)
    return save_png(fig, Path(run_dir) / "curves.png")


def write_curves(run_dir: str | os.PathLike[str], history: Sequence[dict[str, Any]]) -> dict[str, Path]:
    """``metrics.csv`` and ``curves.png`` of a run; returns their paths."""
    return {"metrics_csv": write_metrics_csv(run_dir, history), "curves": plot_curves(run_dir, history)}


def main(argv: Sequence[str]) -> int:
    """``python -m discogs_tools.train.curves RUN_DIR``: redraw from ``metrics.jsonl``."""
    if len(argv) != 1:
        print("usage: python -m discogs_tools.train.curves runs/<run>", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    for path in write_curves(run_dir, [json.loads(line) for line in lines if line.strip()]).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
