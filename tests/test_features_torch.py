"""The torch mel front end (CPU here; the same code runs on a GPU) against the numpy/Essentia-exact
front end, and the stereo downmix of load_audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from discogs_tools.features.audio import downmix, load_audio
from discogs_tools.features.mel import MelFrontEnd, log_mel
from discogs_tools.features.mel_torch import TorchMel
from test_features import music_like


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_downmix_equals_the_channel_mean(channels: int):
    data = np.random.default_rng(channels).uniform(-1, 1, size=(10_001, channels)).astype(np.float32)
    mono = downmix(data)
    assert mono.dtype == np.float32 and mono.shape == (10_001,)
    assert np.array_equal(mono, data.mean(axis=1, dtype=np.float32))


def test_load_audio_stereo_is_the_channel_mean(tmp_path: Path):
    rng = np.random.default_rng(3)
    stereo = rng.uniform(-0.5, 0.5, size=(16000 * 2, 2)).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 16000, subtype="FLOAT")
    assert np.array_equal(load_audio(tmp_path / "s.wav").signal, stereo.mean(axis=1))


@pytest.mark.parametrize("seconds", [0.01, 1.0, 3.1, 7.77])
def test_torch_mel_matches_numpy_front_end(seconds: float):
    pytest.importorskip("torch")
    x = music_like(seconds, seed=int(seconds * 100))
    ref = log_mel(x)
    got = TorchMel(MelFrontEnd(), device="cpu")(x)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-3


def test_torch_mel_batch_equals_one_by_one_and_blocks_are_seamless():
    pytest.importorskip("torch")
    signals = [music_like(s, seed=i) for i, s in enumerate((0.5, 2.3, 1.1))]
    mel = TorchMel(MelFrontEnd(), device="cpu", block_frames=37)  # blocks cut inside tracks
    batch = mel.batch(signals)
    for x, got in zip(signals, batch):
        assert np.abs(got - log_mel(x)).max() < 1e-3
        assert np.abs(got - TorchMel(MelFrontEnd(), device="cpu")(x)).max() < 1e-5


def test_features_stage_with_torch_mel_and_the_gpu_path_on_cpu(ws, tmp_path: Path):
    """``--mel torch`` gives the numpy run's features within 1e-3; the GPU path (decode in worker
    processes, mel batched in this process, run here on the CPU) writes the same shard."""
    from concurrent.futures import ProcessPoolExecutor

    from discogs_tools.features.extract import compute_unit, device_unit, run
    from discogs_tools.features.store import FeatureStore
    from test_features import write_collection

    write_collection(ws, tmp_path)
    report = run(ws, "t", tracks_per_shard=3, mel="torch", device="cpu")
    assert report.counts["written"] == 7 and report.counts["rejected"] == 3
    run(ws, "n", tracks_per_shard=3, mel="numpy")
    a, b = FeatureStore(ws.features / "t"), FeatureStore(ws.features / "n")
    assert a.track_ids == b.track_ids
    for t in a.track_ids:  # stored float16: a 1e-5 difference may round to the neighbouring float16
        x, y = a.get(t).astype(np.float32), b.get(t).astype(np.float32)
        assert np.all(np.abs(x - y) <= np.spacing(np.maximum(np.abs(x), np.abs(y)).astype(np.float16)))
        assert np.mean(x != y) < 0.01

    items = [(f"t{i}", str(tmp_path / name)) for i, name in enumerate(("t0.wav", "t1.flac", "broken.wav", "t2.ogg"))]
    root = tmp_path / "units"
    (root / "index").mkdir(parents=True)
    one = compute_unit(str(root), 0, items, None, MelFrontEnd(), "torch")
    mel = TorchMel(MelFrontEnd(), device="cpu", block_frames=100)  # several flushes per unit
    with ProcessPoolExecutor(2) as pool:
        two = device_unit(str(root), 1, items, None, mel, pool, 2)
    assert one["written"] == two["written"] == 3 and [r["kind"] for r in two["rejects"]] == ["corrupt"]
    assert (root / "shards" / "00000.f16").read_bytes() == (root / "shards" / "00001.f16").read_bytes()


def test_unknown_mel_backend_is_a_config_error(ws):
    from discogs_tools.errors import ConfigError
    from discogs_tools.features.extract import run

    with pytest.raises(ConfigError, match="--mel"):
        run(ws, "x", mel="fast")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_corrupt_and_quiet_audio_is_silent(tmp_path: Path, bad: float):
    from discogs_tools.features.audio import AudioError

    x = music_like(1.0)
    x[8000] = bad
    sf.write(tmp_path / "bad.wav", np.stack([x, x], 1), 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "bad.wav")
    assert err.value.kind == "corrupt"
    sf.write(tmp_path / "quiet.wav", np.full(16000, -1e-6, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "quiet.wav")
    assert err.value.kind == "silent"
