"""Benchmark of the ``features`` stage (not a test): audio seconds per wall second and peak RSS.

Writes ``--tracks`` synthetic music-like files (``--seconds`` long, 44.1 kHz stereo FLAC, so
decoding, downmix and resampling are all exercised) under .bench/features/ (git-ignored,
reused), then runs the stage from scratch with ``--workers`` processes, optionally with a centre
crop. Also times the mel front end alone on a 16 kHz signal (numpy and torch, one thread).

The bare reference (``--repeats`` > 0, default 2) is the same work without the toolkit, in the same
invocation, alternating with our run: a process pool of ``--workers`` reading each file with
soundfile, ``(left + right) * 0.5``, soxr HQ to 16 kHz (one BLAS thread per process, as in ours), frames x Hann -> scipy rfft (float32) ->
power -> the 96-band filter bank -> log10(1 + 10000 x), written as float16 to one file per track.
Each side's best of the repeats is kept (a shared machine); the last line reads
``features audio-s/s: ours N, bare M, ratio R`` with the 1-minute load average.

    python benchmarks/bench_features.py --tracks 40 --seconds 60 --workers 2
    python benchmarks/bench_features.py --tracks 16 --seconds 60 --workers 2 --mel torch --repeats 2
"""

from __future__ import annotations

import argparse
import os
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


def bare_track(job: tuple[str, str]) -> float:
    """The bare pipeline on one file: decode, downmix, resample, mel, float16 file; audio seconds."""
    import soundfile as sf
    import soxr
    from scipy import fft as sfft

    from discogs_tools.features.mel import frame_signal, hann_window, mel_filterbank

    path, out = job
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = (data[:, 0] + data[:, 1]) * np.float32(0.5) if data.shape[1] == 2 else data[:, 0]
    x = soxr.resample(mono, sr, 16000, quality="HQ").astype(np.float32, copy=False)
    frames = frame_signal(x)
    weights = mel_filterbank().T.astype(np.float32)
    spec = sfft.rfft(frames * hann_window(), axis=1)
    mel = np.log10(1.0 + 10000.0 * ((spec.real ** 2 + spec.imag ** 2) @ weights))
    with open(out, "wb") as fh:
        fh.write(mel.astype(np.float16).tobytes())
    return len(x) / 16000


def one_blas_thread() -> None:
    """As in our workers: one BLAS thread per process (the processes are the parallelism)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def cpu_now() -> float:
    """User + system CPU seconds of this process and of its reaped children (the pool workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_bare(paths: list[str], workers: int) -> tuple[float, float]:
    """(audio seconds per wall second, per CPU second) of the bare pipeline over ``paths`` with
    ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    out = BENCH / "bare"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    jobs = [(p, str(out / f"{i:05d}.f16")) for i, p in enumerate(paths)]
    t0, c0 = time.perf_counter(), cpu_now()
    with ProcessPoolExecutor(workers, initializer=one_blas_thread) as pool:
        seconds = sum(pool.map(bare_track, jobs, chunksize=1))
    return seconds / (time.perf_counter() - t0), seconds / (cpu_now() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tracks", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--crop-s", type=float, default=None)
    ap.add_argument("--mel", default="auto", choices=("auto", "numpy", "torch"), help="our front end")
    ap.add_argument("--device", default="cpu", help="device of the torch front end (cuda on a GPU machine)")
    ap.add_argument("--tracks-per-shard", type=int, default=4,
                    help="our work unit; small so that a short input balances over the workers like the bare pool")
    ap.add_argument("--repeats", type=int, default=2, help="alternating ours/bare runs (0: no bare reference)")
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
    signal = synth(60, 16000, 0)[:, 0]
    t0 = time.perf_counter()
    for _ in range(5):
        log_mel(signal)
    mel_rate = 5 * 60 / (time.perf_counter() - t0)
    import torch

    torch.set_num_threads(1)
    from discogs_tools.features.mel_torch import TorchMel

    torch_mel = TorchMel()
    torch_mel(signal)
    t0 = time.perf_counter()
    for _ in range(5):
        torch_mel(signal)
    torch_rate = 5 * 60 / (time.perf_counter() - t0)
    device_rate = None
    if args.device != "cpu":  # the GPU front end alone: 32 one-minute signals per call
        gpu_mel = TorchMel(device=args.device)
        signals = [signal] * 32
        gpu_mel.batch(signals)
        t0 = time.perf_counter()
        for _ in range(5):
            gpu_mel.batch(signals)
        device_rate = 5 * 32 * 60 / (time.perf_counter() - t0)

    best_ours = best_bare = ours_cpu = bare_cpu = 0.0
    report = None
    for _ in range(max(args.repeats, 1)):
        shutil.rmtree(ws.features / "bench", ignore_errors=True)
        c0 = cpu_now()
        got = run(ws, "bench", workers=args.workers, crop_s=args.crop_s, tracks_per_shard=args.tracks_per_shard,
                  mel=args.mel, device=args.device)
        ours_cpu = max(ours_cpu, got.figures["audio_seconds"] / (cpu_now() - c0))
        if report is None or got.figures["audio_seconds_per_second"] > best_ours:
            report, best_ours = got, got.figures["audio_seconds_per_second"]
        if args.repeats > 0 and args.crop_s is None:
            wall_rate, cpu_rate = run_bare([r["path"] for r in rows], args.workers)
            best_bare, bare_cpu = max(best_bare, wall_rate), max(bare_cpu, cpu_rate)
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"features: {report.counts['written']} tracks x {args.seconds:.0f} s (44.1 kHz stereo FLAC), "
          f"workers {args.workers}, crop {args.crop_s}, mel {args.mel}, best of {max(args.repeats, 1)}")
    print(f"  wall {report.figures['seconds']:.2f} s, {best_ours:.1f} audio s / wall s (decode + resample + mel)")
    print(f"  mel front end alone (one core): numpy {mel_rate:.0f}, torch {torch_rate:.0f} audio s / s")
    if device_rate is not None:
        print(f"  mel front end alone on {args.device} (batches of 32 one-minute signals, host copies included): "
              f"{device_rate:.0f} audio s / s")
    print(f"  peak RSS: main {rss_self:.0f} MB, largest worker {rss_kids:.0f} MB")
    if best_bare:
        print(f"  per CPU second (all processes): ours {ours_cpu:.1f}, bare {bare_cpu:.1f} audio s, "
              f"ratio {ours_cpu / bare_cpu:.2f}")
        print(f"features audio-s/s: ours {best_ours:.1f}, bare {best_bare:.1f}, ratio {best_ours / best_bare:.2f} "
              f"(load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
