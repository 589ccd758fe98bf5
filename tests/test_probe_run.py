"""The probe stage end to end: MLP probe scores on seeded synthetic tasks whose answer is known,
determinism, random-weight baseline through the embedder interface, bad inputs, CLI and compare."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools import manifest
from discogs_tools.cli import app
from discogs_tools.errors import InputError, MissingInputError
from discogs_tools.probe import compare
from discogs_tools.probe.backbone import ModelSource
from discogs_tools.probe.datasets import DatasetOptions
from discogs_tools.probe.mlp import ProbeConfig, train_classifier
from discogs_tools.probe.run import run

FAST = ProbeConfig(hidden=32, epochs=10, batch_size=32, learning_rate=1e-2)  # few steps: a larger rate
N, DIM = 300, 8


def features_of(n=N, dim=DIM, seed=0):
    """Seeded embeddings: dimension 0 carries the signal, the rest is noise."""
    rng = np.random.default_rng(seed)
    return [f"t{i:03d}" for i in range(n)], rng.normal(size=(n, dim)).astype(np.float32)


def write_embeddings(path, ids, values):
    pq.write_table(pa.table({"track_id": pa.array(ids, pa.string()),
                             "embedding": pa.array(list(values), pa.list_(pa.float32()))}), path)
    return path


@pytest.fixture
def task(tmp_path):
    """A multi-label task: 'up' iff x0 > 0 (linearly separable), 'coin' random; informative and noise embeddings."""
    ids, x = features_of()
    rng = np.random.default_rng(1)
    lines = ["track_id,labels"]
    for t, v in zip(ids, x):
        labels = (["up"] if v[0] > 0 else ["down"]) + (["coin"] if rng.random() < 0.4 else [])
        lines.append(f'{t},"{",".join(labels)}"')
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    write_embeddings(tmp_path / "good.parquet", ids, x)
    write_embeddings(tmp_path / "noise.parquet", ids, np.random.default_rng(2).normal(size=(N, DIM)).astype(np.float32))
    return tmp_path


def test_separable_label_near_one_random_label_near_half(task, ws):
    report = run(task / "tags.csv", workspace=ws, models=[task / "good.parquet"],
                 baseline_embeddings=[task / "noise.parquet"], config=FAST, seeds=2)
    results = json.loads(open(report.outputs["results"]).read())
    model, baseline = results["models"]
    assert (model["role"], baseline["role"]) == ("model", "baseline")
    assert model["per_class"]["up"]["roc_auc"]["mean"] > 0.95
    assert abs(model["per_class"]["coin"]["roc_auc"]["mean"] - 0.5) < 0.2
    assert abs(baseline["per_class"]["up"]["roc_auc"]["mean"] - 0.5) < 0.2
    assert model["summary"]["roc_auc"]["mean"] > baseline["summary"]["roc_auc"]["mean"]
    assert [p["seed"] for p in model["per_seed"]] == [0, 1] and model["summary"]["roc_auc"]["n"] == 2
    sizes = results["dataset"]["split_sizes"]
    assert sum(sizes.values()) == results["dataset"]["records_used"] == N
    assert open(report.outputs["plot"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert manifest.get(ws.manifest_path, "probe good/tags")["counts"]["used"] == N


def test_multiclass_accuracy_on_separable_blobs(tmp_path, ws):
    rng = np.random.default_rng(5)
    centres = np.array([[4, 0, 0], [0, 4, 0], [0, 0, 4]], dtype=np.float32)
    y = rng.integers(0, 3, size=240)
    x = centres[y] + rng.normal(scale=0.5, size=(240, 3)).astype(np.float32)
    ids = [f"b{i}" for i in range(240)]
    write_embeddings(tmp_path / "blobs.parquet", ids, x)
    (tmp_path / "blobs.csv").write_text("track_id,label\n" + "".join(f"{t},c{k}\n" for t, k in zip(ids, y)))
    report = run(tmp_path / "blobs.csv", workspace=ws, models=[tmp_path / "blobs.parquet"], config=FAST, seeds=1,
                 plot=False)
    results = json.loads(open(report.outputs["results"]).read())
    assert results["kind"] == "multiclass"
    assert results["models"][0]["summary"]["accuracy"]["mean"] > 0.95
    assert "no random-weight baseline" in " ".join(report.warnings)


def test_triplets_frozen_and_probe_accuracy(tmp_path, ws):
    """Positives share the sign of x0 with the anchor; on x0-only embeddings the frozen cosine
    distance already solves it; on x0 + noise the trained projection recovers it."""
    ids, x = features_of(n=200, dim=6, seed=7)
    rng = np.random.default_rng(8)
    up = x[:, 0] > 0
    rows = []
    for _ in range(600):
        a = rng.integers(200)
        rows.append((ids[a], ids[rng.choice(np.flatnonzero(up == up[a]))], ids[rng.choice(np.flatnonzero(up != up[a]))]))
    rows = [r for r in rows if r[0] != r[1]]
    (tmp_path / "sim.csv").write_text("anchor,positive,negative\n" + "".join(",".join(r) + "\n" for r in rows))
    clean = np.zeros_like(x)
    clean[:, 0] = np.sign(x[:, 0])
    write_embeddings(tmp_path / "clean.parquet", ids, clean)
    write_embeddings(tmp_path / "mixed.parquet", ids, x)
    res_clean = json.loads(open(run(tmp_path / "sim.csv", workspace=ws, models=[tmp_path / "clean.parquet"],
                                    config=FAST, seeds=1, plot=False).outputs["results"]).read())
    res_mixed = json.loads(open(run(tmp_path / "sim.csv", workspace=ws, models=[tmp_path / "mixed.parquet"],
                                    config=FAST, seeds=1).outputs["results"]).read())
    assert res_clean["models"][0]["summary"]["frozen_triplet_accuracy"]["mean"] == 1.0
    assert res_clean["models"][0]["summary"]["frozen_distance_gap"]["mean"] == pytest.approx(2.0)
    mixed = res_mixed["models"][0]["summary"]
    assert mixed["triplet_accuracy"]["mean"] > 0.85
    assert mixed["triplet_accuracy"]["mean"] > mixed["frozen_triplet_accuracy"]["mean"]


def test_same_seed_same_results_and_rerun_identical_file(task, ws):
    kwargs = dict(workspace=ws, models=[task / "good.parquet"], config=FAST, seeds=2, plot=False)
    first = run(task / "tags.csv", name="a", **kwargs)
    text = open(first.outputs["results"]).read()
    second = run(task / "tags.csv", name="a", **kwargs)
    assert open(second.outputs["results"]).read() == text
    other_seed = json.loads(open(run(task / "tags.csv", name="b", seed=10, **kwargs).outputs["results"]).read())
    assert other_seed["models"][0]["per_seed"] != json.loads(text)["models"][0]["per_seed"]


def test_probe_training_is_deterministic_given_seed():
    ids, x = features_of(n=120)
    y = (x[:, :2] > 0).astype(np.float32)

    def auc(yv, logits):
        return float(np.mean(logits[yv > 0])) - float(np.mean(logits[yv == 0]))

    a, b, c = (train_classifier(x[:80], y[:80], x[80:], y[80:], multilabel=True, n_classes=2, config=FAST,
                                seed=s, score=auc) for s in (3, 3, 4))
    assert np.array_equal(a.predict(x), b.predict(x)) and a.history == b.history
    assert not np.array_equal(a.predict(x), c.predict(x))
    assert 0 <= a.best_epoch < FAST.epochs and a.best_score == max(h["validation_score"] for h in a.history)


def test_stacking_concatenates_runs_in_order(task, ws):
    report = run(task / "tags.csv", workspace=ws, models=[task / "good.parquet", task / "noise.parquet"],
                 config=ProbeConfig(hidden=8, epochs=1), seeds=1, plot=False)
    results = json.loads(open(report.outputs["results"]).read())
    model = results["models"][0]
    assert results["name"] == "good+noise" and model["dim"] == 2 * DIM
    assert [s["label"] for s in model["sources"]] == ["good", "noise"]


def test_tracks_without_embeddings_error_or_counted(task, ws):
    ids, x = features_of()
    write_embeddings(task / "partial.parquet", ids[:-5], x[:-5])
    with pytest.raises(InputError, match=r"has no embedding in .*partial.parquet \(5 of 300 tracks lack one\)"):
        run(task / "tags.csv", workspace=ws, models=[task / "partial.parquet"], config=FAST, seeds=1)
    report = run(task / "tags.csv", workspace=ws, models=[task / "partial.parquet"], config=FAST, seeds=1,
                 skip_invalid=True, plot=False)
    assert report.counts["records"] == report.counts["used"] + report.counts["rejected"]
    assert report.counts["rejected"] == 5
    rejected = [json.loads(line)["record"] for line in open(report.outputs["rejects"])]
    assert rejected == ids[-5:]


def test_missing_model_files_are_clear_errors(task, ws):
    with pytest.raises(MissingInputError, match="embeddings, checkpoint or run not found at .*nothing.parquet"):
        run(task / "tags.csv", workspace=ws, models=[task / "nothing.parquet"])
    (ws.runs / "empty-run").mkdir(parents=True)
    with pytest.raises(MissingInputError, match="checkpoint of run empty-run not found .*discogs-tools train"):
        run(task / "tags.csv", workspace=ws, models=["empty-run"], features=str(task))


class FakeEmbedder:
    """Stands in for the backbone: a 'trained' checkpoint gives the informative embeddings,
    a random-weight one gives seeded noise."""

    def __init__(self, ids, x):
        self.table = dict(zip(ids, x))
        self.calls = []

    def __call__(self, source: ModelSource, features, output, track_ids, random_init_seed):
        self.calls.append((source.label, random_init_seed))
        rng = np.random.default_rng([99, random_init_seed or 0])  # a stream unrelated to features_of()
        values = [self.table[t] if random_init_seed is None else rng.normal(size=DIM).astype(np.float32)
                  for t in track_ids]
        write_embeddings(output, list(track_ids), values)


def test_checkpoint_with_random_weight_baseline_and_cache(task, ws):
    ids, x = features_of()
    checkpoints = ws.runs / "artist-run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "best.pt").write_bytes(b"weights")
    (ws.features / "demo").mkdir(parents=True)
    embedder = FakeEmbedder(ids, x)
    kwargs = dict(workspace=ws, models=["artist-run"], features="demo", config=FAST, seeds=1, embedder=embedder,
                  plot=False)
    results = json.loads(open(run(task / "tags.csv", **kwargs).outputs["results"]).read())
    assert embedder.calls == [("artist-run", None), ("artist-run", 0)]
    model, baseline = results["models"]
    assert baseline["name"] == "random-init" and baseline["sources"][0]["random_init_seed"] == 0
    assert model["summary"]["roc_auc"]["mean"] > baseline["summary"]["roc_auc"]["mean"] + 0.1
    run(task / "tags.csv", **kwargs)
    assert len(embedder.calls) == 2                      # cached embeddings reused
    (checkpoints / "best.pt").write_bytes(b"retrained weights")
    run(task / "tags.csv", **kwargs)
    assert len(embedder.calls) == 4                      # a new checkpoint is embedded again


def test_cli_probe_and_compare(task, ws):
    runner = CliRunner()
    common = ["--workspace", str(ws.root), "--epochs", "5", "--hidden", "16", "--seeds", "2", "--no-plot"]
    out = runner.invoke(app, ["probe", str(task / "tags.csv"), "-m", str(task / "good.parquet"),
                              "--baseline-embeddings", str(task / "noise.parquet")] + common)
    assert out.exit_code == 0, out.output
    assert "ROC-AUC" in out.output and "random-init [good]" in out.output
    out = runner.invoke(app, ["probe", str(task / "tags.csv"), "-m", str(task / "noise.parquet"), "--task", "tags"]
                        + common)
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["probe-compare", "good", "noise", "--format", "markdown", "--workspace", str(ws.root),
                              "--output", str(task / "table.md")])
    assert out.exit_code == 0, out.output
    lines = (task / "table.md").read_text().splitlines()
    assert lines[0] == "| model | tags ROC-AUC | tags PR-AUC |"
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["good", "noise", "random-init [good]"]
    assert "**" in lines[2]                              # the informative model is the best of its column
    bad = runner.invoke(app, ["probe", str(task / "tags.csv"), "-m", str(task / "missing.parquet"),
                              "--workspace", str(ws.root)])
    assert bad.exit_code == 2 and "error: embeddings, checkpoint or run not found" in bad.output


def test_compare_rows_models_columns_tasks(task, ws):
    for manifest_name in ("tags", "tags2"):
        (task / f"{manifest_name}.csv").write_text((task / "tags.csv").read_text())
        run(task / f"{manifest_name}.csv", workspace=ws, models=[task / "good.parquet"], config=FAST, seeds=1,
            plot=False)
    table = compare.build(["good"], ws)
    assert table.columns == [("tags", "roc_auc"), ("tags", "pr_auc"), ("tags2", "roc_auc"), ("tags2", "pr_auc")]
    assert list(table.rows) == ["good"]
    assert compare.build(["good"], ws, tasks=["tags2"]).columns == [("tags2", "roc_auc"), ("tags2", "pr_auc")]
    csv_text = table.render("csv").splitlines()
    assert csv_text[0].startswith("model,tags:roc_auc,tags:roc_auc:std")
    with pytest.raises(MissingInputError, match="discogs-tools probe"):
        compare.build(["never-probed"], ws)


def test_dataset_options_reach_the_loader(tmp_path, ws):
    ids, x = features_of(n=60)
    write_embeddings(tmp_path / "e.parquet", ids, x)
    (tmp_path / "m.tsv").write_text("track_id\tgenre\n" + "".join(f"{t}\t{'a' if v[0] > 0 else 'b'}\n"
                                                                  for t, v in zip(ids, x)))
    report = run(tmp_path / "m.tsv", workspace=ws, models=[tmp_path / "e.parquet"], config=FAST, seeds=1,
                 options=DatasetOptions(label_column="genre", fractions=(0.5, 0.25, 0.25)), plot=False)
    assert report.counts["classes"] == 2 and report.counts["train"] < 45


def test_diverging_probe_is_a_clear_error():
    from discogs_tools.probe.mlp import ProbeTrainingError

    ids, x = features_of(n=60)
    y = (x[:, :1] > 0).astype(np.float32)
    nan_score = lambda yv, logits: float("nan")  # noqa: E731
    with pytest.raises(ProbeTrainingError, match="no finite validation score"):
        train_classifier(x[:40], y[:40], x[40:], y[40:], multilabel=True, n_classes=1, seed=0, score=nan_score,
                         config=ProbeConfig(hidden=8, epochs=2, learning_rate=1e30))
