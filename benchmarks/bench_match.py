"""Benchmark of `match --against discogs`: index build and collection tracks per second, peak RSS.

The reference is the bundled 1,000-release dump sample scaled up with varied text: copy k of
every release gets release/master ids shifted by k * 10^8, every artist name replaced by a
made-up two-word name drawn from the sample's own vocabulary (seeded by copy and name), and
about half the words of every track title replaced by vocabulary words (seeded by copy, release
and position). Copies are distinct recordings that do not look like typos of one another
(about 9,200 tracks per copy; 110 copies make about 1M tracks). The collection is sampled from
the scaled reference and perturbed as in the evaluation (typos, feat., remaster suffixes, ...),
plus 10% tracks that are not in it.

    python benchmarks/bench_match.py --copies 11 110 --collection 5000 [--workdir /tmp/bench_match]

For every size it prints the bare reference (reading the releases and flattening their tracks,
no keys), the index build (tracks/s, block rows per track), matching (collection tracks/s,
candidates per track) and peak RSS (ru_maxrss), with the load average; with two or more sizes,
the growth exponent b of time ~ n^b between the last two and the extrapolation to 170M tracks.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import TableWriter, iter_batches
from discogs_tools.match import evaluate, index, stage
from discogs_tools.match.index import discogs_track_rows
from discogs_tools.match.scoring import MatchConfig
from discogs_tools.resources import sample_data_dir
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace


def vocabulary(base: list[dict]) -> list[str]:
    """Distinct words of the sample's titles and artist names (letters only, 3+ characters)."""
    words: set[str] = set()
    for r in base:
        for t in r.get("tracklist") or []:
            words.update(w for w in (t.get("title") or "").split() if w.isalpha() and len(w) >= 3)
        for a in r.get("artists") or []:
            words.update(w for w in (a.get("name") or "").split() if w.isalpha() and len(w) >= 3)
    return sorted(words)


def shifted(release: dict, k: int, vocab: list[str]) -> dict:
    """Copy ``k`` of a release: ids shifted, artist names and title words replaced from ``vocab``."""
    r = dict(release)
    r["release_id"] = release["release_id"] + k * 100_000_000
    r["master_id"] = release["master_id"] + k * 100_000_000 if release["master_id"] is not None else None

    def name(original: str) -> str:
        rng = random.Random(f"{k}:{original}")
        return f"{rng.choice(vocab)} {rng.choice(vocab)}".title() if k else original

    def artists(lst):
        return [{**a, "name": name(a["name"]) if a.get("name") else a.get("name")} for a in lst] if lst else lst

    def title(text: str, pos: str) -> str:
        if not k or not text:
            return text
        rng = random.Random(f"{k}:{release['release_id']}:{pos}")
        return " ".join(rng.choice(vocab) if rng.random() < 0.5 else w for w in text.split()) or text

    def track(t):
        t = {**t, "title": title(t.get("title"), t.get("position") or ""), "artists": artists(t.get("artists"))}
        if t.get("sub_tracks"):
            t["sub_tracks"] = [track(s) for s in t["sub_tracks"]]
        return t

    r["artists"] = artists(release.get("artists"))
    r["tracklist"] = [track(t) for t in release.get("tracklist") or []]
    return r


def peak_rss_mb() -> float:
    """Peak RSS of this process or of its largest child (the index build's keying workers)."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


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
        with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=50_000) as out:
            for k in range(copies):
                out.write(pa.Table.from_pylist([shifted(r, k, vocab) for r in base], schema=schema))
        print(f"[{copies} copies] scaled reference: {out.rows:,} releases in {time.perf_counter() - t0:.1f}s")
    # bare reference: read the releases and flatten their tracks, no keys, no DuckDB
    t0 = time.perf_counter()
    n_bare = sum(1 for b in iter_batches(ws.table("discogs/releases"), columns=["release_id", "master_id", "title",
                                                                              "artists", "tracklist"])
                 for r in b.to_pylist() for _ in discogs_track_rows(r))
    bare_s = time.perf_counter() - t0
    print(f"[{copies} copies] bare reference: {n_bare:,} tracks read and flattened in {bare_s:.1f}s "
          f"({n_bare / bare_s:,.0f} tracks/s); load {load()}")
    t0 = time.perf_counter()
    stats = index.ensure(index.DISCOGS, ws, rebuild=not args.keep, threads=args.threads,
                         memory_limit=args.memory_limit, workers=args.threads)
    build_s = time.perf_counter() - t0
    n = stats.get("index_rows", 0)
    print(f"[{copies} copies] index: {n:,} tracks, {stats.get('recordings', 0):,} recordings, "
          f"{stats.get('block_rows', 0):,} block rows ({stats.get('block_rows', 0) / max(1, n):.2f} per track); "
          f"built={stats['built']} in {build_s:.1f}s ({n / build_s:,.0f} tracks/s incl. reading); "
          f"peak RSS so far {peak_rss_mb():,.0f} MB; load {load()}")
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
    t0 = time.perf_counter()
    report = stage.run(ws, "discogs", MatchConfig(chunk_tracks=args.chunk_tracks), threads=args.threads,
                       memory_limit=args.memory_limit)
    match_s = time.perf_counter() - t0
    tracks = report.counts["tracks"]
    print(f"[{copies} copies] match: {tracks:,} collection tracks in {match_s:.1f}s = {tracks / match_s:,.0f} "
          f"tracks/s; matched {report.figures['matched_share']:.1%}, {report.counts['links']:,} links, "
          f"{report.counts['candidates'] / max(1, tracks):.1f} candidate recordings per track; "
          f"peak RSS {peak_rss_mb():,.0f} MB; load {load()}")
    return {"n": n, "build_s": build_s, "match_s_per_track": match_s / max(1, tracks),
            "block_rows": stats.get("block_rows", 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, nargs="+", default=[11, 110],
                    help="copies of the sample per size (110 -> ~1M tracks)")
    ap.add_argument("--collection", type=int, default=5_000, help="collection tracks to match")
    ap.add_argument("--workdir", default="/tmp/bench_match")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="reuse an existing scaled reference and index in --workdir")
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
        print(f"growth exponents between {a['n']:,} and {b['n']:,} tracks: build time ~ n^{build_exp:.2f}, "
              f"match time per collection track ~ n^{match_exp:.2f}")
        print(f"extrapolated to {args.target:,.0f} tracks: build {b['build_s'] * scale ** build_exp / 3600:.1f} h, "
              f"{b['block_rows'] / b['n'] * args.target:,.0f} block rows, matching "
              f"{1 / (b['match_s_per_track'] * scale ** match_exp):,.0f} collection tracks/s")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
