"""Probe protocols by name (mean-embedding, ismir2022, maest): their settings against the seeds,
the ismir2022 patch sampling and track-level averaging on a tiny backbone whose patch embedding
is the patch's start frame, the MAEST learning-rate schedule, selection by validation loss, and
the protocols end to end through ``probe``."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError
from discogs_tools.features.store import FeatureStore, ShardWriter, write_settings
from discogs_tools.probe import protocols
from discogs_tools.probe.mlp import ProbeConfig, schedule_factor, train_classifier
from discogs_tools.probe.patches import (
    activation,
    embed_patches,
    train_patch_classifier,
)
from discogs_tools.probe.run import run
from discogs_tools.train.embed import embed_positions, patch_starts

MELS = 4


class StartBackbone(torch.nn.Module):
    """A frozen 'backbone' whose embedding of a patch is (first frame's value, mean of the patch):
    with features whose frame t holds t + offset, the first value is the patch start + offset."""

    embedding_dim = 2

    def forward(self, x):  # (batch, 1, frames, mels)
        return torch.stack([x[:, 0, 0, 0], x[:, 0, :, 1].mean(dim=1)], dim=1)


def write_store(root, tracks, settings=None):
    """A feature set: {track_id: (frames, mels) array}, with ``settings`` as its features.json."""
    mels = next(iter(tracks.values())).shape[1]
    write_settings(root, settings or {"n_mels": mels, "front_end": {"sample_rate": 16000, "hop_size": 256,
                                                                     "n_mels": mels}})
    (root / "index").mkdir(parents=True)
    writer = ShardWriter(root, 0, mels)
    for t, mel in tracks.items():
        writer.add(t, mel.astype(np.float32))
    writer.commit()
    return FeatureStore(root)


def ramp(frames, offset=0.0, level=0.0):
    """Frame t holds t + offset in mel 0, ``level`` in mel 1."""
    mel = np.zeros((frames, MELS), np.float32)
    mel[:, 0] = np.arange(frames) + offset
    mel[:, 1] = level
    return mel


@pytest.fixture
def ramps(tmp_path):
    lengths = {"a": 400, "b": 128, "c": 90, "d": 700}
    # offset 1 so that a patch at start s has first value s + 1 (never 0, which a zero-padded row gives)
    return write_store(tmp_path / "feat", {t: ramp(n, offset=1.0) for t, n in lengths.items()}), lengths


# --------------------------------------------------------------------------- protocol settings


def test_protocol_settings_are_the_seeds():
    ismir = protocols.get("ismir2022").config()
    # seed 000 sec. 4.4: hidden 512, Adam 1e-3, weight decay 1e-5, halved after 5 epochs without a
    # lower validation loss, 30 epochs, the lowest-validation-loss epoch kept
    assert (ismir.hidden, ismir.learning_rate, ismir.weight_decay, ismir.plateau_factor,
            ismir.epochs, ismir.selection, ismir.schedule) == (512, 1e-3, 1e-5, 0.5, 30, "loss", "plateau")
    assert protocols.get("ismir2022").inputs == "patches" and protocols.get("ismir2022").crop_hop == 64
    maest = protocols.get("maest").config()
    # seed 004 sec. 6.3.3: 512 + ReLU + dropout 0.5, batch 128, 30 epochs, weight decay 1e-3,
    # 10 warm-up epochs, down to 1e-7, selection on validation ROC-AUC (the score)
    assert (maest.hidden, maest.dropout, maest.batch_size, maest.epochs, maest.weight_decay, maest.warmup_epochs,
            maest.final_learning_rate, maest.schedule, maest.selection) == (
        512, 0.5, 128, 30, 1e-3, 10, 1e-7, "warmup-hold-linear", "score")
    assert protocols.get("maest").inputs == "mean"
    # the default keeps the probe as it was
    assert protocols.get(protocols.DEFAULT).config() == ProbeConfig()
    assert ProbeConfig().plateau_patience == 3 and ProbeConfig().selection == "score"
    assert protocols.get("maest").config(epochs=50, dropout=None).epochs == 50
    with pytest.raises(ConfigError, match="unknown probe protocol 'nope'; known: mean-embedding, ismir2022, maest"):
        protocols.get("nope")


def test_maest_schedule_rises_exponentially_holds_then_falls_linearly_to_1e7():
    config = protocols.get("maest").config(epochs=30, learning_rate=1e-3)
    lr = [config.learning_rate * schedule_factor(config, e) for e in range(30)]
    assert all(a < b for a, b in itertools.pairwise(lr[:10]))          # rising over the first 10 epochs
    assert lr[0] == pytest.approx(1e-3 * math.exp(-5 * 0.9 ** 2))
    assert lr[9] == pytest.approx(1e-3) and lr[14] == pytest.approx(1e-3)  # reached, then held
    assert all(a > b for a, b in itertools.pairwise(lr[15:]))            # then falling ...
    assert np.allclose(np.diff(lr[15:]), np.diff(lr[15:])[0])     # ... linearly
    assert lr[-1] == pytest.approx(1e-7)                           # to 1e-7 on the last epoch

    # the optimiser really uses it
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    probe = train_classifier(x[:40], y[:40], x[40:], y[40:], multilabel=True, n_classes=1,
                             config=protocols.get("maest").config(hidden=8), seed=0, score=lambda a, b: 0.5)
    assert [h["learning_rate"] for h in probe.history] == pytest.approx(lr)


def test_loss_selection_keeps_the_lowest_validation_loss_epoch():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    y = (rng.random((200, 2)) < 0.5).astype(np.float32)          # noise: the validation loss wanders
    y[:, 0] = x[:, 0] > 0

    def backwards(yv, logits):                                    # a score that prefers the last epochs
        return float(np.mean(logits))

    config = ProbeConfig(hidden=16, epochs=12, batch_size=32, learning_rate=3e-2, selection="loss")
    probe = train_classifier(x[:150], y[:150], x[150:], y[150:], multilabel=True, n_classes=2, config=config,
                             seed=0, score=backwards)
    losses = [h["validation_loss"] for h in probe.history]
    assert probe.best_epoch == int(np.argmin(losses))
    by_score = train_classifier(x[:150], y[:150], x[150:], y[150:], multilabel=True, n_classes=2,
                                config=ProbeConfig(hidden=16, epochs=12, batch_size=32, learning_rate=3e-2),
                                seed=0, score=backwards)
    assert by_score.best_epoch == int(np.argmax([h["validation_score"] for h in by_score.history]))
    assert by_score.best_epoch != probe.best_epoch


def test_ismir2022_halves_the_rate_after_five_epochs_without_a_lower_validation_loss():
    from discogs_tools.probe.mlp import _fit

    model = torch.nn.Linear(1, 1)
    losses = iter([1.0, 0.9] + [0.95] * 5 + [0.95] * 5 + [0.5, 0.6])   # 5 flat, 5 flat, better, worse

    def batch_loss(idx):
        return model(torch.ones(len(idx), 1)).sum() * 0.0

    config = protocols.get("ismir2022").config(epochs=14, batch_size=4)
    best_epoch, _, history = _fit(model, 4, batch_loss, lambda: (next(losses), math.nan), config, seed=0)
    rates = [h["learning_rate"] for h in history]
    # epochs 2-6: five epochs without a decrease below 0.9 -> halved from epoch 7; again after 7-11
    assert rates == pytest.approx([1e-3] * 7 + [5e-4] * 5 + [2.5e-4] * 2)
    assert best_epoch == 12                                         # the lowest validation loss


# --------------------------------------------------------------------------- ismir2022 patches


def test_patch_bank_holds_every_grid_patch_and_embed_means(ramps):
    store, lengths = ramps
    bank = embed_patches(StartBackbone(), store, ["a", "b", "c", "d", "missing"], crop_hop=16, batch_size=7)
    assert bank.ids == ["a", "b", "c", "d"]                       # tracks without features are left out
    for i, t in enumerate(bank.ids):
        rows = slice(bank.offsets[i], bank.offsets[i + 1])
        expected = list(range(0, lengths[t] - 128 + 1, 16)) if lengths[t] > 128 else [0]
        assert bank.starts[rows].tolist() == expected
        assert bank.values[rows, 0].tolist() == [s + 1.0 for s in expected]  # the backbone saw that patch
        eval_rows, _ = bank.eval_rows([i])
        assert bank.starts[eval_rows].tolist() == patch_starts(lengths[t])     # the half-overlapped patches
    # the track means are exactly what `discogs-tools embed` computes
    means = embed_positions(StartBackbone(), store, store.positions(bank.ids), batch_size=5)
    assert np.allclose(bank.track_means(), means)
    with pytest.raises(ConfigError, match="--crop-hop must divide half the patch"):
        embed_patches(StartBackbone(), store, ["a"], crop_hop=48)


def test_training_draws_one_random_grid_patch_per_track_each_epoch(ramps):
    store, _ = ramps
    bank = embed_patches(StartBackbone(), store, ["a", "b", "c", "d"], crop_hop=16)
    train = np.array([0, 3, 1])
    y = np.array([[1.0], [0.0], [1.0]], np.float32)
    config = ProbeConfig(hidden=4, epochs=40, batch_size=2, selection="loss")
    traces = []
    for seed in (5, 5, 6):
        trace = []
        train_patch_classifier(bank, train, y, np.array([2]), np.array([[1.0]], np.float32), multilabel=True,
                               n_classes=1, config=config, seed=seed, score=lambda a, b: math.nan, trace=trace)
        traces.append(np.array(trace))
    drawn = traces[0]
    assert drawn.shape == (40, 3)                                  # one patch per train track per epoch
    for k, track in enumerate(train):                              # always one of that track's own patches
        assert ((drawn[:, k] >= bank.offsets[track]) & (drawn[:, k] < bank.offsets[track + 1])).all()
    starts_a = set(bank.starts[drawn[:, 0]].tolist())
    assert len(starts_a) > 10 and starts_a <= set(range(0, 400 - 128 + 1, 16))  # re-cropped, on the grid
    assert any(s % 64 for s in starts_a)                            # not only the half-overlap starts
    assert set(bank.starts[drawn[:, 2]].tolist()) == {0}            # a one-patch track always gives it
    assert np.array_equal(traces[0], traces[1]) and not np.array_equal(traces[0], traces[2])  # seeded


def test_validation_and_test_average_activations_over_half_overlapped_patches(ramps):
    store, lengths = ramps
    bank = embed_patches(StartBackbone(), store, ["a", "b", "c", "d"], crop_hop=16)
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    probe = train_patch_classifier(bank, np.arange(4), y, np.arange(4), y, multilabel=True, n_classes=2,
                                   config=ProbeConfig(hidden=8, epochs=3, batch_size=2), seed=0,
                                   score=lambda a, b: 0.5)
    tracks = [3, 0, 2]
    got = probe.predict_tracks(tracks)
    for k, track in enumerate(tracks):
        t = bank.ids[track]
        # by hand: the patches the backbone gives at starts 0, 64, 128, ... of that track
        starts = patch_starts(lengths[t])
        patches = np.array([[s + 1.0, 0.0] for s in starts], np.float32)
        assert np.allclose(got[k], activation(probe.predict(patches), True).mean(axis=0), atol=1e-6)
    # activations are averaged, not the embeddings (the MLP is not linear)
    assert not np.allclose(got[0], activation(probe.predict(bank.track_means()[[3]]), True)[0], atol=1e-4)
    multiclass = train_patch_classifier(bank, np.arange(4), np.array([0, 1, 2, 1]), np.arange(4),
                                        np.array([0, 1, 2, 1]), multilabel=False, n_classes=3,
                                        config=ProbeConfig(hidden=8, epochs=2), seed=0, score=lambda a, b: 0.5)
    assert np.allclose(multiclass.predict_tracks([0, 1, 2, 3]).sum(axis=1), 1.0)  # softmax averages


# --------------------------------------------------------------------------- end to end


class GroupBackbone(torch.nn.Module):
    """Embedding = the mean over the patch of each mel band (the tracks' groups differ in mel 1)."""

    embedding_dim = MELS

    def forward(self, x):
        return x[:, 0].mean(dim=1)


def tiny_patch_embedder(calls):
    def embed(source, features, track_ids, random_init_seed, crop_hop):
        calls.append((source.label, random_init_seed, crop_hop))
        backbone = GroupBackbone()
        if random_init_seed is not None:                        # the "random weights": a seeded projection
            w = torch.from_numpy(np.random.default_rng(random_init_seed).normal(size=(MELS, MELS)).astype(np.float32))
            backbone = torch.nn.Sequential(backbone, torch.nn.Linear(MELS, MELS, bias=False))
            backbone[1].weight.data = w
            backbone.embedding_dim = MELS
        return embed_patches(backbone, FeatureStore(features), track_ids, crop_hop=crop_hop)
    return embed


@pytest.fixture
def grouped(tmp_path):
    rng = np.random.default_rng(0)
    tracks, lines = {}, ["track_id,labels"]
    for i in range(120):
        group = i % 2
        mel = rng.normal(0, 1.0, (int(rng.integers(100, 400)), MELS)).astype(np.float32)
        mel[:, 1] += 1.5 * group
        tracks[f"t{i:03d}"] = mel
        lines.append(f't{i:03d},"{"up" if group else "down"}{",coin" if rng.random() < 0.5 else ""}"')
    write_store(tmp_path / "feat", tracks)
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "model.pt").write_bytes(b"not read: the patch embedder is replaced")
    return tmp_path


def test_probe_with_the_ismir2022_protocol(grouped, ws):
    calls = []
    config = protocols.get("ismir2022").config(hidden=16, epochs=6, batch_size=16)
    report = run(grouped / "tags.csv", workspace=ws, models=[grouped / "model.pt"], features=str(grouped / "feat"),
                 protocol="ismir2022", config=config, seeds=1, plot=False,
                 patch_embedder=tiny_patch_embedder(calls))
    results = json.loads(Path(report.outputs["results"]).read_text())
    assert results["params"]["protocol"] == {"name": "ismir2022", "inputs": "patches",
                                             "source": "seed 000 sec. 4.4; seed 004 sec. 4.3.4", "crop_hop": 64}
    assert results["params"]["probe"]["selection"] == "loss" and results["params"]["probe"]["plateau_patience"] == 4
    assert calls == [("model", None, 64), ("model", 0, 64)]      # the model, then its random-weight twin
    model, baseline = results["models"]
    assert (model["role"], baseline["role"]) == ("model", "baseline")
    assert model["per_class"]["up"]["roc_auc"]["mean"] > 0.9
    assert 0.25 < model["per_class"]["coin"]["roc_auc"]["mean"] < 0.75
    for key in ("map", "p_at_5", "p_at_10", "mrr"):
        assert 0 <= model["summary"][key]["mean"] <= 1

    pq.write_table(pa.table({"track_id": ["t000"], "embedding": [[1.0, 2.0]]}), grouped / "e.parquet")
    with pytest.raises(ConfigError, match="--protocol ismir2022 embeds patches with the frozen backbone"):
        run(grouped / "tags.csv", workspace=ws, models=[grouped / "e.parquet"], protocol="ismir2022")


def test_cli_protocol_maest_and_unknown_protocol(grouped, ws, tmp_path):
    store = FeatureStore(grouped / "feat")
    means = embed_positions(GroupBackbone(), store, store.positions(store.track_ids))
    pq.write_table(pa.table({"track_id": store.track_ids,
                             "embedding": pa.array(list(means), pa.list_(pa.float32()))}), tmp_path / "m.parquet")
    runner = CliRunner()
    out = runner.invoke(app, ["probe", str(grouped / "tags.csv"), "-m", str(tmp_path / "m.parquet"), "--protocol",
                              "maest", "--epochs", "12", "--hidden", "16", "--seeds", "1", "--no-plot",
                              "--workspace", str(ws.root)])
    assert out.exit_code == 0, out.output
    results = json.loads((ws.runs / "m" / "probe" / "tags-maest.json").read_text())  # kept apart from tags.json
    assert results["params"]["protocol"]["name"] == "maest"
    probe = results["params"]["probe"]
    assert (probe["epochs"], probe["hidden"], probe["dropout"], probe["weight_decay"], probe["schedule"]) == (
        12, 16, 0.5, 1e-3, "warmup-hold-linear")
    out = runner.invoke(app, ["probe", str(grouped / "tags.csv"), "-m", str(tmp_path / "m.parquet"), "--protocol",
                              "nope", "--workspace", str(ws.root)])
    assert out.exit_code == 2 and "unknown probe protocol 'nope'" in out.output


def test_maest_grid_is_the_seeds_and_the_search_keeps_the_best_validation_setting(grouped, ws, tmp_path):
    grid = protocols.get("maest").grid                              # seed 004 sec. 6.3.3
    assert grid == {"batch_size": (64, 128, 256), "epochs": (30, 40, 50, 60, 70, 80), "dropout": (0.5, 0.75),
                    "learning_rate": (1e-3, 1e-4, 5e-4, 1e-5)}
    assert len(protocols.grid_configs(protocols.get("maest").config(), grid)) == 144

    store = FeatureStore(grouped / "feat")
    means = embed_positions(GroupBackbone(), store, store.positions(store.track_ids))
    pq.write_table(pa.table({"track_id": store.track_ids,
                             "embedding": pa.array(list(means), pa.list_(pa.float32()))}), tmp_path / "m.parquet")
    small = {"learning_rate": (1e-7, 1e-2), "epochs": (3, 12)}     # a rate too small to learn, and a good one
    report = run(grouped / "tags.csv", workspace=ws, models=[tmp_path / "m.parquet"], protocol="maest",
                 config=protocols.get("maest").config(hidden=16, warmup_epochs=2), grid=small, seeds=2, seed=4,
                 plot=False)
    model = json.loads(Path(report.outputs["results"]).read_text())["models"][0]
    trials = model["grid_search"]["trials"]
    assert [(t["learning_rate"], t["epochs"]) for t in trials] == [(1e-7, 3), (1e-7, 12), (1e-2, 3), (1e-2, 12)]
    best = max(trials, key=lambda t: t["validation_score"])
    assert model["grid_search"]["chosen"] == {"learning_rate": best["learning_rate"], "epochs": best["epochs"]}
    assert model["grid_search"]["chosen"]["learning_rate"] == 1e-2 and model["grid_search"]["seed"] == 4
    assert [p["seed"] for p in model["per_seed"]] == [4, 5]           # the chosen setting, every seed
    assert model["per_seed"][0]["validation_score"] == pytest.approx(best["validation_score"])
    with pytest.raises(ConfigError, match="--grid-search: protocol ismir2022 has no grid"):
        run(grouped / "tags.csv", workspace=ws, models=[tmp_path / "m.parquet"], protocol="ismir2022",
            grid_search=True)
