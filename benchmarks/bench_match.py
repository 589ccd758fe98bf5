"""Benchmark of `match --against discogs`: index build and collection tracks per second, peak RSS.

The reference is the bundled 1,000-release dump sample scaled up by :mod:`discogs_tools.match.scaled`:
copy k of every release gets release/master ids shifted by k * 10^8, and its artist names and
about half the words of its titles replaced by words drawn from the sample's own vocabulary
with their frequencies, seeded by copy and original text (a copy repeats names and titles as
often as the sample does; copies do not look like typos of one another). About 9,200 tracks per
copy; 110 copies make about 1M tracks, 1,090 about 10M. The collection is sampled from the
scaled reference and perturbed as in the evaluation (typos, feat., remaster suffixes, ...),
plus 10% tracks that are not in it.

    python benchmarks/bench_match.py --copies 22 110 --collection 5000 --rows-reference

For every size it prints the bare reference (reading the releases and flattening their tracks
in Python, no keys), the index build (tracks/s, block rows per track), with ``--rows-reference``
the first size's build keyed row by row in Python (the keying before the vectorised one, same output),
matching (collection tracks/s, candidates per track) and peak RSS (ru_maxrss) of the build and
of the matching, with the load average, and the build's grouping and blocking phases (by ranges
of keys above 2M rows, :func:`discogs_tools.match.blocking.build_index_tables`); with two or more
sizes, the growth exponents b of time ~ n^b (build wall and CPU time, grouping and blocking,
matching per track) between the last two and the extrapolation to 170M tracks. Builds under 2M
rows take one sort and larger ones the ranges, so the exponent of the ranges alone needs two
sizes above 2M (``--copies 550 1090``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import TableWriter, iter_batches
from discogs_tools.match import evaluate, index, stage
from discogs_tools.match.index import discogs_track_rows
from discogs_tools.match.scaled import shifted, vocabulary
from discogs_tools.match.scoring import MatchConfig
from discogs_tools.resources import sample_data_dir
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace


def _copy_table(args: tuple[list[dict], int, list[str]]) -> pa.Table:
    base, k, vocab = args
    return pa.Table.from_pylist([shifted(r, k, vocab) for r in base], schema=load_schema("discogs/releases"))


def in_child(fn, *args):
    """``fn(*args)`` in a fresh (spawned) process: its result, wall seconds, CPU seconds (the process and
    its workers) and peak RSS in MB of it or of its largest worker (VmHWM: a spawned process does not
    inherit this one's peak)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn, *args):
    t0, c0 = time.perf_counter(), cpu_s()
    result = fn(*args)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest keying worker, if any
    return result, wall, cpu, max(hwm, workers) / 1024


def _build(root: str, way: str, rebuild: bool, threads: int, memory_limit: str | None) -> dict:
    """A full build (the keyed parts of an earlier build removed: the incremental build would reuse them)."""
    index.KEYING = way
    ws = Workspace(Path(root))
    shutil.rmtree(ws.tables / "match" / ".discogs_keys", ignore_errors=True)
    return index.ensure(index.DISCOGS, ws, rebuild=rebuild, threads=threads, memory_limit=memory_limit,
                        workers=threads)


def _match(root: str, chunk_tracks: int, threads: int, memory_limit: str | None) -> tuple[dict, dict]:
    report = stage.run(Workspace(Path(root)), "discogs", MatchConfig(chunk_tracks=chunk_tracks), threads=threads,
                       memory_limit=memory_limit)
    return report.counts, report.figures


def cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its finished children."""
    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_size(args: argparse.Namespace, copies: int, base: list[dict], vocab: list[str]) -> dict:
    """Scale, index and match at one size; returns the measured figures."""
    workdir = Path(args.workdir) / f"copies{copies}"
    ws = Workspace(workdir / "workspace")
    if not (args.keep and ws.has_table("discogs/releases")):
        shutil.rmtree(workdir, ignore_errors=True)
        ws.ensure()
        schema = load_schema("discogs/releases")
        t0 = time.perf_counter()
        with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=50_000) as out, \
                ProcessPoolExecutor(args.threads) as pool:
            for table in pool.map(_copy_table, [(base, k, vocab) for k in range(copies)]):
                out.write(table.cast(schema))
        print(f"[{copies} copies] scaled reference: {out.rows:,} releases in {time.perf_counter() - t0:.1f}s")
    # bare reference: read the releases and flatten their tracks, no keys, no DuckDB
    t0 = time.perf_counter()
    n_bare = sum(1 for b in iter_batches(ws.table("discogs/releases"), columns=["release_id", "master_id", "title",
                                                                              "artists", "tracklist"])
                 for r in b.to_pylist() for _ in discogs_track_rows(r))
    bare_s = time.perf_counter() - t0
    print(f"[{copies} copies] bare reference: {n_bare:,} tracks read and flattened in {bare_s:.1f}s "
          f"({n_bare / bare_s:,.0f} tracks/s); load {load()}")
    if args.rows_reference and copies == args.copies[0]:
        rows_stats, rows_s, rows_cpu, rows_rss = in_child(_build, str(ws.root), "rows", True, args.threads,
                                                          args.memory_limit)
        print(f"[{copies} copies] index keyed row by row (reference): {rows_stats['index_rows']:,} tracks in "
              f"{rows_s:.1f}s ({rows_stats['index_rows'] / rows_s:,.0f} tracks/s), {rows_cpu:.1f} CPU-s, "
              f"peak RSS {rows_rss:,.0f} MB; load {load()}")
    stats, build_s, build_cpu, build_rss = in_child(_build, str(ws.root), "vectorised", True, args.threads,
                                                    args.memory_limit)
    n = stats.get("index_rows", 0)
    print(f"[{copies} copies] index: {n:,} tracks, {stats.get('recordings', 0):,} recordings, "
          f"{stats.get('block_rows', 0):,} block rows ({stats.get('block_rows', 0) / max(1, n):.2f} per track); "
          f"built={stats['built']} in {build_s:.1f}s ({n / build_s:,.0f} tracks/s incl. reading; keying "
          f"{stats.get('keying_seconds', 0):.1f}s, grouping and blocking {stats['seconds'] - stats.get('keying_seconds', 0):.1f}s), "
          f"{build_cpu:.1f} CPU-s; "
          f"peak RSS {build_rss:,.0f} MB; load {load()}")
    if "blocks_seconds" in stats:
        print(f"[{copies} copies] grouping and blocking in {stats['grouping_ranges']} artist-key and "
              f"{stats['block_ranges']} block-key ranges: sample and split {stats['partition_seconds']:.1f}s, "
              f"recordings and rows {stats['grouping_seconds']:.1f}s, block keys {stats['keys_seconds']:.1f}s, "
              f"block table {stats['blocks_seconds']:.1f}s")
    rng = random.Random(0)
    sample, seen = [], 0
    for batch in iter_batches(ws.table("match/discogs_track_index"), columns=["artist", "title", "album",
                                                                              "duration_s"]):
        for row in batch.to_pylist():
            seen += 1
            evaluate._reservoir(sample, row, seen, args.collection, rng)
    rows = []
    for i, track in enumerate(sample):
        derived, _ = evaluate.perturb(track, rng, [])
        if i % 10 == 0:
            derived["title"] = f"Unknown Song {i}"
        rows.append({"track_id": f"t{i:07d}", **derived})
    manifest = workdir / "collection.parquet"
    pq.write_table(pa.Table.from_pylist(rows), manifest)
    collection_ingest.run(manifest, ws)
    (counts, figures), match_s, _, match_rss = in_child(_match, str(ws.root), args.chunk_tracks, args.threads,
                                                        args.memory_limit)
    tracks = counts["tracks"]
    print(f"[{copies} copies] match: {tracks:,} collection tracks in {match_s:.1f}s = {tracks / match_s:,.0f} "
          f"tracks/s; matched {figures['matched_share']:.1%}, {counts['links']:,} links, "
          f"{counts['candidates'] / max(1, tracks):.1f} candidate recordings per track; "
          f"peak RSS of the matching process {match_rss:,.0f} MB; load {load()}")
    return {"n": n, "build_s": build_s, "match_s_per_track": match_s / max(1, tracks),
            "blocking_s": stats["seconds"] - stats.get("keying_seconds", 0), "build_cpu": build_cpu,
            "block_rows": stats.get("block_rows", 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, nargs="+", default=[11, 110],
                    help="copies of the sample per size (110 -> ~1M tracks)")
    ap.add_argument("--collection", type=int, default=5_000, help="collection tracks to match")
    ap.add_argument("--workdir", default="/tmp/bench_match")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows-reference", action="store_true",
                    help="also build the index of the first size keyed row by row in Python (the reference keying)")
    ap.add_argument("--keep", action="store_true",
                    help="reuse the scaled references already in --workdir (the index is always rebuilt)")
    ap.add_argument("--chunk-tracks", type=int, default=MatchConfig().chunk_tracks)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory limit (default 2GB)")
    ap.add_argument("--target", type=float, default=170e6, help="reference size to extrapolate to (tracks)")
    args = ap.parse_args()
    print(f"load average at start: {load()} on {os.cpu_count()} CPUs")
    sample_ws = Workspace(Path(args.workdir) / "sample").ensure()
    if not sample_ws.has_table("discogs/releases"):
        discogs_ingest.run([sample_data_dir() / "discogs" / "xml2db_20200806" /
                            "discogs_20200806_releases.sample1000.xml.gz"], sample_ws, workers=0)
    base = [r for b in iter_batches(sample_ws.table("discogs/releases")) for r in b.to_pylist()]
    vocab = vocabulary(base)
    results = [run_size(args, c, base, vocab) for c in args.copies]
    if len(results) >= 2:
        a, b = results[-2], results[-1]
        ratio = math.log(b["n"] / a["n"])
        build_exp = math.log(b["build_s"] / a["build_s"]) / ratio
        match_exp = math.log(b["match_s_per_track"] / a["match_s_per_track"]) / ratio
        scale = args.target / b["n"]
        blocking_exp = math.log(b["blocking_s"] / a["blocking_s"]) / ratio
        cpu_exp = math.log(b["build_cpu"] / a["build_cpu"]) / ratio
        print(f"growth exponents between {a['n']:,} and {b['n']:,} tracks: build time ~ n^{build_exp:.2f} "
              f"(CPU n^{cpu_exp:.2f}; grouping and blocking n^{blocking_exp:.2f}), "
              f"match time per collection track ~ n^{match_exp:.2f}")
        print(f"extrapolated to {args.target:,.0f} tracks: build {b['build_s'] * scale ** build_exp / 3600:.1f} h, "
              f"{b['block_rows'] / b['n'] * args.target:,.0f} block rows, matching "
              f"{1 / (b['match_s_per_track'] * scale ** match_exp):,.0f} collection tracks/s")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
