"""Stratified 5-fold splits (seed 004 sec. 3.2.2) and `probe --protocol 5-fold` on a tiny task."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from discogs_tools.errors import ConfigError
from discogs_tools.probe.folds import stratified_folds


def _labels(n_per_class):
    keys, labels = [], []
    for c, n in n_per_class.items():
        for j in range(n):
            keys.append(f"{c}-{j:03d}")
            labels.append(c)
    return keys, labels


def test_each_record_tested_once_stratified_20_percent_and_85_15():
    keys, labels = _labels({"a": 100, "b": 60, "c": 40})
    folds = stratified_folds(keys, labels, seed=3)
    assert len(folds) == 5
    tested = Counter(i for f in folds for i, s in enumerate(f) if s == "test")
    assert sorted(tested) == list(range(200)) and set(tested.values()) == {1}
    for f in folds:
        per = {s: Counter(l for l, x in zip(labels, f) if x == s) for s in ("train", "validation", "test")}
        assert per["test"] == {"a": 20, "b": 12, "c": 8}          # 20% of each class
        assert per["validation"] == {"a": 12, "b": 7, "c": 5}     # round(15% of 80, 48, 32)
        assert per["train"] == {"a": 68, "b": 41, "c": 27}


def test_seeded_deterministic_and_independent_of_row_order():
    keys, labels = _labels({"a": 30, "b": 20})
    a = stratified_folds(keys, labels, seed=1)
    assert a == stratified_folds(keys, labels, seed=1)
    assert a != stratified_folds(keys, labels, seed=2)
    perm = np.random.default_rng(0).permutation(len(keys))
    b = stratified_folds([keys[i] for i in perm], [labels[i] for i in perm], seed=1)
    assert all(b[k][j] == a[k][i] for k in range(5) for j, i in enumerate(perm))


def test_class_with_fewer_records_than_folds_is_an_error():
    keys, labels = _labels({"a": 30, "rare": 3})
    with pytest.raises(ConfigError, match="rare"):
        stratified_folds(keys, labels)


# --------------------------------------------------------------------------- probe --protocol 5-fold

def _blobs(tmp_path, n=150, split_column=False):
    """Three separable classes on dimension 0..2 (model 'good') and pure noise (model 'noise')."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(5)
    centres = np.array([[4, 0, 0], [0, 4, 0], [0, 0, 4]], dtype=np.float32)
    y = np.arange(n) % 3
    x = centres[y] + rng.normal(scale=0.5, size=(n, 3)).astype(np.float32)
    ids = [f"b{i:03d}" for i in range(n)]
    for name, values in (("good", x), ("noise", rng.normal(size=(n, 3)).astype(np.float32))):
        pq.write_table(pa.table({"track_id": ids, "embedding": pa.array(list(values), pa.list_(pa.float32()))}),
                       tmp_path / f"{name}.parquet")
    header = "track_id,label" + (",split" if split_column else "")
    rows = [f"{t},c{k}" + (",test" if split_column and i % 2 else ",train" if split_column else "")
            for i, (t, k) in enumerate(zip(ids, y))]
    (tmp_path / "blobs.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return tmp_path


def test_run_5_fold_balanced_accuracy_over_folds(tmp_path, ws):
    from discogs_tools.probe import protocols
    from discogs_tools.probe.run import run
    d = _blobs(tmp_path)
    config = protocols.get("5-fold").config(epochs=8, batch_size=32, learning_rate=1e-2)
    report = run(d / "blobs.csv", workspace=ws, models=[d / "good.parquet"], protocol="5-fold", config=config,
                 seeds=1, baseline_embeddings=[d / "noise.parquet"], plot=False)
    out = report.outputs["results"]
    assert out.endswith("blobs-5-fold.json")
    results = json.loads(open(out).read())
    assert results["primary_metric"] == "balanced_accuracy"
    assert results["params"]["protocol"]["folds"] == 5
    assert results["dataset"]["split_sizes"] == {"train": 102, "validation": 18, "test": 30}  # per fold
    good, noise = results["models"]
    assert [f["fold"] for f in good["folds"]] == [0, 1, 2, 3, 4]
    assert [f["split_sizes"]["test"] for f in good["folds"]] == [30] * 5
    ba = good["summary"]["balanced_accuracy"]
    assert ba["n"] == 5 and ba["mean"] > 0.95
    per_fold = [f["summary"]["balanced_accuracy"]["mean"] for f in good["folds"]]
    assert ba["mean"] == pytest.approx(np.mean(per_fold)) and ba["std"] == pytest.approx(np.std(per_fold, ddof=1))
    assert noise["summary"]["balanced_accuracy"]["mean"] < 0.6
    # seeded and deterministic: a rerun rewrites the same bytes
    first = open(out, "rb").read()
    run(d / "blobs.csv", workspace=ws, models=[d / "good.parquet"], protocol="5-fold", config=config, seeds=1,
        baseline_embeddings=[d / "noise.parquet"], plot=False)
    assert open(out, "rb").read() == first


def test_5_fold_ignores_split_column_with_a_note(tmp_path, ws):
    from discogs_tools.probe import protocols
    from discogs_tools.probe.run import run
    d = _blobs(tmp_path, split_column=True)
    config = protocols.get("5-fold").config(epochs=2)
    report = run(d / "blobs.csv", workspace=ws, models=[d / "good.parquet"], protocol="5-fold", config=config,
                 seeds=1, baseline=False, plot=False)
    results = json.loads(open(report.outputs["results"]).read())
    assert "5-fold" in results["dataset"]["split"] and "ignored" in results["dataset"]["split"]


def test_5_fold_refuses_multilabel(tmp_path, ws):
    from discogs_tools.probe.run import run
    d = _blobs(tmp_path)
    (d / "tags.csv").write_text("track_id,labels\n" + "".join(f'b{i:03d},"x,y"\n' for i in range(150)))
    with pytest.raises(ConfigError, match="multi-class"):
        run(d / "tags.csv", workspace=ws, models=[d / "good.parquet"], protocol="5-fold", seeds=1, baseline=False,
            plot=False)


# --------------------------------------------------------------------------- few-shot and corrected ranks

def test_few_shot_keeps_n_train_records_per_class_and_every_test_record():
    from discogs_tools.probe.folds import few_shot
    keys, labels = _labels({"a": 100, "b": 60, "c": 40})
    splits = stratified_folds(keys, labels, seed=0)[2]
    picked = few_shot(keys, labels, splits, 5, seed=7)
    assert Counter(l for l, s in zip(labels, picked) if s == "train") == {"a": 5, "b": 5, "c": 5}
    assert all(p == s for p, s in zip(picked, splits) if s != "train")      # validation and test unchanged
    assert all(s == "train" for p, s in zip(picked, splits) if p == "train")
    assert picked == few_shot(keys, labels, splits, 5, seed=7) != few_shot(keys, labels, splits, 5, seed=8)
    everything = few_shot(keys, labels, splits, 1000, seed=7)                # fewer than n: all of the class
    assert everything == splits


def test_corrected_rank_is_the_rank_of_the_best_model_not_significantly_different():
    from scipy.stats import ttest_ind_from_stats

    from discogs_tools.probe.folds import corrected_ranks
    stats = {"best": (0.90, 0.01, 5), "close": (0.89, 0.02, 5), "far": (0.70, 0.01, 5), "far2": (0.69, 0.01, 5)}
    ranks = corrected_ranks(stats)
    assert ranks == {"best": (1, 1), "close": (2, 1), "far": (3, 3), "far2": (4, 3)}
    assert ttest_ind_from_stats(0.90, 0.01, 5, 0.89, 0.02, 5).pvalue > 0.05
    assert ttest_ind_from_stats(0.89, 0.02, 5, 0.70, 0.01, 5).pvalue < 0.05


def test_run_5_fold_few_shot(tmp_path, ws):
    from discogs_tools.probe import protocols
    from discogs_tools.probe.run import run
    d = _blobs(tmp_path)
    config = protocols.get("5-fold").config(epochs=3, batch_size=8)
    report = run(d / "blobs.csv", workspace=ws, models=[d / "good.parquet"], protocol="5-fold", config=config,
                 seeds=1, shots=2, few_shot_trials=2, baseline=False, plot=False)
    assert report.outputs["results"].endswith("blobs-5-fold-2shot.json")
    results = json.loads(open(report.outputs["results"]).read())
    assert results["params"]["protocol"]["few_shot"] == 2
    assert results["dataset"]["split_sizes"] == {"train": 6, "validation": 18, "test": 30}
    model = results["models"][0]
    assert [len(f["per_seed"]) for f in model["folds"]] == [2] * 5             # 2 trials x 1 seed per fold
    assert [p["trial"] for p in model["folds"][0]["per_seed"]] == [0, 1]
    assert model["summary"]["balanced_accuracy"]["n"] == 5
    with pytest.raises(ConfigError, match="5-fold"):
        run(d / "blobs.csv", workspace=ws, models=[d / "good.parquet"], shots=2, baseline=False, plot=False)
