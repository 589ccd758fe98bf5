"""The icassp2023-finetune protocol (seed 004 sec. 5.3.5): random training patches, validation on
the 30 s at the centre and test on the whole track (non-overlapping patches averaged), cyclical
triangular rate, early stop, and end to end on a tiny trained-format checkpoint with its
From Scratch twin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from discogs_tools.errors import ConfigError
from discogs_tools.probe import protocols
from discogs_tools.probe.finetune import (
    centre_window,
    finetune,
    frames_per_second,
    inference_starts,
)
from discogs_tools.probe.run import run
from discogs_tools.train import checkpoint as ckpt_io
from discogs_tools.train.backbones import backbone_from_config
from discogs_tools.train.config import TrainConfig
from test_probe_protocols import write_store as write_feature_set

MELS = 96
SETTINGS = {"n_mels": MELS, "front_end": {"sample_rate": 16000, "hop_size": 256, "n_mels": MELS}}


def test_protocol_settings_are_the_seed():
    config = protocols.get("icassp2023-finetune").config()
    # sec. 5.3.5: L2 1e-5, at most 50 epochs, triangular 1e-5..1e-4, early stop after 10; sec. 5.3.2: head of 128
    assert (config.weight_decay, config.epochs, config.min_learning_rate, config.learning_rate, config.early_stop,
            config.hidden) == (1e-5, 50, 1e-5, 1e-4, 10, 128)
    assert protocols.get("icassp2023-finetune").inputs == "finetune"


def test_validation_takes_30_s_at_the_centre_and_test_the_whole_track_in_non_overlapping_patches():
    fps = frames_per_second(SETTINGS)
    assert fps == 62.5
    length = round(30 * fps)                                        # 1875 frames
    first, end = centre_window(5000, length)
    assert (first, end) == ((5000 - 1875) // 2, (5000 - 1875) // 2 + 1875)
    assert inference_starts(5000, 128, (first, end)) == list(range(first, end - 127, 128))
    assert len(inference_starts(5000, 128, (first, end))) == 1875 // 128
    assert centre_window(1000, length) == (0, 1000)                   # shorter: the whole track
    assert inference_starts(1000, 128) == [0, 128, 256, 384, 512, 640, 768]  # non-overlapping, whole track
    assert inference_starts(90, 128) == [0]                           # one zero-padded patch


class MeanBackbone(torch.nn.Module):
    """A trainable toy backbone: a linear map of the patch's mean spectrum."""

    embedding_dim = 4

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(MELS, 4)

    def forward(self, x):
        return self.proj(x[:, 0].mean(dim=1))


def write_store(root, tracks):
    return write_feature_set(root, tracks, SETTINGS)


@pytest.fixture
def grouped(tmp_path):
    """60 tracks of two groups (band 3 louder in group 1); labels up/down by group, coin random."""
    rng = np.random.default_rng(0)
    tracks, lines = {}, ["track_id,labels"]
    for i in range(60):
        group = i % 2
        mel = rng.normal(0, 1.0, (int(rng.integers(100, 300)), MELS)).astype(np.float32)
        mel[:, 3] += 2.0 * group
        tracks[f"t{i:03d}"] = mel
        lines.append(f't{i:03d},"{"up" if group else "down"}{",coin" if rng.random() < 0.5 else ""}"')
    store = write_store(tmp_path / "feat", tracks)
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    return tmp_path, store


def test_training_crops_are_random_per_epoch_and_the_rate_is_triangular(grouped):
    _, store = grouped
    ids = store.track_ids
    pos = {"train": store.positions(ids[:40]), "validation": store.positions(ids[40:50]),
           "test": store.positions(ids[50:])}
    y = np.array([[i % 2, 1 - i % 2] for i in range(60)], np.float32)
    ys = {"train": y[:40], "validation": y[40:50], "test": y[50:]}
    config = protocols.get("icassp2023-finetune").config(epochs=6, batch_size=10, cycle_epochs=1)
    trace = []
    result = finetune(MeanBackbone, store, pos, ys, multilabel=True, n_classes=2, config=config, seed=3,
                      score=lambda a, b: -abs(float(b[:, 0].mean()) - 0.5), trace=trace)
    offsets = np.array(trace)
    frames = store.frames[pos["train"]]
    assert offsets.shape == (6, 40) and (offsets >= 0).all() and (offsets <= np.maximum(frames - 128, 0)).all()
    assert (offsets[:, frames <= 128] == 0).all()                     # a short track: its one padded patch
    assert len({tuple(o) for o in offsets}) == 6                       # re-drawn every epoch
    assert len(np.unique(offsets % 64)) > 10                           # any offset, not a grid
    # half a cycle = one epoch (4 steps): the rate climbs from 1e-5 to 1e-4 during epoch 0, is back
    # at 1e-5 at the end of epoch 1, ... (sampled at each epoch's end)
    assert [h["learning_rate"] for h in result.history] == pytest.approx([1e-4, 1e-5] * 3)
    assert result.test_scores.shape == (10, 2)
    again = []
    finetune(MeanBackbone, store, pos, ys, multilabel=True, n_classes=2, config=config, seed=3,
             score=lambda a, b: 0.0, trace=again)
    assert np.array_equal(np.array(again)[:1], offsets[:1])           # seeded


def test_early_stop_after_ten_epochs_without_a_better_validation_score(grouped):
    _, store = grouped
    ids = store.track_ids
    pos = {"train": store.positions(ids[:20]), "validation": store.positions(ids[20:30]),
           "test": store.positions(ids[30:40])}
    y = np.array([[i % 2] for i in range(40)], np.float32)
    ys = {"train": y[:20], "validation": y[20:30], "test": y[30:40]}
    result = finetune(MeanBackbone, store, pos, ys, multilabel=True, n_classes=1,
                      config=protocols.get("icassp2023-finetune").config(batch_size=10), seed=0,
                      score=lambda a, b: 0.5)                          # never better than the first epoch
    assert result.best_epoch == 0 and len(result.history) == 11


def save_checkpoint(path):
    cfg = TrainConfig(run="tiny", features="feat", backbone="small_cnn", cnn_width=4, seed=1)
    torch.manual_seed(0)
    backbone = backbone_from_config(cfg)
    ckpt_io.save(path, {"config": cfg.to_dict(), "model": {f"backbone.{k}": v for k, v in backbone.state_dict().items()}})
    return path


def test_probe_with_icassp2023_finetune_and_from_scratch(grouped, ws):
    root, _ = grouped
    model = save_checkpoint(root / "tiny.pt")
    config = protocols.get("icassp2023-finetune").config(epochs=4, batch_size=16, learning_rate=1e-2,
                                                         min_learning_rate=1e-3)
    report = run(root / "tags.csv", workspace=ws, models=[model], features=str(root / "feat"),
                 protocol="icassp2023-finetune", config=config, seeds=1, plot=False)
    results = json.loads(Path(report.outputs["results"]).read_text())
    assert results["params"]["protocol"]["name"] == "icassp2023-finetune"
    assert results["params"]["protocol"]["from_scratch"] is False
    tuned, scratch = results["models"]
    assert (tuned["role"], scratch["role"]) == ("model", "baseline")
    assert (tuned["sources"][0]["random_init"], scratch["sources"][0]["random_init"]) == (False, True)
    assert tuned["per_class"]["up"]["roc_auc"]["mean"] > 0.8

    report = run(root / "tags.csv", workspace=ws, models=[model], features=str(root / "feat"), name="scratch",
                 protocol="icassp2023-finetune", config=config, seeds=1, plot=False, from_scratch=True)
    results = json.loads(Path(report.outputs["results"]).read_text())
    assert [m["sources"][0]["random_init"] for m in results["models"]] == [True]
    assert results["params"]["protocol"]["from_scratch"] is True
    with pytest.raises(ConfigError, match="--from-scratch fine-tunes a random initialisation"):
        run(root / "tags.csv", workspace=ws, models=[model], features=str(root / "feat"), from_scratch=True)
