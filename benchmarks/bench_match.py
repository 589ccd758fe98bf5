"""Benchmark of `match --against discogs`: index build and collection tracks per second, peak RSS.

The reference is the bundled 1,000-release dump sample scaled up: copy k of every release gets
release/master ids shifted by k * 10^8 and a made-up word appended to its artist names and
track titles, so every copy holds distinct recordings (about 9,300 tracks per copy; 110 copies
make about 1M tracks). The collection is sampled from the scaled reference and perturbed as in
the evaluation (typos, feat., remaster suffixes, ...), plus 10% tracks that are not in it.

    python benchmarks/bench_match.py --copies 110 --collection 20000 [--workdir /tmp/bench_match]

Prints index rows, build time, match throughput (collection tracks/s) and peak RSS (ru_maxrss).
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.io import TableWriter, iter_batches
from discogs_tools.match import evaluate, index, stage
from discogs_tools.match.index import discogs_track_rows
from discogs_tools.match.scoring import MatchConfig
from discogs_tools.resources import sample_data_dir
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gu", "hi", "jo"]


def word(k: int) -> str:
    """A distinct made-up word per copy number (base-15 syllables)."""
    out = ""
    k += 15
    while k:
        k, r = divmod(k, 15)
        out += SYLLABLES[r]
    return out.capitalize()


def shifted(release: dict, k: int) -> dict:
    w = word(k)
    r = dict(release)
    r["release_id"] = release["release_id"] + k * 100_000_000
    r["master_id"] = release["master_id"] + k * 100_000_000 if release["master_id"] is not None else None

    def artists(lst):
        return [{**a, "name": f"{a['name']} {w}" if a.get("name") else a.get("name")} for a in lst] if lst else lst

    def track(t):
        t = {**t, "title": f"{t['title']} {w}" if t.get("title") else t.get("title"), "artists": artists(t.get("artists"))}
        if t.get("sub_tracks"):
            t["sub_tracks"] = [track(s) for s in t["sub_tracks"]]
        return t

    r["artists"] = artists(release.get("artists"))
    r["tracklist"] = [track(t) for t in release.get("tracklist") or []]
    return r


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=110, help="copies of the sample (110 -> ~1M tracks)")
    ap.add_argument("--collection", type=int, default=20_000, help="collection tracks to match")
    ap.add_argument("--workdir", default="/tmp/bench_match")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="reuse an existing scaled reference in --workdir")
    ap.add_argument("--chunk-tracks", type=int, default=MatchConfig().chunk_tracks)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory limit [default: 2GB]")
    args = ap.parse_args()
    ws = Workspace(Path(args.workdir) / "workspace")
    if not (args.keep and ws.has_table("discogs/releases")):
        shutil.rmtree(args.workdir, ignore_errors=True)
        ws.ensure()
        sample_ws = Workspace(Path(args.workdir) / "sample").ensure()
        discogs_ingest.run([sample_data_dir() / "discogs" / "xml2db_20200806" /
                            "discogs_20200806_releases.sample1000.xml.gz"], sample_ws, workers=0)
        base = [r for b in iter_batches(sample_ws.table("discogs/releases")) for r in b.to_pylist()]
        schema = load_schema("discogs/releases")
        t0 = time.perf_counter()
        with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=50_000) as out:
            for k in range(args.copies):
                out.write(pa.Table.from_pylist([shifted(r, k) for r in base], schema=schema))
        print(f"scaled reference: {out.rows:,} releases in {time.perf_counter() - t0:.1f}s")
    # The index build (one-off per releases table)
    t0 = time.perf_counter()
    stats = index.ensure(index.DISCOGS, ws, rebuild=not args.keep, threads=args.threads)
    build_s = time.perf_counter() - t0
    print(f"index: {stats.get('index_rows', 0):,} tracks, {stats.get('recordings', 0):,} recordings, "
          f"{stats.get('block_rows', 0):,} block rows; built={stats['built']} in {build_s:.1f}s "
          f"({stats.get('index_rows', 0) / build_s:,.0f} tracks/s incl. reading); peak RSS so far {peak_rss_mb():,.0f} MB")
    # The collection: sampled index rows, perturbed; 10% made-up tracks
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
    manifest = Path(args.workdir) / "collection.parquet"
    pq.write_table(pa.Table.from_pylist(rows), manifest)
    collection_ingest.run(manifest, ws)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    report = stage.run(ws, "discogs", MatchConfig(chunk_tracks=args.chunk_tracks), threads=args.threads,
                       memory_limit=args.memory_limit)
    match_s = time.perf_counter() - t0
    print(f"match: {report.counts['tracks']:,} collection tracks in {match_s:.1f}s = "
          f"{report.counts['tracks'] / match_s:,.0f} tracks/s; matched {report.figures['matched_share']:.1%}, "
          f"{report.counts['links']:,} links, {report.counts['candidates']:,} candidate recordings "
          f"({report.counts['candidates'] / max(1, report.counts['tracks']):.1f}/track)")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB (before matching {rss_before:,.0f} MB)")


if __name__ == "__main__":
    main()
