"""Issue 15: progress on build-dataset (one bar over its steps) and, for every training run, the
per-epoch scalars as `metrics.csv` plus a `curves.png` of loss, top-1 and learning rate."""

from __future__ import annotations

import csv
import json

import pytest
from test_train_data import GroupPairs, make_feature_set

from discogs_tools.dataset import build as dataset_build
from discogs_tools.dataset.synthetic import write_synthetic_workspace
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.loop import run as train_run
from discogs_tools.workspace import Workspace


class RecordingBar:
    """Stands in for discogs_tools.progress.Progress and keeps what the stage reported."""
    made: list["RecordingBar"] = []

    def __init__(self, description, total=None, unit="records", enabled=None):
        self.description, self.total, self.unit = description, total, unit
        self.steps: list[str] = []
        self.advanced = 0.0
        RecordingBar.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def update(self, *, completed=None, advance=None, records=None, step=None):
        self.advanced = completed if completed is not None else self.advanced + (advance or 0)
        if step:
            self.steps.append(step)


def test_build_dataset_advances_one_bar_through_its_steps(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    write_synthetic_workspace(root, 300, n_artists=80, n_labels=30, seed=2)
    RecordingBar.made = []
    monkeypatch.setattr(dataset_build, "Progress", RecordingBar)
    dataset_build.run(Workspace.of(root), "d")
    [bar] = RecordingBar.made
    assert bar.description == "build-dataset d" and bar.unit == "steps"
    assert bar.total == len(dataset_build.STEPS) and bar.advanced == bar.total
    assert bar.steps == list(dataset_build.STEPS)


@pytest.mark.usefixtures("one_torch_thread")
def test_training_writes_metrics_csv_and_curves_png(ws):
    ids = make_feature_set(ws.features / "syn", n_groups=4, per_group=4, frames=(40, 60))
    cfg = TrainConfig(run="r", features="syn", objective="cola", associations=("artist",), backbone="small_cnn",
                      cnn_width=8, epochs=3, batch_size=8, crop_frames=16, seed=3)
    report = train_run(ws, cfg, source=GroupPairs(ids))
    run_dir = ws.runs / "r"
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [h["epoch"] for h in history] == [0, 1, 2]
    for row, h in zip(rows, history):
        for key in ("train_loss", "train_top1", "val_loss", "val_top1", "lr", "seconds"):
            assert float(row[key]) == h[key]          # full precision, as metrics.jsonl
    png = run_dir / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.outputs["curves"] == str(png) and report.outputs["metrics_csv"] == str(run_dir / "metrics.csv")
    # the plot shows loss, top-1 and lr only (no timings), so the same history draws the same bytes
    from discogs_tools.train.curves import write_curves

    first = png.read_bytes()
    write_curves(run_dir, [{**h, "seconds": h["seconds"] + 1.0} for h in history])
    assert png.read_bytes() == first
