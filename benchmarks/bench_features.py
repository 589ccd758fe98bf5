"""Benchmark of the ``features`` stage (not a test): audio seconds per wall second and peak RSS.

Writes ``--tracks`` synthetic music-like files (``--seconds`` long, 44.1 kHz stereo FLAC, so
decoding, downmix and resampling are all exercised) under .bench/features/ (git-ignored,
reused), then runs the stage from scratch with ``--workers`` processes, optionally with a centre
crop. Also times the mel front end alone on a 16 kHz signal.

    python benchmarks/bench_features.py --tracks 40 --seconds 60 --workers 2
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench" / "features"
sys.path.insert(0, str(ROOT))

from discogs_tools.features.extract import run  # noqa: E402
from discogs_tools.features.mel import log_mel  # noqa: E402
from discogs_tools.io import write_table  # noqa: E402
from discogs_tools.workspace import Workspace  # noqa: E402


def synth(seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.05 * rng.standard_normal(len(t))
    for k, f0 in enumerate(rng.uniform(110, 880, 4)):
        x += np.exp(-3 * ((t - k * 0.4) % 1.6)) * 0.2 * np.sin(2 * np.pi * f0 * t)
    x = (0.5 * x / np.abs(x).max()).astype(np.float32)
    return np.stack([x, x[::-1]], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tracks", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--crop-s", type=float, default=None)
    args = ap.parse_args()
    import soundfile as sf

    audio = BENCH / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(args.tracks):
        path = audio / f"t{i:05d}-{int(args.seconds)}s.flac"
        if not path.exists():
            sf.write(path, synth(args.seconds, 44100, i), 44100)
        rows.append({"track_id": f"t{i:05d}", "path": str(path), "duration_s": args.seconds})
    ws = Workspace(BENCH / "workspace").ensure()
    schema = pa.schema([("track_id", pa.string()), ("path", pa.string()), ("duration_s", pa.float64())])
    write_table(ws.table("collection/tracks"), pa.Table.from_pylist(rows, schema=schema), schema=schema)
    shutil.rmtree(ws.features / "bench", ignore_errors=True)

    signal = synth(60, 16000, 0)[:, 0]
    t0 = time.perf_counter()
    for _ in range(5):
        log_mel(signal)
    mel_rate = 5 * 60 / (time.perf_counter() - t0)

    report = run(ws, "bench", workers=args.workers, crop_s=args.crop_s, tracks_per_shard=8)
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"features: {report.counts['written']} tracks x {args.seconds:.0f} s (44.1 kHz stereo FLAC), "
          f"workers {args.workers}, crop {args.crop_s}")
    print(f"  wall {report.figures['seconds']:.2f} s, {report.figures['audio_seconds_per_second']:.1f} "
          f"audio s / wall s (decode + resample + mel)")
    print(f"  mel front end alone: {mel_rate:.0f} audio s / s (one core)")
    print(f"  peak RSS: main {rss_self:.0f} MB, largest worker {rss_kids:.0f} MB")


if __name__ == "__main__":
    main()
