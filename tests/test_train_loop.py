"""The training loop on tiny synthetic data (small CNN of width 8, 32-frame crops, CPU):
learning, determinism, bitwise resume, missing features, NaN loss, foreign checkpoints, SWA."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from discogs_tools.errors import ConfigError, InputError
from discogs_tools.train import checkpoint as ckpt_io
from discogs_tools.train.checkpoint import CheckpointError
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.loop import TrainingError, run
from test_train_data import GroupPairs, make_feature_set


def tiny(run_name: str, **kw) -> TrainConfig:
    base = dict(run=run_name, features="syn", objective="cola", associations=("artist",), backbone="small_cnn",
                cnn_width=8, epochs=2, batch_size=8, crop_frames=16, seed=3)
    base.update(kw)
    return TrainConfig(**base)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def syn(ws):
    ids = make_feature_set(ws.features / "syn", n_groups=8, per_group=4, frames=(40, 80))
    return ws, ids


def weights(ws, run_name: str, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return ckpt_io.load(ws.runs / run_name / "checkpoints" / name)["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def history(ws, run_name: str) -> list[dict]:
    return [json.loads(line) for line in (ws.runs / run_name / "metrics.jsonl").read_text().splitlines()]


def test_loss_falls_when_pairs_share_a_signal(syn):
    ws, ids = syn
    run(ws, tiny("simclr", objective="simclr", epochs=10, crop_frames=32), source=GroupPairs(ids))
    h = history(ws, "simclr")
    assert len(h) == 10
    assert np.mean([e["train_loss"] for e in h[-3:]]) < 0.85 * h[0]["train_loss"]
    # chance top-1 among the 2N-1 candidates of a batch of 8 pairs is 1/15
    assert h[-1]["val_top1"] > 0.2
    # COLA's bilinear similarity starts from N(0, 0.05^2) as published (seed 000 sec. 4.2), which gives
    # large initial logits on 512-d tanh projections: on this tiny data 1e-3 overshoots, 1e-4 learns.
    run(ws, tiny("cola", epochs=6, crop_frames=32, lr=1e-4), source=GroupPairs(ids))
    h = history(ws, "cola")
    assert h[-1]["train_loss"] < 0.6 * h[0]["train_loss"]
    assert all(k in h[0] for k in ("train_loss", "train_top1", "val_loss", "val_top1", "lr", "pairs_per_s"))


def test_same_seed_same_weights_other_seed_other_weights(syn):
    ws, ids = syn
    run(ws, tiny("a"), source=GroupPairs(ids))
    run(ws, tiny("b"), source=GroupPairs(ids))
    run(ws, tiny("c", seed=4), source=GroupPairs(ids))
    assert_same_weights(weights(ws, "a"), weights(ws, "b"))
    assert not torch.equal(weights(ws, "a")["backbone.features.0.weight"], weights(ws, "c")["backbone.features.0.weight"])


def test_resume_equals_uninterrupted_run_bitwise(syn):
    ws, ids = syn
    # EfficientNet-style randomness in the model (dropout-like) would show up here too; the small
    # CNN plus shuffled pairs and random crops exercise the data-side RNG.
    run(ws, tiny("full", epochs=3), source=GroupPairs(ids))
    run(ws, tiny("part", epochs=1), source=GroupPairs(ids))
    with pytest.raises(ConfigError, match="--resume or --force"):
        run(ws, tiny("part", epochs=3), source=GroupPairs(ids))
    with pytest.raises(ConfigError, match="batch_size"):
        run(ws, tiny("part", epochs=3, batch_size=4), source=GroupPairs(ids), resume=True)
    run(ws, tiny("part", epochs=3), source=GroupPairs(ids), resume=True)
    assert_same_weights(weights(ws, "full"), weights(ws, "part"))
    full, part = ckpt_io.load(ws.runs / "full/checkpoints/last.pt"), ckpt_io.load(ws.runs / "part/checkpoints/last.pt")
    assert full["optimizer"]["state"].keys() == part["optimizer"]["state"].keys()
    for k in full["optimizer"]["state"]:
        assert torch.equal(full["optimizer"]["state"][k]["exp_avg"], part["optimizer"]["state"][k]["exp_avg"])
    assert full["scheduler"] == part["scheduler"]
    drop = ("seconds", "pairs_per_s", "val_seconds")
    assert [{k: v for k, v in e.items() if k not in drop} for e in history(ws, "full")] == \
           [{k: v for k, v in e.items() if k not in drop} for e in history(ws, "part")]
    saved = json.loads((ws.runs / "part" / "config.json").read_text())
    assert saved["epochs"] == 3 and saved["seed"] == 3


def test_missing_features_are_skipped_with_a_count_or_fail_with_strict(syn):
    ws, ids = syn
    extra = [("g0-0", "not-extracted-1"), ("not-extracted-2", "g1-0"), ("nope-3", "nope-4")]
    report = run(ws, tiny("skip", epochs=1), source=GroupPairs(ids, extra))
    assert report.counts["skipped_train_pairs"] == 3
    assert report.counts["skipped_validation_pairs"] == 3
    assert any("lack features" in w for w in report.warnings)
    with pytest.raises(InputError, match=r"3 of \d+ artist (train|validation) pairs .* without features \(--strict\)"):
        run(ws, tiny("strict", epochs=1, strict=True), source=GroupPairs(ids, extra))


def test_nan_loss_is_a_clear_error_and_keeps_the_last_good_checkpoint(syn):
    ws, ids = syn
    run(ws, tiny("nan", epochs=1), source=GroupPairs(ids))
    before = weights(ws, "nan")
    # poison the features of every track: the next epoch's loss cannot be finite
    shard = ws.features / "syn" / "shards" / "00000.f16"
    data = np.memmap(shard, dtype="<f2", mode="r+")
    data[:] = np.nan
    data.flush()
    del data
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 1 step 0.*last good checkpoint"):
        run(ws, tiny("nan", epochs=2), source=GroupPairs(ids), resume=True)
    assert_same_weights(before, weights(ws, "nan"))
    assert len(history(ws, "nan")) == 1


def test_checkpoint_from_another_architecture_is_refused(syn):
    ws, ids = syn
    run(ws, tiny("cnn", epochs=1), source=GroupPairs(ids))
    # warm start of a wider CNN from a width-8 one
    with pytest.raises(CheckpointError, match="another architecture.*embedding_dim"):
        run(ws, tiny("wide", epochs=1, cnn_width=16), source=GroupPairs(ids), init_from="cnn")
    # a checkpoint whose weights do not match its declared backbone
    path = ws.runs / "cnn" / "checkpoints" / "last.pt"
    ck = ckpt_io.load(path)
    ck["arch"] = {**ck["arch"], "backbone": "efficientnet_b0", "embedding_dim": 1280}
    ck["config"] = {**ck["config"], "backbone": "efficientnet_b0"}
    torch.save(ck, path)
    from discogs_tools.train.embed import load_backbone

    with pytest.raises(CheckpointError, match="backbone \\(efficientnet_b0\\) weights do not fit"):
        load_backbone(path)
    with pytest.raises(CheckpointError, match="not a discogs-tools training checkpoint"):
        torch.save({"state_dict": {}}, path)
        ckpt_io.load(path)


def test_swa_writes_an_averaged_checkpoint(syn):
    ws, ids = syn
    report = run(ws, tiny("swa", epochs=3, swa_start=1), source=GroupPairs(ids))
    swa = ckpt_io.load(report.outputs["swa"])
    last = weights(ws, "swa")
    key = "backbone.features.0.weight"
    assert swa["model"][key].shape == last[key].shape
    assert not torch.equal(swa["model"][key], last[key])  # an average of epochs 1 and 2, not the last weights
    assert swa["swa_averaged"] == 2


def test_config_is_frozen_and_round_trips():
    cfg = tiny("x", objective="multitask", associations=("release", "artist"))
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert cfg.weights() == (0.15, 0.6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]
    with pytest.raises(ConfigError, match="unknown objective"):
        tiny("x", objective="byol")
    with pytest.raises(ConfigError, match="one weight per association"):
        tiny("x", objective="multitask", associations=("release", "artist"), task_weights=(1.0,))
