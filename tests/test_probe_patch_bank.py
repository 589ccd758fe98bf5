"""The ismir2022 patch bank on disk: written atomically, memory-mapped, read in bounded chunks by
training, validation and test (a full MTG-Jamendo bank is ~65 GB), reused while its inputs are
unchanged, and giving the same probe as an in-memory bank."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from discogs_tools.features.store import FeatureStore
from discogs_tools.probe import patches as patches_mod
from discogs_tools.probe.backbone import resolve_source
from discogs_tools.probe.mlp import ProbeConfig
from discogs_tools.probe.patches import (
    PatchBank,
    bank_key,
    cached_patch_embedder,
    embed_patches,
    load_bank,
    stack_banks,
    train_patch_classifier,
)
from discogs_tools.probe.run import run

from test_probe_finetune import save_checkpoint
from test_probe_protocols import StartBackbone, ramps, write_store  # noqa: F401  (fixture)


class RecordingArray:
    """An array whose reads are recorded: the largest number of rows one read returned."""

    def __init__(self, values):
        self.values = values
        self.shape = values.shape
        self.largest = 0

    def __getitem__(self, key):
        out = self.values[key]
        self.largest = max(self.largest, len(out))
        return out


def test_a_bank_on_disk_is_memory_mapped_and_trains_the_same_probe(ramps, tmp_path):
    store, _ = ramps
    ids = ["a", "b", "c", "d"]
    memory = embed_patches(StartBackbone(), store, ids, crop_hop=16)
    disk = embed_patches(StartBackbone(), store, ids, crop_hop=16, directory=tmp_path / "banks" / "bank",
                         key={"k": 1})
    assert isinstance(disk.values, np.memmap) and not disk.values.flags.writeable
    assert os.listdir(tmp_path / "banks") == ["bank"]                   # no staging left
    assert disk.ids == memory.ids and np.array_equal(disk.offsets, memory.offsets)
    assert np.array_equal(np.asarray(disk.values), memory.values)
    assert bank_key(tmp_path / "banks" / "bank") == {"k": 1}
    y = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
    config = ProbeConfig(hidden=4, epochs=3, batch_size=2)
    probes = [train_patch_classifier(b, np.arange(4), y, np.arange(4), y, multilabel=True, n_classes=1,
                                     config=config, seed=2, score=lambda a, b: math.nan) for b in (memory, disk)]
    assert np.array_equal(probes[0].predict_tracks([0, 1, 2, 3]), probes[1].predict_tracks([0, 1, 2, 3]))
    (tmp_path / "banks" / "bank" / "starts.npy").write_bytes(b"")    # a damaged bank: one clear error
    with pytest.raises(Exception, match="not a readable patch bank"):
        load_bank(tmp_path / "banks" / "bank")


def test_training_validation_and_test_never_read_more_than_a_chunk(ramps, monkeypatch):
    store, _ = ramps
    bank = embed_patches(StartBackbone(), store, ["a", "b", "c", "d"], crop_hop=16)
    assert bank.rows > 20
    monkeypatch.setattr(patches_mod, "CHUNK_ROWS", 5)
    recording = RecordingArray(bank.values)
    watched = PatchBank(bank.ids, (recording,), bank.offsets, bank.starts, bank.patch, bank.crop_hop)
    y = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
    probe = train_patch_classifier(watched, np.arange(4), y, np.arange(4), y, multilabel=True, n_classes=1,
                                   config=ProbeConfig(hidden=4, epochs=2, batch_size=3), seed=0,
                                   score=lambda a, b: 0.5)
    probe.predict_tracks([0, 1, 2, 3])
    means = watched.track_means()
    assert recording.largest == 5                                      # chunks of CHUNK_ROWS, batches of 3
    assert np.allclose(means, bank.track_means())
    # the streamed standardiser equals numpy's over all train patches
    rows, _ = bank.track_rows(np.arange(4))
    mean, scale = patches_mod.streamed_standardiser(watched, rows, ProbeConfig())
    assert np.allclose(mean, bank.values[rows].mean(axis=0), atol=1e-5)
    expected = bank.values[rows].std(axis=0)
    expected[expected < 1e-8] = 1.0
    assert np.allclose(scale, expected, atol=1e-4)


def test_a_stack_reads_each_backbones_rows_side_by_side_without_copying(ramps):
    store, _ = ramps
    one = embed_patches(StartBackbone(), store, ["a", "b", "c"], crop_hop=32)
    two = embed_patches(StartBackbone(), store, ["a", "b", "c"], crop_hop=32)
    two.parts[0][:] *= -1
    stacked = stack_banks([one, two])
    assert stacked.dim == 2 * one.dim and stacked.parts[0] is one.values
    rows = np.array([5, 0, 3])
    assert np.array_equal(stacked.read(rows), np.hstack([one.values[rows], two.values[rows]]))
    with pytest.raises(ValueError, match="read rows with PatchBank.read"):
        stacked.values


def test_the_default_embedder_keeps_banks_on_disk_and_reuses_them_while_inputs_are_unchanged(tmp_path, ws,
                                                                                              monkeypatch):
    rng = np.random.default_rng(0)
    write_store(tmp_path / "feat", {f"t{i}": rng.normal(size=(150 + 20 * i, 96)).astype(np.float32)
                                    for i in range(6)})
    model = save_checkpoint(tmp_path / "tiny.pt")
    source = resolve_source(str(model), ws)
    embed = cached_patch_embedder(tmp_path / "cache")
    built = []
    real = patches_mod.embed_patches
    monkeypatch.setattr(patches_mod, "embed_patches", lambda *a, **k: built.append(k["directory"]) or real(*a, **k))
    ids = [f"t{i}" for i in range(6)]
    first = embed(source, tmp_path / "feat", ids, None, 64)
    again = embed(source, tmp_path / "feat", ids, None, 64)
    twin = embed(source, tmp_path / "feat", ids, 7, 64)
    assert len(built) == 2 and built[0] != built[1]                    # the model and its random twin, once each
    assert isinstance(again.values, np.memmap) and np.array_equal(np.asarray(first.values), np.asarray(again.values))
    assert not np.allclose(np.asarray(first.values), np.asarray(twin.values))
    torch.manual_seed(5)                                               # a retrained checkpoint: rebuilt
    save_checkpoint(model)
    os.utime(model, ns=(1, 1))
    embed(source, tmp_path / "feat", ids, None, 64)
    assert len(built) == 3 and built[2] == built[0]                    # in place: one bank per model and grid
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted({d.name for d in built})


def test_probe_ismir2022_end_to_end_with_a_real_checkpoint_keeps_its_banks(tmp_path, ws):
    rng = np.random.default_rng(1)
    tracks, lines = {}, ["track_id,labels"]
    for i in range(60):
        mel = rng.normal(size=(int(rng.integers(100, 300)), 96)).astype(np.float32)
        mel[:, 1] += 2.0 * (i % 2)
        tracks[f"t{i:02d}"] = mel
        lines.append(f"t{i:02d},{'up' if i % 2 else 'down'}")
    write_store(tmp_path / "feat", tracks)
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    model = save_checkpoint(tmp_path / "tiny.pt")
    from discogs_tools.probe import protocols

    config = protocols.get("ismir2022").config(hidden=8, epochs=2, batch_size=16)
    report = run(tmp_path / "tags.csv", workspace=ws, models=[model], features=str(tmp_path / "feat"),
                 protocol="ismir2022", config=config, seeds=1, plot=False)
    results = json.loads(open(report.outputs["results"]).read())
    banks = sorted((ws.runs / "tiny" / "probe" / "patches").iterdir())
    assert [b.name for b in banks] == ["tiny.feat.hop64.bank", "tiny.random-init-0.feat.hop64.bank"]
    assert all(load_bank(b).rows >= 60 for b in banks)
    assert [m["role"] for m in results["models"]] == ["model", "baseline"]


# --------------------------------------------------------------------------- 5-fold on 1-Hz timestamps


def test_timestamp_grid_is_one_patch_per_second():
    from discogs_tools.probe.patches import timestamp_starts

    # 16 kHz, hop 256: 62.5 frames a second -> starts 0, 62 (62.5 rounds to even), 125, 188, 250
    assert timestamp_starts(400, 128, 62.5) == [0, 62, 125, 188, 250]
    assert timestamp_starts(128 + 250, 128, 62.5)[-1] == 250           # the last patch that fits
    assert timestamp_starts(100, 128, 62.5) == [0]                     # shorter than a patch
    assert timestamp_starts(400, 128, 62.5, rate_hz=2.0)[:3] == [0, 31, 62]


def test_a_timestamp_bank_averages_every_timestamp_at_test(ramps):
    store, lengths = ramps
    bank = embed_patches(StartBackbone(), store, ["a", "b", "c", "d"], rate_hz=1.0)
    for i, t in enumerate(bank.ids):
        rows, _ = bank.eval_rows([i])
        assert bank.values[rows, 0].tolist() == [s + 1.0 for s in
                                                 patches_mod.timestamp_starts(lengths[t], 128, 62.5)]
    assert bank.eval_all and bank.is_eval.all()


def _two_groups(tmp_path, n=40):
    rng = np.random.default_rng(2)
    tracks, lines = {}, ["track_id,label"]
    for i in range(n):
        mel = rng.normal(size=(int(rng.integers(100, 400)), 96)).astype(np.float32)
        mel[:, 1] += 2.0 * (i % 2)
        tracks[f"t{i:02d}"] = mel
        lines.append(f"t{i:02d},{'up' if i % 2 else 'down'}")
    write_store(tmp_path / "feat", tracks)
    (tmp_path / "blobs.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "blobs.csv"


def test_five_fold_on_a_checkpoint_trains_on_one_second_timestamps(tmp_path, ws):
    from discogs_tools.probe import protocols

    manifest = _two_groups(tmp_path)
    model = save_checkpoint(tmp_path / "tiny.pt")
    config = protocols.get("5-fold").config(hidden=8, epochs=2, batch_size=8)
    report = run(manifest, workspace=ws, models=[model], features=str(tmp_path / "feat"), protocol="5-fold",
                 config=config, seeds=1, plot=False)
    results = json.loads(open(report.outputs["results"]).read())
    assert results["params"]["protocol"]["inputs"] == "timestamps" and results["params"]["protocol"]["rate_hz"] == 1.0
    banks = sorted(p.name for p in (ws.runs / "tiny" / "probe" / "patches").iterdir())
    assert banks == ["tiny.feat.1hz.bank", "tiny.random-init-0.feat.1hz.bank"]
    bank = load_bank(ws.runs / "tiny" / "probe" / "patches" / banks[0])
    store = FeatureStore(tmp_path / "feat")
    for i in (0, 7):
        rows = slice(bank.offsets[i], bank.offsets[i + 1])
        frames = int(store.frames[store.position[bank.ids[i]]])
        assert bank.starts[rows].tolist() == patches_mod.timestamp_starts(frames, 128, 62.5)
    assert bank.eval_all
    assert len(results["models"][0]["folds"]) == 5
    assert not any("per-track embeddings" in w for w in report.warnings)


def test_five_fold_on_an_embedding_file_says_it_is_not_on_timestamps(tmp_path, ws):
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = _two_groups(tmp_path)
    rng = np.random.default_rng(0)
    ids = [f"t{i:02d}" for i in range(40)]
    pq.write_table(pa.table({"track_id": ids, "embedding": [list(rng.normal(size=4) + (i % 2)) for i in range(40)]}),
                   tmp_path / "e.parquet")
    from discogs_tools.probe import protocols

    report = run(manifest, workspace=ws, models=[tmp_path / "e.parquet"], protocol="5-fold", seeds=1, plot=False,
                 config=protocols.get("5-fold").config(epochs=2))
    assert any("1-Hz timestamps (seed 004 sec. 3.2.1)" in w and "per-track embeddings" in w for w in report.warnings)


def test_cross_collection_on_a_checkpoint_tests_each_track_on_its_averaged_timestamps(tmp_path, ws, monkeypatch):
    from discogs_tools.probe import run as run_mod

    trained = []
    real = run_mod.train_patch_classifier
    monkeypatch.setattr(run_mod, "train_patch_classifier", lambda bank, *a, **k: trained.append(bank) or real(bank, *a, **k))
    manifest = _two_groups(tmp_path, n=60)
    lines = manifest.read_text().splitlines()
    (tmp_path / "train.csv").write_text("\n".join(lines[:41]) + "\n")
    (tmp_path / "other.csv").write_text("\n".join([lines[0], *lines[41:]]) + "\n")
    model = save_checkpoint(tmp_path / "tiny.pt")
    from discogs_tools.probe import protocols

    report = run(tmp_path / "train.csv", workspace=ws, models=[model], features=str(tmp_path / "feat"),
                 protocol="5-fold", test_collection=tmp_path / "other.csv", seeds=1, plot=False,
                 config=protocols.get("5-fold").config(hidden=8, epochs=3, batch_size=8))
    results = json.loads(open(report.outputs["results"]).read())
    assert results["params"]["protocol"]["inputs"] == "timestamps"
    assert results["dataset"]["test_collection"]["records_scored"] == 20
    assert len(trained) == 2 and all(b.eval_all for b in trained)     # the model and its random twin, on timestamps
    assert 0.0 <= results["models"][0]["summary"]["accuracy"]["mean"] <= 1.0
