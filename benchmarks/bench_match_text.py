"""Benchmark of `match --against playlists` when part of the reference is text (tracks without an
artist whose title holds the whole record): index build and matching speed, peak RSS, links.

The reference is the bundled 1,000-release dump sample scaled up by :mod:`discogs_tools.match.scaled`
(as in bench_match.py; about 9,200 tracks per copy) and flattened to playlist tracks (artist
credit, title, release title as album, duration). Two workspaces are matched with the same
collection in one invocation:

- **in place** (the bare reference run): every playlist track has its fields in place;
- **text**: a seeded ``--text-share`` of the playlist tracks written by issue 16's recipe (artist +
  title + album + price + ``m:ss`` + year in the title, the other fields empty), the rest in place.

The collection: ``--collection`` tracks sampled from the tracks that are text in the second
workspace, fields in place, half of them with the title only as a mixed-up text (no artist), and
10 % tracks of a copy that is not in the reference (negatives).

    python benchmarks/bench_match_text.py --copies 55 --text-share 0.2 --collection 20000

For each workspace it prints the index build (tracks/s, text rows, peak RSS), matching
(collection tracks/s, peak RSS) and the share of the collection linked to its own track, and how
many tracks were linked to another recording (another artist or title: a false match; a link to
the same artist and title on another release is right), with the load average.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_match import _copy_table, in_child, load  # noqa: E402

from discogs_tools.collection import ingest as collection_ingest  # noqa: E402
from discogs_tools.discogs import ingest as discogs_ingest  # noqa: E402
from discogs_tools.io import TableWriter, iter_batches, read_table  # noqa: E402
from discogs_tools.match import index, stage  # noqa: E402
from discogs_tools.match.index import discogs_track_rows  # noqa: E402
from discogs_tools.match.scaled import vocabulary  # noqa: E402
from discogs_tools.match.scoring import MatchConfig  # noqa: E402
from discogs_tools.resources import sample_data_dir  # noqa: E402
from discogs_tools.schemas import load_schema  # noqa: E402
from discogs_tools.workspace import Workspace  # noqa: E402

PRICES = ("$0.99", "$1.29", "£0.79", "0,99 €")


def _mss(seconds: float | None) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}" if seconds else ""


def playlist_rows(table: pa.Table) -> list[dict]:
    """Playlist-track rows (key, name, artist, album, duration) of a table of releases."""
    out = []
    for release in table.to_pylist():
        for t in discogs_track_rows(release):
            if t["artist"] and t["title"]:
                out.append({"track_key": f"{t['release_id']}:{t['position']}", "track_name": t["title"],
                            "artist_name": t["artist"], "album_name": t["album"],
                            "duration_ms": round(t["duration_s"] * 1000) if t["duration_s"] else None,
                            "year": release.get("year")})
    return out


def as_text(row: dict, rng: random.Random) -> dict:
    parts = [row["artist_name"], row["track_name"], row["album_name"], rng.choice(PRICES),
             _mss(row["duration_ms"] / 1000 if row["duration_ms"] else None), str(row["year"] or "")]
    return {**row, "track_name": " ".join(p for p in parts if p), "artist_name": None, "album_name": None,
            "duration_ms": None}


def write_playlists(ws: Workspace, rows: list[dict]) -> None:
    schema = load_schema("playlists/tracks")
    with TableWriter(ws.table("playlists/tracks"), "playlists/tracks", rows_per_part=200_000) as out:
        for start in range(0, len(rows), 100_000):
            out.write(pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows[start:start + 100_000]],
                                           schema=schema))


def _build(root: str, threads: int) -> dict:
    ws = Workspace(Path(root))
    shutil.rmtree(ws.tables / "match" / ".playlist_keys", ignore_errors=True)
    return index.ensure(index.PLAYLISTS, ws, rebuild=True, threads=threads, workers=threads)


def _match(root: str, threads: int) -> dict:
    return stage.run(Workspace(Path(root)), "playlists", MatchConfig(), threads=threads).counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=11, help="copies of the sample (55 -> ~500,000 tracks)")
    ap.add_argument("--text-share", type=float, default=0.2, help="share of the reference written as text")
    ap.add_argument("--collection", type=int, default=5_000)
    ap.add_argument("--workdir", default="/tmp/bench_match_text")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"load average at start: {load()}")
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    sample_ws = Workspace(work / "sample").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / "xml2db_20200806" /
                        "discogs_20200806_releases.sample1000.xml.gz"], sample_ws, workers=0)
    base = [r for b in iter_batches(sample_ws.table("discogs/releases")) for r in b.to_pylist()]
    vocab = vocabulary(base)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.threads) as pool:
        tables = list(pool.map(_copy_table, [(base, k, vocab) for k in range(args.copies + 1)]))
    rows = [r for t in tables[:-1] for r in playlist_rows(t)]
    absent = playlist_rows(tables[-1])  # a copy left out of the reference: negatives
    rng = random.Random(args.seed)
    text_keys = {r["track_key"] for r in rng.sample(rows, round(args.text_share * len(rows)))}
    print(f"reference: {len(rows):,} playlist tracks ({len(text_keys):,} as text) in {time.perf_counter() - t0:.1f}s")
    positives = rng.sample([r for r in rows if r["track_key"] in text_keys], round(args.collection * 0.9))
    negatives = rng.sample(absent, args.collection - len(positives))
    collection = []
    for i, r in enumerate(positives + negatives):
        truth = r["track_key"] if i < len(positives) else None
        if i % 2:  # a mixed-up collection row: text against text
            row = {"track_id": f"c{i}", "artist": None, "title": as_text(r, rng)["track_name"], "album": None,
                   "duration_s": None}
        else:
            row = {"track_id": f"c{i}", "artist": r["artist_name"], "title": r["track_name"],
                   "album": r["album_name"], "duration_s": r["duration_ms"] / 1000 if r["duration_ms"] else None}
        collection.append((row, truth))
    manifest = work / "collection.parquet"
    pq.write_table(pa.Table.from_pylist([c for c, _ in collection]), manifest)
    truth = {c["track_id"]: t for c, t in collection}
    # another release's track of the same artist and title is the same recording (a reissue, a
    # compilation): a link to it is right
    recording = {r["track_key"]: (r["artist_name"].casefold(), r["track_name"].casefold()) for r in rows}
    for name, ref in (("in place", rows), ("text", [as_text(r, rng) if r["track_key"] in text_keys else r
                                                     for r in rows])):
        ws = Workspace(work / name.replace(" ", "_")).ensure()
        write_playlists(ws, ref)
        collection_ingest.run(manifest, ws)
        stats, build_s, build_cpu, build_rss = in_child(_build, str(ws.root), args.threads)
        print(f"[{name}] index: {stats['index_rows']:,} tracks + {stats.get('text_rows', 0):,} text rows "
              f"({stats.get('text_words', 0):,} word rows) in {build_s:.1f}s "
              f"({len(rows) / build_s:,.0f} reference tracks/s), {build_cpu:.1f} CPU-s, peak RSS {build_rss:,.0f} MB; "
              f"load {load()}")
        counts, match_s, match_cpu, match_rss = in_child(_match, str(ws.root), args.threads)
        links = read_table(ws.table("links/track_playlist_tracks"), columns=["track_id", "track_key"]).to_pylist()
        linked: dict[str, set] = {}
        for link in links:
            linked.setdefault(link["track_id"], set()).add(link["track_key"])
        for half, parity in (("fields in place", 0), ("mixed up", 1)):
            ids = [c["track_id"] for i, (c, _) in enumerate(collection) if i % 2 == parity]
            pos = [t for t in ids if truth[t]]
            right = sum(1 for t in pos if truth[t] in linked.get(t, ()))
            wrong = sum(1 for t in ids if any(recording[k] != recording.get(truth[t]) for k in linked.get(t, ())))
            print(f"[{name}] {half}: {right / len(pos):.3f} of {len(pos):,} linked to their track, "
                  f"{wrong:,} of {len(ids):,} linked to another recording")
        print(f"[{name}] matching: {len(collection):,} tracks in {match_s:.1f}s "
              f"({len(collection) / match_s:,.0f} tracks/s), {match_cpu:.1f} CPU-s, peak RSS {match_rss:,.0f} MB; "
              f"text pass tried {counts.get('text_reference_tried', 0):,}, linked "
              f"{counts.get('text_reference_linked', 0):,}; load {load()}")


if __name__ == "__main__":
    main()
