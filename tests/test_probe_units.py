"""Probe building blocks: metrics with known answers, manifest reading and validation, splits,
embedding files and stacks. Synthetic inputs are small, hand-written or seeded."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from discogs_tools.errors import ConfigError, InputError, MissingInputError, RejectsWriter
from discogs_tools.probe.datasets import (MULTICLASS, MULTILABEL, TRIPLETS, BadRecords, DatasetOptions,
                                          assign_splits, fix_vocabulary, load_dataset)
from discogs_tools.probe.embeddings import load_stack, read_embeddings, stack
from discogs_tools.probe.metrics import (cosine_distance, macro_roc_auc, mean_std, multiclass_scores,
                                         multilabel_scores, triplet_scores)


def write_embeddings(path, ids, values):
    pq.write_table(pa.table({"track_id": pa.array(ids, pa.string()),
                             "embedding": pa.array([list(map(float, v)) for v in values], pa.list_(pa.float32()))}),
                   path)
    return path


# --------------------------------------------------------------------------- metrics


def test_multilabel_scores_known_answers():
    rng = np.random.default_rng(0)
    n = 2000
    signal = rng.normal(size=n)
    y = np.stack([signal > 0, rng.random(n) < 0.3, np.zeros(n, bool)], axis=1).astype(np.float32)
    scores = np.stack([signal, rng.normal(size=n), rng.normal(size=n)], axis=1)
    out = multilabel_scores(y, scores, ["separable", "random", "absent"])
    assert out["per_class"]["separable"]["roc_auc"] == pytest.approx(1.0)
    assert out["per_class"]["separable"]["pr_auc"] == pytest.approx(1.0)
    assert abs(out["per_class"]["random"]["roc_auc"] - 0.5) < 0.05
    assert abs(out["per_class"]["random"]["pr_auc"] - 0.3) < 0.05   # AP of random scores = prevalence
    # A class with no positive in the test split is excluded from the macro mean, and named.
    assert out["excluded_classes"] == {"absent": "no positive in the test split"}
    assert out["roc_auc"] == pytest.approx(np.mean([out["per_class"][c]["roc_auc"] for c in ("separable", "random")]))


def test_macro_roc_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 4)) < [0.1, 0.5, 0.9, 0.0]).astype(np.float32)
    s = np.round(rng.normal(size=(300, 4)) + y, 1)   # rounding creates ties
    expected = np.mean([roc_auc_score(y[:, j], s[:, j]) for j in range(3)])   # class 3 has no positive
    assert macro_roc_auc(y, s) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(macro_roc_auc(np.zeros((5, 2)), rng.normal(size=(5, 2))))


def test_multiclass_scores():
    y = np.array([0, 0, 1, 1, 2])
    logits = np.array([[2, 0, 0], [0, 1, 0], [0, 3, 0], [0, 2, 1], [0, 0, 1]], dtype=float)
    out = multiclass_scores(y, logits, ["a", "b", "c", "d"])
    assert out["accuracy"] == pytest.approx(4 / 5)
    assert out["per_class"]["a"]["recall"] == 0.5
    assert out["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert out["excluded_classes"] == {"d": "no example in the test split"}


def test_triplet_scores_on_constructed_triplets():
    anchor = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    positive = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    negative = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    out = triplet_scores(anchor, positive, negative)
    # right, right, wrong, tie (half credit)
    assert out["triplet_accuracy"] == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    d45 = 1 - 1 / math.sqrt(2)
    gaps = [1 - 0, 1 - d45, 0 - 1, 0]
    assert out["distance_gap"] == pytest.approx(np.mean(gaps))
    assert cosine_distance(np.array([[2.0, 0.0]]), np.array([[-3.0, 0.0]]))[0] == pytest.approx(2.0)


def test_mean_std_over_seeds():
    assert mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}
    assert mean_std([0.7]) == {"mean": 0.7, "std": 0.0, "n": 1}
    assert mean_std([float("nan"), 0.5])["n"] == 1


# --------------------------------------------------------------------------- manifests


def test_multilabel_csv_with_separator_and_fixed_split(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("track_id,labels,split\n007,rock| pop,train\n008,pop,val\n009,jazz|rock|rock,TEST\n")
    data = load_dataset(path, DatasetOptions(separator="|"), BadRecords(path))
    assert data.kind == MULTILABEL
    assert data.columns["track_id"] == ["007", "008", "009"]   # read as text: leading zeros kept
    assert data.columns["labels"] == [["rock", "pop"], ["pop"], ["jazz", "rock"]]
    assert data.splits == ["train", "validation", "test"]


def test_kinds_detected_from_parquet_and_jsonl(tmp_path):
    pq.write_table(pa.table({"track_id": ["a", "b"], "labels": [["x", "y"], ["y"]]}), tmp_path / "m.parquet")
    assert load_dataset(tmp_path / "m.parquet", DatasetOptions(), BadRecords("m")).kind == MULTILABEL
    (tmp_path / "c.jsonl").write_text('{"track_id": "a", "label": "x"}\n{"track_id": "b", "label": "y"}\n')
    data = load_dataset(tmp_path / "c.jsonl", DatasetOptions(), BadRecords("c"))
    assert data.kind == MULTICLASS and data.columns["labels"] == [["x"], ["y"]]
    (tmp_path / "t.tsv").write_text("anchor\tpositive\tnegative\na\tb\tc\n")
    data = load_dataset(tmp_path / "t.tsv", DatasetOptions(), BadRecords("t"))
    assert data.kind == TRIPLETS and data.track_ids == ["a", "b", "c"]


def test_labels_missing_is_a_clear_error_or_counted(tmp_path, ws):
    path = tmp_path / "tags.csv"
    path.write_text("track_id,labels\na,rock\nb,\nc,pop\n")
    with pytest.raises(InputError) as err:
        load_dataset(path, DatasetOptions(), BadRecords(path))
    message = str(err.value)
    assert str(path) in message and "line 2" in message and "record b" in message and "labels missing" in message
    rejects_path = ws.rejects / "probe" / "tags.jsonl"
    with RejectsWriter(rejects_path) as rejects:
        bad = BadRecords(path, rejects)
        data = load_dataset(path, DatasetOptions(), bad)
    assert data.columns["track_id"] == ["a", "c"]
    assert data.records_read == len(data) + bad.count == 3
    rejected = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    assert [r["record"] for r in rejected] == ["b"]


@pytest.mark.parametrize("body, reason", [
    ("track_id,labels\na,rock\na,pop\n", "listed twice"),
    ("track_id,labels,split\na,rock,holdout\n", "split 'holdout'"),
    ("track_id,label\na,\"x\"\n,y\n", "no track id"),
])
def test_bad_records_are_named(tmp_path, body, reason):
    path = tmp_path / "m.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=reason):
        load_dataset(path, DatasetOptions(), BadRecords(path))


def test_missing_manifest_and_missing_label_column(tmp_path):
    with pytest.raises(MissingInputError, match="probe dataset manifest not found"):
        load_dataset(tmp_path / "nope.csv", DatasetOptions(), BadRecords("x"))
    path = tmp_path / "m.csv"
    path.write_text("track_id,genre\na,rock\n")
    with pytest.raises(InputError, match="no label column 'labels'"):
        load_dataset(path, DatasetOptions(kind="multilabel"), BadRecords(path))
    assert load_dataset(path, DatasetOptions(label_column="genre"), BadRecords(path)).kind == MULTICLASS


def test_audio_paths_map_to_collection_track_ids(tmp_path, ws):
    folder = ws.table("collection/tracks")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"track_id": ["t1", "t2"], "path": [str(tmp_path / "a.flac"), "music/b.wav"]}),
                   folder / "part-00000.parquet")
    path = tmp_path / "m.csv"
    path.write_text(f"path,label\n{tmp_path / 'a.flac'},x\nmusic/b.wav,y\nmissing.wav,z\n")
    with RejectsWriter(ws.rejects / "r.jsonl") as rejects:
        bad = BadRecords(path, rejects)
        data = load_dataset(path, DatasetOptions(), bad, workspace=ws)
    assert data.columns["track_id"] == ["t1", "t2"] and bad.count == 1


def _labelled(tmp_path, rows, header="track_id,label,split"):
    path = tmp_path / "m.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_unknown_class_in_test_split(tmp_path, ws):
    path = _labelled(tmp_path, ["a,x,train", "b,y,train", "c,x,validation", "d,z,test", "e,y,test"])
    data = assign_splits(load_dataset(path, DatasetOptions(), BadRecords(path)), DatasetOptions(), 0)
    with pytest.raises(InputError, match=r"class\(es\) \['z'\] of the test split never occur in the train split"):
        fix_vocabulary(data, BadRecords(path))
    with RejectsWriter(ws.rejects / "r.jsonl") as rejects:
        bad = BadRecords(path, rejects)
        kept = fix_vocabulary(data, bad)
    assert kept.classes == ["x", "y"] and kept.columns["track_id"] == ["a", "b", "c", "e"] and bad.count == 1
    # Multi-label: with --skip-invalid the unknown label is removed, the track kept, the class reported.
    path = _labelled(tmp_path, ["a,x,train", "b,y,train", "c,x,validation", "d,y|z,test"], "track_id,labels,split")
    data = assign_splits(load_dataset(path, DatasetOptions(separator="|"), BadRecords(path)), DatasetOptions(), 0)
    with RejectsWriter(ws.rejects / "r2.jsonl") as rejects:
        kept = fix_vocabulary(data, BadRecords(path, rejects))
    assert kept.columns["labels"][-1] == ["y"] and kept.notes["unknown_classes"] == {"z": 1}


def test_drawn_splits_are_seeded_and_per_track(tmp_path):
    rows = [f"t{i},{'x' if i % 2 else 'y'}" for i in range(400)]
    path = _labelled(tmp_path, rows, "track_id,label")
    data = load_dataset(path, DatasetOptions(), BadRecords(path))
    a = assign_splits(data, DatasetOptions(), seed=3)
    b = assign_splits(data, DatasetOptions(), seed=3)
    c = assign_splits(data, DatasetOptions(), seed=4)
    assert a.splits == b.splits and a.splits != c.splits
    sizes = a.split_sizes()
    assert 230 < sizes["train"] < 330 and 15 < sizes["validation"] < 70 and 45 < sizes["test"] < 120
    # A track's split does not depend on the other records present.
    half = assign_splits(data.keep([i % 2 == 0 for i in range(400)]), DatasetOptions(), seed=3)
    assert half.splits == a.splits[::2]


def test_fixed_splits_without_validation_get_one_from_train(tmp_path):
    rows = [f"t{i},{'x' if i % 2 else 'y'},{'test' if i % 5 == 0 else 'train'}" for i in range(300)]
    path = _labelled(tmp_path, rows)
    data = assign_splits(load_dataset(path, DatasetOptions(), BadRecords(path)), DatasetOptions(), 0)
    assert data.split_sizes()["test"] == 60           # fixed test split untouched
    assert 10 < data.split_sizes()["validation"] < 45
    with pytest.raises(ConfigError):
        DatasetOptions(fractions=(0.5, 0.5, 0.5))


# --------------------------------------------------------------------------- embeddings


def test_stack_concatenates_in_the_order_given(tmp_path):
    a = write_embeddings(tmp_path / "a.parquet", ["t1", "t2", "t3"], [[1, 1], [2, 2], [3, 3]])
    b = write_embeddings(tmp_path / "b.parquet", ["t3", "t1"], [[30, 30, 30], [10, 10, 10]])
    ab = load_stack([a, b])
    assert ab.ids == ["t1", "t3"] and ab.dim == 5        # t2 lacks an embedding in b
    assert ab.rows(["t3"]).tolist() == [[3, 3, 30, 30, 30]]
    ba = stack([read_embeddings(b), read_embeddings(a)])
    assert ba.rows(["t1"]).tolist() == [[10, 10, 10, 1, 1]]


def test_embeddings_read_only_wanted_tracks_from_a_folder(tmp_path):
    folder = tmp_path / "emb"
    folder.mkdir()
    write_embeddings(folder / "part-00000.parquet", ["a", "b"], [[1, 0], [0, 1]])
    write_embeddings(folder / "part-00001.parquet", ["c"], [[1, 1]])
    got = read_embeddings(folder, ["c", "a", "zz"])
    assert sorted(got.ids) == ["a", "c"] and got.rows(["c"]).tolist() == [[1, 1]]


def test_bad_embedding_files(tmp_path):
    with pytest.raises(MissingInputError, match="discogs-tools embed"):
        read_embeddings(tmp_path / "none.parquet")
    write_embeddings(tmp_path / "dims.parquet", ["a", "b"], [[1, 2], [1, 2, 3]])
    with pytest.raises(InputError, match="record b: embedding has 3 values, others have 2"):
        read_embeddings(tmp_path / "dims.parquet")
    write_embeddings(tmp_path / "dup.parquet", ["a", "a"], [[1], [2]])
    with pytest.raises(InputError, match="record a: track listed twice"):
        read_embeddings(tmp_path / "dup.parquet")
    write_embeddings(tmp_path / "nan.parquet", ["a", "b"], [[1], [float("nan")]])
    with pytest.raises(InputError, match="record b: embedding holds NaN"):
        read_embeddings(tmp_path / "nan.parquet")
    pq.write_table(pa.table({"track_id": ["a"], "vector": [[1.0]]}), tmp_path / "cols.parquet")
    with pytest.raises(InputError, match="no column"):
        read_embeddings(tmp_path / "cols.parquet")


def test_model_sources_are_classified_and_named(tmp_path, ws):
    from discogs_tools.probe.backbone import resolve_source

    embed_out = ws.runs / "artist-run" / "embeddings" / "mtat"
    embed_out.mkdir(parents=True)
    write_embeddings(embed_out / "part-00000.parquet", ["a"], [[1.0]])
    (ws.runs / "artist-run" / "checkpoints").mkdir()
    (ws.runs / "artist-run" / "checkpoints" / "best.pt").write_bytes(b"x")
    write_embeddings(tmp_path / "plain.parquet", ["a"], [[1.0]])
    found = {spec: resolve_source(spec, ws) for spec in
             (str(embed_out), str(tmp_path / "plain.parquet"), "artist-run",
              str(ws.runs / "artist-run" / "checkpoints" / "best.pt"))}
    assert [(s.kind, s.label) for s in found.values()] == [
        ("embeddings", "artist-run"), ("embeddings", "plain"), ("run", "artist-run"), ("checkpoint", "artist-run")]
    with pytest.raises(MissingInputError, match="embeddings, checkpoint or run not found at nope"):
        resolve_source("nope", ws)
