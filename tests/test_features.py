"""The features stage: mel front end against Essentia, decoding, shards + index, resume, rejects, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError
from discogs_tools.features.audio import load_audio
from discogs_tools.features.extract import run
from discogs_tools.features.mel import log_mel, n_frames
from discogs_tools.features.store import FeatureStore
from discogs_tools.io import read_table, write_table

TRACKS_SCHEMA = pa.schema([("track_id", pa.string()), ("path", pa.string()), ("duration_s", pa.float64())])


def music_like(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Harmonic notes with decaying envelopes, a chirp and some noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.05 * rng.standard_normal(len(t))
    for k, f0 in enumerate((220.0, 330.0, 440.0, 587.3)):
        env = np.exp(-3 * ((t - k * 0.4) % 1.6))
        for h in range(1, 6):
            x += env * 0.2 / h * np.sin(2 * np.pi * f0 * h * t)
    x += 0.1 * np.sin(2 * np.pi * (500 + 3000 * t / seconds) * t)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def test_mel_agrees_with_essentia_tensorflow_input_musicnn():
    es = pytest.importorskip("essentia.standard")
    x = music_like(3.1)
    ref = np.array([es.TensorflowInputMusiCNN()(frame)
                    for frame in es.FrameGenerator(x, frameSize=512, hopSize=256)])
    ours = log_mel(x)
    assert ours.shape == ref.shape == (n_frames(len(x)), 96)
    assert np.abs(ours - ref).max() < 1e-3


def test_decode_downmix_resample_and_centre_crop(tmp_path: Path):
    sr = 44100
    left = np.sin(2 * np.pi * 1000 * np.arange(sr * 4) / sr).astype(np.float32) * 0.5
    stereo = np.stack([left, np.zeros_like(left)], 1)
    stereo[sr * 2 - 100: sr * 2 + 100, 1] = 0.9  # a click in the middle of the right channel
    sf.write(tmp_path / "a.flac", stereo, sr)
    full = load_audio(tmp_path / "a.flac")
    assert len(full.signal) == 16000 * 4 and full.source_rate == sr
    assert abs(np.sqrt(np.mean(full.signal[1000:8000] ** 2)) - 0.25 / np.sqrt(2)) < 0.01  # mono = mean
    spectrum = np.abs(np.fft.rfft(full.signal[:16000]))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 kHz survives resampling at 1 Hz resolution
    crop = load_audio(tmp_path / "a.flac", crop_s=1.0)
    assert len(crop.signal) == 16000 and abs(crop.offset_s - 1.5) < 1e-3
    assert crop.signal.max() > 0.4  # the centre click is inside the centre crop


def write_collection(ws, folder: Path) -> list[str]:
    rows = []
    for i in range(7):
        sr = (16000, 22050, 44100)[i % 3]
        ext = ("wav", "flac", "ogg")[i % 3]
        path = folder / f"t{i}.{ext}"
        sf.write(path, music_like(2.0 + i * 0.25, sr, seed=i), sr)
        rows.append({"track_id": f"t{i}", "path": str(path), "duration_s": 2.0 + i * 0.25})
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    sf.write(folder / "silent.wav", np.zeros(16000, np.float32), 16000)
    rows += [{"track_id": "broken", "path": str(folder / "broken.wav"), "duration_s": 1.0},
             {"track_id": "silent", "path": str(folder / "silent.wav"), "duration_s": 1.0},
             {"track_id": "gone", "path": str(folder / "gone.wav"), "duration_s": 1.0}]
    write_table(ws.table("collection/tracks"), pa.Table.from_pylist(rows, schema=TRACKS_SCHEMA), schema=TRACKS_SCHEMA)
    return [r["track_id"] for r in rows]


def test_features_shards_index_rejects_and_resume(ws, tmp_path: Path):
    write_collection(ws, tmp_path)
    report = run(ws, "f", tracks_per_shard=3)
    c = report.counts
    assert c["tracks_in"] == 10 and c["written"] == 7 and c["rejected"] == 3
    assert c["tracks_in"] == c["already_done"] + c["written"] + c["rejected"]
    assert c["rejected_corrupt"] == 1 and c["rejected_silent"] == 1 and c["rejected_missing"] == 1
    rejects = (ws.rejects / "features" / "f.jsonl").read_text()
    assert "broken" in rejects and "silent" in rejects and "gone" in rejects
    index = read_table(ws.features / "f" / "index")
    assert index.schema.field("shard").type == pa.int32() and index.num_rows == 7
    store = FeatureStore(ws.features / "f")
    assert sorted(store.shards.tolist()) == [0, 0, 0, 1, 1, 1, 2]
    # stored float16 equals the front end on the decoded signal, up to float16 rounding
    decoded = load_audio(tmp_path / "t4.flac").signal
    expected = log_mel(decoded)
    got = store.get("t4").astype(np.float32)
    assert got.shape == expected.shape and np.abs(got - expected).max() < 5e-3
    # resume: nothing recomputed, identical files
    before = {p.name: p.read_bytes() for p in (ws.features / "f" / "shards").iterdir()}
    again = run(ws, "f", tracks_per_shard=3)
    assert again.counts["already_done"] == 7 and again.counts["written"] == 0
    assert {p.name: p.read_bytes() for p in (ws.features / "f" / "shards").iterdir()} == before
    # an interrupted run's orphan shard is cleaned up, and a lost index part is recomputed
    (ws.features / "f" / "index" / "part-00002.parquet").unlink()
    (ws.features / "f" / "shards" / ".00009.f16.tmp-1-x").write_bytes(b"junk")
    third = run(ws, "f", tracks_per_shard=3)
    assert third.counts["written"] == 1 and third.counts["already_done"] == 6
    assert not list((ws.features / "f" / "shards").glob(".*"))
    assert np.array_equal(FeatureStore(ws.features / "f").get("t6"), store.get("t6"))
    with pytest.raises(ConfigError, match="other settings"):
        run(ws, "f", crop_s=1.0)


def test_parallel_workers_give_the_same_features(ws, tmp_path: Path):
    write_collection(ws, tmp_path)
    run(ws, "serial", tracks_per_shard=2)
    report = run(ws, "parallel", tracks_per_shard=2, workers=2)
    assert report.counts["written"] == 7
    a, b = FeatureStore(ws.features / "serial"), FeatureStore(ws.features / "parallel")
    assert a.track_ids == b.track_ids
    for t in a.track_ids:
        assert np.array_equal(a.get(t), b.get(t))


def test_cli_features_with_centre_crop(ws, tmp_path: Path):
    write_collection(ws, tmp_path)
    res = CliRunner().invoke(app, ["features", "--name", "c", "--crop-s", "1.5", "--workspace", str(ws.root)])
    assert res.exit_code == 0, res.output
    assert "rejected: 3" in res.output
    store = FeatureStore(ws.features / "c")
    assert set(store.frames.tolist()) == {n_frames(24000)}
