"""The torch Datasets over pairs + features and over probe tasks yield the documented shapes
(docs/python-api.md), deterministically, and batch with the default DataLoader."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from discogs_tools.features.store import ShardWriter, write_settings
from discogs_tools.pairs.output import epoch_name, pairs_dir
from discogs_tools.torch_data import PairsDataset, ProbeTaskDataset

MELS = 8
LENGTHS = {"a": 300, "b": 64, "c": 200, "d": 150, "e": 90, "f": 256}


@pytest.fixture
def filled(ws):
    """Features for tracks a..f (frame t of track k holds t in mel 0 and k's index in mel 1)."""
    root = ws.features / "demo"
    write_settings(root, {"n_mels": MELS, "front_end": {"sample_rate": 16000, "hop_size": 256, "n_mels": MELS}})
    (root / "index").mkdir(parents=True)
    writer = ShardWriter(root, 0, MELS)
    for k, (track, frames) in enumerate(LENGTHS.items()):
        mel = np.zeros((frames, MELS), np.float32)
        mel[:, 0] = np.arange(frames)
        mel[:, 1] = k + 1
        writer.add(track, mel)
    writer.commit()
    folder = pairs_dir(ws, "demo", "artist", "train")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"anchor": ["a", "c", "x"], "positive": ["b", "d", "a"]}), folder / epoch_name(0))
    return ws


def test_pairs_dataset_yields_crop_pairs(filled):
    data = PairsDataset(filled.root, "demo", "artist", features="demo", crop_frames=100, seed=1)
    assert len(data) == 2 and data.skipped == 1  # track x has no features
    item = data[0]
    assert item["anchor"].shape == item["positive"].shape == (1, 100, MELS)
    assert item["anchor"].dtype == torch.float32 and (item["anchor_id"], item["positive_id"]) == ("a", "b")
    assert torch.all(item["anchor"][0, :, 1] == 1)  # track a's own frames
    # b (64 frames) is shorter than the crop: zero padded after its frames.
    assert torch.all(item["positive"][0, :64, 1] == 2) and torch.all(item["positive"][0, 64:] == 0)
    # Random windows in train, drawn from seed, epoch and item: the same every time.
    again = PairsDataset(filled, "demo", "artist", features="demo", crop_frames=100, seed=1)
    assert torch.equal(again[0]["anchor"], item["anchor"])
    batch = next(iter(DataLoader(data, batch_size=2)))
    assert batch["anchor"].shape == (2, 1, 100, MELS) and batch["anchor_id"] == ["a", "c"]


def test_probe_task_dataset_splits_as_probe_does(filled, tmp_path):
    manifest = tmp_path / "task.csv"
    rows = [("a", "x", "train"), ("b", "y", "train"), ("c", "x", "train"), ("d", "y", "validation"),
            ("e", "x", "test"), ("f", "y", "test")]
    manifest.write_text("track_id,label,split\n" + "".join(f"{t},{lab},{s}\n" for t, lab, s in rows))
    train = ProbeTaskDataset(filled.root, manifest, "train", features="demo", crop_frames=50)
    test = ProbeTaskDataset(filled.root, manifest, "test", features="demo", crop_frames=50)
    assert len(train) == 3 and len(test) == 2 and train.classes == ["x", "y"]
    item = test[0]
    assert item["x"].shape == (1, 50, MELS) and item["y"].dtype == torch.int64 and item["track_id"] == "e"
    assert [int(test[i]["y"]) for i in range(2)] == [0, 1]
    # Outside train the crop is the track's centre: e has 90 frames, so frames 20..69.
    assert item["x"][0, 0, 0] == 20 and item["x"][0, -1, 0] == 69

    triplets = tmp_path / "triplets.csv"
    triplets.write_text("anchor,positive,negative,split\na,b,c,train\nc,d,e,validation\nd,f,a,test\n")
    trip = ProbeTaskDataset(filled, triplets, "test", features="demo", crop_frames=32)
    assert len(trip) == 1 and {k: v.shape for k, v in trip[0].items() if k in ("anchor", "positive", "negative")} == {
        "anchor": (1, 32, MELS), "positive": (1, 32, MELS), "negative": (1, 32, MELS)}
