"""Issue 15: manifest.json records the inputs of `features` and `train` (paths, sizes,
fingerprints), and train's report `seconds` is the whole run's time, not the last epoch's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf
from test_train_data import GroupPairs, make_feature_set, write_stored_pairs

from discogs_tools import manifest
from discogs_tools.features.extract import run as features_run
from discogs_tools.io import write_table
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.data import Pairs, ParquetPairSource
from discogs_tools.train.loop import run as train_run

SCHEMA = pa.schema([("track_id", pa.string()), ("path", pa.string()), ("duration_s", pa.float64())])


def write_audio_collection(ws, folder: Path, n: int = 3) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"t{i}.wav"
        t = np.arange(16000 * 2) / 16000
        sf.write(path, (0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t)).astype(np.float32), 16000)
        paths.append(path)
    rows = [{"track_id": f"t{i}", "path": str(p), "duration_s": 2.0} for i, p in enumerate(paths)]
    write_table(ws.table("collection/tracks"), pa.Table.from_pylist(rows, schema=SCHEMA), schema=SCHEMA)
    return paths


def test_features_records_its_inputs(ws, tmp_path: Path):
    paths = write_audio_collection(ws, tmp_path)
    features_run(ws, "f")
    entry = manifest.get(ws.manifest_path, "features f")
    inputs = {i["name"]: i for i in entry["inputs"]}
    table = inputs["collection/tracks"]
    assert table["path"] == str(ws.table("collection/tracks").resolve())
    assert table["files"] >= 1 and table["bytes"] > 0 and table["fingerprint"].startswith("version:")
    audio = inputs["audio"]
    assert audio["files"] == 3 and audio["missing"] == 0
    assert audio["bytes"] == sum(p.stat().st_size for p in paths)
    first = audio["fingerprint"]
    # the same audio gives the same fingerprint; an edited file gives another
    features_run(ws, "f")
    assert {i["name"]: i for i in manifest.get(ws.manifest_path, "features f")["inputs"]}["audio"]["fingerprint"] == first
    sf.write(paths[1], np.zeros(16000 * 2, np.float32) + 0.1, 16000)
    features_run(ws, "g")
    assert {i["name"]: i for i in manifest.get(ws.manifest_path, "features g")["inputs"]}["audio"]["fingerprint"] != first


@pytest.mark.usefixtures("one_torch_thread")
def test_train_records_features_and_pairs_and_total_seconds(ws):
    ids = make_feature_set(ws.features / "syn", n_groups=4, per_group=4, frames=(40, 60))
    source = GroupPairs(ids)
    write_stored_pairs(ws, "d", "artist", {"train": {e: source.pairs("artist", "train", e) for e in (0, 1)},
                                           "validation": {0: Pairs(["g0-0", "g1-0"], ["g0-1", "g1-1"])}})
    cfg = TrainConfig(run="r", features="syn", objective="cola", associations=("artist",), backbone="small_cnn",
                      cnn_width=8, epochs=3, batch_size=8, crop_frames=16, seed=3, dataset="d")
    report = train_run(ws, cfg, source=ParquetPairSource(ws, "d"))
    entry = manifest.get(ws.manifest_path, "train r")
    inputs = {i["name"]: i for i in entry["inputs"]}
    assert set(inputs) == {"features syn", "pairs artist/train", "pairs artist/validation"}
    features = inputs["features syn"]
    assert features["path"] == str((ws.features / "syn").resolve())
    assert features["files"] >= 2 and features["bytes"] > 0 and features["fingerprint"]
    pairs = inputs["pairs artist/train"]
    assert pairs["path"] == str((ws.dataset("d") / "pairs" / "artist" / "train.parquet").resolve())
    assert pairs["files"] >= 2 and pairs["bytes"] > 0
    history = entry["figures"]
    epochs = [line for line in (ws.runs / "r" / "metrics.jsonl").read_text().splitlines()]
    parts = sum(json.loads(e)["seconds"] + json.loads(e)["val_seconds"] for e in epochs)
    assert len(epochs) == 3
    assert report.figures["seconds"] >= parts          # the whole run, every epoch and its validation
    assert report.figures["last_epoch_seconds"] == pytest.approx(json.loads(epochs[-1])["seconds"])
    assert history["seconds"] == report.figures["seconds"]


@pytest.mark.usefixtures("one_torch_thread")
def test_embed_records_the_feature_set_and_the_checkpoint(ws):
    from discogs_tools.train.embed import run as embed_run

    ids = make_feature_set(ws.features / "syn", n_groups=2, per_group=4, frames=(40, 60))
    cfg = TrainConfig(run="r", features="syn", objective="cola", associations=("artist",), backbone="small_cnn",
                      cnn_width=8, epochs=1, batch_size=4, crop_frames=16, seed=3)
    train_run(ws, cfg, source=GroupPairs(ids))
    embed_run(ws, "r", which="last", device="cpu")
    inputs = {i["name"]: i for i in manifest.get(ws.manifest_path, "embed r")["inputs"]}
    assert set(inputs) == {"features syn", "checkpoint"}
    checkpoint = ws.runs / "r" / "checkpoints" / "last.pt"
    assert inputs["checkpoint"]["path"] == str(checkpoint.resolve())
    assert inputs["checkpoint"]["bytes"] == checkpoint.stat().st_size
    assert inputs["checkpoint"]["checksum"] == manifest.file_checksum(checkpoint)
    assert inputs["features syn"]["fingerprint"] == manifest.describe_table(ws.features / "syn")["fingerprint"]
