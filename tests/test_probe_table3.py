"""The Table-3 layout of probe results (seed 000 Table 3: models as rows, benchmarks as columns,
ROC-AUC / PR-AUC per multi-label task, accuracy for FMA, in percent), built from results that
``probe`` wrote on tiny generated tasks; and the dataset fixes for benchmark manifests: untagged
MagnaTagATune clips (empty labels) and dim-sim triplets evaluated frozen (all split=test)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.probe import table3
from discogs_tools.probe.datasets import (
    BadRecords,
    DatasetOptions,
    assign_splits,
    evaluate_frozen_triplets,
    load_dataset,
)
from discogs_tools.probe.embeddings import read_embeddings
from discogs_tools.probe.mlp import ProbeConfig
from discogs_tools.probe.run import run

FAST = ProbeConfig(hidden=16, epochs=6, batch_size=32, learning_rate=1e-2)
N = 160


def write_embeddings(path, ids, values):
    pq.write_table(pa.table({"track_id": pa.array(ids, pa.string()),
                             "embedding": pa.array(list(values), pa.list_(pa.float32()))}), path)
    return path


@pytest.fixture
def probed(tmp_path, ws):
    """Two models ('good': x0 carries the labels, 'noise') probed on a multi-label task named like the
    prepared MTG-Jamendo genre manifest and a multi-class task named like FMA-small."""
    rng = np.random.default_rng(0)
    ids = [f"t{i:03d}" for i in range(N)]
    x = rng.normal(size=(N, 4)).astype(np.float32)
    (tmp_path / "mtg-jamendo-genre.csv").write_text("track_id,labels\n" + "".join(
        f'{t},"{"rock" if v[0] > 0 else "jazz"}{",live" if rng.random() < 0.3 else ""}"\n' for t, v in zip(ids, x)))
    (tmp_path / "fma-small.csv").write_text("track_id,label\n" + "".join(
        f"{t},{'Rock' if v[0] > 0 else 'Folk'}\n" for t, v in zip(ids, x)))
    write_embeddings(tmp_path / "good.parquet", ids, x)
    write_embeddings(tmp_path / "noise.parquet", ids, rng.normal(size=(N, 4)).astype(np.float32))
    files = []
    for model in ("good", "noise"):
        for task in ("fma-small", "mtg-jamendo-genre"):
            report = run(tmp_path / f"{task}.csv", workspace=ws, models=[tmp_path / f"{model}.parquet"],
                         config=FAST, seeds=2, baseline=False, plot=False)
            files.append(report.outputs["results"])
    return tmp_path, files


def test_table3_layout_from_probe_results(probed, ws):
    tmp_path, files = probed
    table = table3.build(files, ws)
    # Benchmarks in the column order of seed 000 Table 3 (Genre before FMA), whatever the input order.
    assert table.columns == [("Genre", "roc_auc"), ("Genre", "pr_auc"), ("FMA", "accuracy")]
    assert list(table.rows) == ["good", "noise"]
    genre = json.loads(Path(next(f for f in files if "good" in f and "genre" in f)).read_text())
    assert table.rows["good"][("Genre", "roc_auc")]["mean"] == genre["models"][0]["summary"]["roc_auc"]["mean"]
    assert table.percent  # Table 3 reports percent with one decimal
    assert table.rows["good"][("FMA", "accuracy")]["mean"] > table.rows["noise"][("FMA", "accuracy")]["mean"]

    out = table3.write(table, tmp_path / "out" / "table3")
    md = (tmp_path / "out" / "table3.md").read_text()
    assert md.splitlines()[0] == "| model | Genre ROC-AUC | Genre PR-AUC | FMA acc. |"
    good_acc = table.rows["good"][("FMA", "accuracy")]
    assert f"**{good_acc['mean'] * 100:.1f} ± {good_acc['std'] * 100:.1f}**" in md
    rows = list(csv.reader(Path(out["csv"]).read_text().splitlines()))
    assert rows[0][:3] == ["model", "Genre:roc_auc", "Genre:roc_auc:std"] and [r[0] for r in rows[1:]] == ["good", "noise"]
    png = (tmp_path / "out" / "table3.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    table3.write(table3.build(files, ws), tmp_path / "out" / "again")
    assert (tmp_path / "out" / "again.png").read_bytes() == png  # no timestamp: same results, same bytes
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_benchmark_of_task_names():
    assert table3.benchmark_of("mtg-jamendo-top50") == ("mtg-jamendo-top50", "Top50")
    assert table3.benchmark_of("mtg-jamendo-moodtheme-ismir2022") == ("mtg-jamendo-moodtheme", "Mood (ismir2022)")
    assert table3.benchmark_of("msd-cals") == ("msd-cals", "MSD-CALS")
    # the two MTAT splits are not comparable: separate columns, not "MTAT (clean)" as a protocol of mtat
    assert table3.benchmark_of("mtat-clean-ismir2022") == ("mtat-clean", "MTAT (clean) (ismir2022)")
    assert table3.benchmark_of("my-task") == (None, "my-task")


def test_cli_probe_compare_table3(probed, ws):
    tmp_path, files = probed
    result = CliRunner().invoke(app, ["probe-compare", *files, "--table3", str(tmp_path / "t3"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "Genre" in result.output
    assert {p.name for p in tmp_path.glob("t3.*")} == {"t3.md", "t3.csv", "t3.png"}


def test_empty_labels_are_untagged_clips_with_allow_empty_labels(tmp_path):
    # As `benchmark prepare mtat` writes it: a clip without any top-50 tag has an empty field (read as null).
    (tmp_path / "mtat.csv").write_text("track_id,labels,split\nmtat-1,guitar,train\nmtat-2,,train\nmtat-3,\"\",test\n")
    data = load_dataset(tmp_path / "mtat.csv", DatasetOptions(allow_empty_labels=True), BadRecords(tmp_path / "mtat.csv"))
    assert data.columns["track_id"] == ["mtat-1", "mtat-2", "mtat-3"]
    assert data.columns["labels"] == [["guitar"], [], []]
    (tmp_path / "mtat.jsonl").write_text('{"track_id": "a", "labels": ["x"]}\n{"track_id": "b", "labels": null}\n')
    data = load_dataset(tmp_path / "mtat.jsonl", DatasetOptions(allow_empty_labels=True), BadRecords(tmp_path / "mtat.jsonl"))
    assert data.columns["labels"] == [["x"], []]
    with pytest.raises(Exception, match="labels missing"):  # without the option a missing field stays bad
        load_dataset(tmp_path / "mtat.csv", DatasetOptions(), BadRecords(tmp_path / "mtat.csv"))


def test_all_test_triplets_are_evaluated_frozen(tmp_path):
    """dim-sim as prepared: every triplet split=test (seed 004 sec. 5.3.6: similarity of the frozen
    embeddings, no training). Positives share the sign of x0 with the anchor."""
    rng = np.random.default_rng(3)
    ids = [f"d{i}" for i in range(40)]
    x0 = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    emb = np.stack([x0, 0.1 * rng.normal(size=40)], axis=1).astype(np.float32)
    write_embeddings(tmp_path / "e.parquet", ids, emb)
    rows = [(ids[a], ids[(a + 2) % 40], ids[(a + 1) % 40]) for a in range(40)]
    (tmp_path / "dim-sim.csv").write_text("anchor,positive,negative,split\n" + "".join(",".join(r) + ",test\n" for r in rows))
    data = load_dataset(tmp_path / "dim-sim.csv", DatasetOptions(), BadRecords(tmp_path / "dim-sim.csv"))
    data = assign_splits(data, DatasetOptions(), seed=0)  # used to fail: "split(s) train, validation hold no usable record"
    assert data.split_sizes() == {"train": 0, "validation": 0, "test": 40}
    assert data.notes["frozen_only"] is True
    per_seed, extra = evaluate_frozen_triplets(data, read_embeddings(tmp_path / "e.parquet"), [0, 1])
    assert [p["seed"] for p in per_seed] == [0, 1]
    assert per_seed[0]["frozen_triplet_accuracy"] == per_seed[0]["triplet_accuracy"] == 1.0
    assert per_seed[0]["distance_gap"] > 1.5 and extra["projection"] is None


def test_probe_command_scores_all_test_triplets_frozen(tmp_path, ws):
    """End to end through `probe`: an all-test triplet manifest is scored without training."""
    ids = [f"d{i}" for i in range(40)]
    x0 = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    emb = np.stack([x0, 0.1 * np.random.default_rng(3).normal(size=40)], axis=1).astype(np.float32)
    write_embeddings(tmp_path / "e.parquet", ids, emb)
    rows = [(ids[a], ids[(a + 2) % 40], ids[(a + 1) % 40]) for a in range(40)]
    (tmp_path / "dim-sim.csv").write_text("anchor,positive,negative,split\n" + "".join(",".join(r) + ",test\n" for r in rows))
    report = run(tmp_path / "dim-sim.csv", workspace=ws, models=[str(tmp_path / "e.parquet")], name="m", seeds=1,
                 baseline=False, plot=False)
    results = json.loads(Path(report.outputs["results"]).read_text())
    assert results["models"][0]["summary"]["triplet_accuracy"]["mean"] == 1.0
