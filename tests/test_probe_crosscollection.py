"""Cross-collection evaluation (seed 004 sec. 3.2.3, sec. 3.3.1): train on one collection (80/20
train/validation), test on another whose labels are mapped onto the classes."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools.errors import ConfigError, InputError
from discogs_tools.probe.crosscollection import any_label_scores, map_labels, read_class_map


def test_map_labels_direct_match_first_then_map_then_dropped(tmp_path):
    (tmp_path / "map.csv").write_text("source,target\nprogressive rock,rock\nrock,pop\nbebop,jazz\n")
    mapping = read_class_map(tmp_path / "map.csv")
    mapped = map_labels([["progressive rock", "bebop"], ["rock"], ["polka"]], mapping, ["jazz", "pop", "rock"])
    assert mapped == [["jazz", "rock"], ["rock"], []]   # 'rock' is a class: a direct match wins over the map
    (tmp_path / "bad.csv").write_text("from,to\na,b\n")
    with pytest.raises(InputError, match="source"):
        read_class_map(tmp_path / "bad.csv")


def test_a_prediction_is_correct_if_it_matches_one_of_the_labels():
    classes = ["a", "b", "c"]
    truth = [["a"], ["a", "b"], ["b"], ["c"], ["c"]]
    scores = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    s = any_label_scores(truth, scores, classes)
    assert s["accuracy"] == pytest.approx(3 / 5)
    # per class, over the tracks carrying it: a 2/2, b 1/2, c 1/2
    assert s["per_class"]["a"]["recall"] == 1.0 and s["per_class"]["b"]["recall"] == 0.5
    assert s["balanced_accuracy"] == pytest.approx((1 + 0.5 + 0.5) / 3)


def _collections(tmp_path, n=120):
    rng = np.random.default_rng(0)
    centres = np.array([[4, 0], [0, 4]], dtype=np.float32)
    ids = [f"tr{i:03d}" for i in range(n)] + [f"te{i:03d}" for i in range(n // 2)] + ["te999"]
    y = np.r_[np.arange(n) % 2, np.arange(n // 2) % 2, 0]
    x = centres[y] + rng.normal(scale=0.5, size=(len(ids), 2)).astype(np.float32)
    pq.write_table(pa.table({"track_id": ids, "embedding": pa.array(list(x), pa.list_(pa.float32()))}),
                   tmp_path / "emb.parquet")
    (tmp_path / "train.csv").write_text("track_id,label\n" + "".join(
        f"{t},{'rock' if k else 'jazz'}\n" for t, k in zip(ids[:n], y[:n])))
    other = {1: "progressive rock", 0: "bebop"}
    (tmp_path / "other.csv").write_text("track_id,labels\n" + "".join(
        f'{t},"{other[k]}"\n' for t, k in zip(ids[n:-1], y[n:-1])) + 'te999,"polka"\n')
    (tmp_path / "map.csv").write_text("source,target\nprogressive rock,rock\nbebop,jazz\n")
    return tmp_path


def test_run_cross_collection(tmp_path, ws):
    from discogs_tools.probe import protocols
    from discogs_tools.probe.run import run
    d = _collections(tmp_path)
    config = protocols.get("5-fold").config(epochs=5, batch_size=16)
    report = run(d / "train.csv", workspace=ws, models=[d / "emb.parquet"], protocol="5-fold", config=config,
                 test_collection=d / "other.csv", class_map=d / "map.csv", seeds=2, baseline=False, plot=False)
    assert report.outputs["results"].endswith("train-cross-other.json")
    results = json.loads(open(report.outputs["results"]).read())
    assert results["primary_metric"] == "balanced_accuracy"
    assert results["dataset"]["split_sizes"] == {"train": 96, "validation": 24, "test": 60}
    assert results["dataset"]["test_collection"]["records_without_a_class"] == 1   # polka
    model = results["models"][0]
    assert model["summary"]["balanced_accuracy"]["n"] == 2 and model["summary"]["balanced_accuracy"]["mean"] > 0.95
    with pytest.raises(ConfigError, match="5-fold"):
        run(d / "train.csv", workspace=ws, models=[d / "emb.parquet"], test_collection=d / "other.csv",
            baseline=False, plot=False)


def test_cli_cross_collection(tmp_path, ws):
    from typer.testing import CliRunner

    from discogs_tools.cli import app
    d = _collections(tmp_path)
    result = CliRunner().invoke(app, ["probe", str(d / "train.csv"), "-m", str(d / "emb.parquet"), "--protocol",
                                      "5-fold", "--test-collection", str(d / "other.csv"), "--class-map",
                                      str(d / "map.csv"), "--seeds", "1", "--epochs", "3", "--no-baseline",
                                      "--no-plot", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert (ws.runs / "emb" / "probe" / "train-cross-other.json").exists()
