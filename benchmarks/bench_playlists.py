"""Benchmark of the playlist stages on synthetic MPD-shaped data (not a test).

Generates MPD slices (mean length 66, lengths 5-250, Zipf-like popularity; see
discogs_tools/playlists/synthetic.py) under .bench/playlists/ (git-ignored, reused across runs)
and reports, each with wall time and peak RSS:

* ingest: MB/s of JSON and playlists/s (``--playlists``, default 100k, all cores);
* top-10 co-occurrence on the ingested tables;
* co-occurrence at a larger size (``--cooc-playlists``, e.g. 1000000) on a playlist_tracks
  table written directly from numpy (no JSON), to test the MPD-size target;
* Word2Vec tokens/s (``--w2v-playlists`` first playlists, few epochs).

Each stage runs in a fresh child process so that peak RSS (``ru_maxrss`` of the process and
of its own workers) is per stage.

    python benchmarks/bench_playlists.py --playlists 100000 --cooc-playlists 1000000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench" / "playlists"


def _cpu_s() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(me.ru_utime + me.ru_stime, 2), round(kids.ru_utime + kids.ru_stime, 2)


def _rss_mb() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(me, 1), round(kids, 1)


def _stage(name: str, queue: multiprocessing.Queue, args: dict) -> None:
    from discogs_tools.workspace import Workspace

    ws = Workspace(Path(args["workspace"]))
    start = time.perf_counter()
    out: dict = {"stage": name}
    if name == "ingest":
        from discogs_tools.playlists import ingest

        report = ingest.run([Path(args["slices"])], ws, workers=args["workers"], checksum=args["checksum"])
        out.update(report.counts)
        out["input_mb"] = round(sum(p.stat().st_size for p in Path(args["slices"]).glob("*.json")) / 1e6, 1)
    elif name == "cooccurrence":
        from discogs_tools.playlists import cooccurrence

        report = cooccurrence.run(ws, top_k=10, workers=args["workers"])
        out.update(report.counts)
        out["index_seconds"] = report.figures["index_seconds"]
    elif name == "word2vec":
        from discogs_tools.playlists import word2vec

        params = word2vec.Word2VecParams(vector_size=100, epochs=args["epochs"], workers=args["w2v_workers"])
        report = word2vec.run(ws, name="bench", params=params)
        out.update(report.counts)
        out["window"] = report.figures["window"]
        out["train_tokens_per_s"] = report.figures["tokens_per_s"]
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["peak_rss_mb_main"], out["peak_rss_mb_workers"] = _rss_mb()
    out["cpu_s_main"], out["cpu_s_workers"] = _cpu_s()
    queue.put(out)


def run_stage(name: str, **args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_stage, args=(name, queue, args))
    proc.start()
    result = queue.get()
    proc.join()
    print(json.dumps(result), flush=True)
    return result


def ensure_slices(n_playlists: int, seed: int) -> Path:
    from discogs_tools.playlists import synthetic

    folder = BENCH / f"mpd-{n_playlists}-seed{seed}"
    marker = folder / ".complete"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        for _ in synthetic.mpd_slices(folder, n_playlists, seed):
            pass
        marker.write_text("ok")
        print(f"generated {n_playlists} playlists in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return folder


def write_entries_table(workspace: Path, n_playlists: int, seed: int) -> None:
    """playlists/playlist_tracks for n playlists straight from numpy (no JSON parsing)."""
    import numpy as np
    import pyarrow as pa

    from discogs_tools.io import TableWriter
    from discogs_tools.playlists import synthetic
    from discogs_tools.workspace import Workspace

    ws = Workspace(workspace)
    lengths, tracks = synthetic.entries(n_playlists, seed)
    offsets = np.r_[0, np.cumsum(lengths)]
    with TableWriter(ws.table("playlists/playlist_tracks"), "playlists/playlist_tracks") as writer:
        step = 20_000
        for first in range(0, n_playlists, step):
            last = min(first + step, n_playlists)
            lo, hi = offsets[first], offsets[last]
            pids = np.repeat(np.arange(first, last), lengths[first:last]).astype(str)
            pos = np.arange(hi - lo) - np.repeat(offsets[first:last] - lo, lengths[first:last])
            keys = pa.array(np.char.add("spotify:track:", tracks[lo:hi].astype(str)))
            writer.write(pa.table({"playlist_id": pa.array(pids), "pos": pa.array(pos.astype(np.int32)),
                                   "track_key": keys}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=100_000)
    parser.add_argument("--cooc-playlists", type=int, default=0, help="extra co-occurrence run at this size")
    parser.add_argument("--w2v-playlists", type=int, default=10_000)
    parser.add_argument("--w2v-epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="0 = all cores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-checksum", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ingest", "cooccurrence", "word2vec"])
    args = parser.parse_args()
    workers = args.workers or None

    slices = ensure_slices(args.playlists, args.seed)
    ws = BENCH / f"ws-{args.playlists}"
    if "ingest" not in args.skip:
        r = run_stage("ingest", workspace=str(ws), slices=str(slices), workers=workers,
                      checksum=not args.no_checksum)
        # On a shared machine wall time depends on the load; CPU seconds do not. With 2 cores the
        # wall time cannot go below max(main CPU, all CPU / 2).
        bound = max(r["cpu_s_main"], (r["cpu_s_main"] + r["cpu_s_workers"]) / 2)
        print(f"ingest: {r['input_mb'] / r['seconds']:.1f} MB/s of JSON (wall), {r['playlists'] / r['seconds']:,.0f} "
              f"playlists/s; CPU main {r['cpu_s_main']} s + workers {r['cpu_s_workers']} s -> "
              f"{r['input_mb'] / bound:.1f} MB/s on 2 idle cores; peak RSS main {r['peak_rss_mb_main']} MB / "
              f"worker {r['peak_rss_mb_workers']} MB")
    if "cooccurrence" not in args.skip:
        r = run_stage("cooccurrence", workspace=str(ws), workers=workers)
        print(f"co-occurrence top-10 ({args.playlists} playlists): {r['seconds']} s, peak RSS main "
              f"{r['peak_rss_mb_main']} MB / worker {r['peak_rss_mb_workers']} MB")
    if args.cooc_playlists:
        big = BENCH / f"ws-cooc-{args.cooc_playlists}"
        if not (big / "tables" / "playlists" / "playlist_tracks").is_dir():
            write_entries_table(big, args.cooc_playlists, args.seed)
        r = run_stage("cooccurrence", workspace=str(big), workers=workers)
        print(f"co-occurrence top-10 ({args.cooc_playlists} playlists): {r['seconds']} s, peak RSS main "
              f"{r['peak_rss_mb_main']} MB / worker {r['peak_rss_mb_workers']} MB")
    if "word2vec" not in args.skip:
        small = BENCH / f"ws-w2v-{args.w2v_playlists}"
        if not (small / "tables" / "playlists" / "playlist_tracks").is_dir():
            write_entries_table(small, args.w2v_playlists, args.seed)
        r = run_stage("word2vec", workspace=str(small), epochs=args.w2v_epochs, w2v_workers=1)
        print(f"word2vec ({args.w2v_playlists} playlists, window {r['window']}, 1 worker): "
              f"{r['train_tokens_per_s']:,.0f} tokens/s")


if __name__ == "__main__":
    main()
