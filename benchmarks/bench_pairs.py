"""Benchmark make-pairs on synthetic data shaped like the papers' (defaults: 3.3M tracks with
~5 releases and ~1.3 artists each; 1M playlists of mean length 66).

Each association runs in its own subprocess, which prints its wall time and its own peak RSS
(resource.getrusage), so figures do not mix. Use --scale to shrink everything proportionally
on a shared machine, e.g.:

    python benchmarks/bench_pairs.py --scale 0.1 --workdir /tmp/bench-pairs
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

DATASET = "bench"
TRACKS_PER_MASTER = 10


def peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_tracks(n_tracks: int, seed: int = 0) -> pa.Table:
    """Tracks grouped by master (10 per master); each master has ~5 releases that every one of its
    tracks is linked to; one artist per master, 30% of tracks featuring a second; one label per
    release; artist and label popularity heavy-tailed."""
    from discogs_tools.schemas import load_schema

    rng = np.random.default_rng(seed)
    n_masters = max(n_tracks // TRACKS_PER_MASTER, 1)
    n_tracks = n_masters * TRACKS_PER_MASTER
    rel_per_master = np.maximum(rng.poisson(4.5, n_masters), 1)
    rel_start = np.concatenate(([0], np.cumsum(rel_per_master)))
    n_releases = int(rel_start[-1])
    n_artists = max(n_tracks // 8, 2)
    n_labels = max(n_tracks // 60, 2)
    # Heavy-tailed popularity (log-normal weights): the biggest artist holds ~0.1-0.2% of the
    # tracks, the biggest label a few percent (like Discogs' "Not On Label").
    artist_p = np.exp(rng.normal(0, 1.5, n_artists))
    artist_p /= artist_p.sum()
    label_p = np.exp(rng.normal(0, 2.0, n_labels))
    label_p /= label_p.sum()
    master_artist = rng.choice(n_artists, n_masters, p=artist_p)
    release_label = rng.choice(n_labels, n_releases, p=label_p)
    master = np.repeat(np.arange(n_masters), TRACKS_PER_MASTER)
    # releases list per track = the master's release range
    lengths = rel_per_master[master]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    starts = np.repeat(rel_start[master] - offsets[:-1], lengths)
    release_values = starts + np.arange(int(offsets[-1]))
    releases = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(release_values + 1))
    labels_flat = release_label[release_values]
    # labels: distinct per track (sort + unique per row via numpy)
    row = np.repeat(np.arange(n_tracks), lengths)
    keys = np.unique(row.astype(np.int64) * (n_labels + 1) + labels_flat)
    lrow, lval = keys // (n_labels + 1), keys % (n_labels + 1)
    loff = np.concatenate(([0], np.cumsum(np.bincount(lrow, minlength=n_tracks)))).astype(np.int32)
    labels = pa.ListArray.from_arrays(pa.array(loff), pa.array(lval + 1))
    feat = rng.random(n_tracks) < 0.3
    second = rng.choice(n_artists, n_tracks, p=artist_p)
    first = master_artist[master]
    second = np.where(second == first, (second + 1) % n_artists, second)
    alen = 1 + feat.astype(np.int64)
    aoff = np.concatenate(([0], np.cumsum(alen))).astype(np.int32)
    avals = np.empty(int(aoff[-1]), dtype=np.int64)
    avals[aoff[:-1]] = np.where(feat, np.minimum(first, second), first)
    avals[aoff[:-1][feat] + 1] = np.maximum(first, second)[feat]
    artists = pa.ListArray.from_arrays(pa.array(aoff), pa.array(avals + 1))
    empty = pa.ListArray.from_arrays(pa.array(np.zeros(n_tracks + 1, dtype=np.int32)), pa.array([], pa.int64()))
    empty_s = pa.ListArray.from_arrays(pa.array(np.zeros(n_tracks + 1, dtype=np.int32)), pa.array([], pa.string()))
    ids = np.char.add("t", np.char.zfill(np.arange(n_tracks).astype(str), 8))
    return pa.table({
        "track_id": pa.array(ids), "releases": releases, "masters": empty, "artists": artists,
        "extra_artists": empty, "labels": labels, "genres": empty_s, "styles": empty_s,
        "duration_s": pa.array(np.full(n_tracks, 200.0)), "split": pa.array(["train"] * n_tracks),
    }).cast(load_schema("datasets/tracks"))


def prepare(workdir: Path, scale: float, seed: int) -> None:
    from discogs_tools.dataset.version import write_tracks
    from discogs_tools.io import write_table
    from discogs_tools.pairs import synthetic as ps
    from discogs_tools.workspace import Workspace

    ws = Workspace(workdir)
    t0 = time.perf_counter()
    tracks = make_tracks(int(3_300_000 * scale), seed)
    write_tracks(ws, DATASET, tracks)  # stamped with a dataset version, as build-dataset does
    n = tracks.num_rows
    ids = tracks.column("track_id").to_numpy(zero_copy_only=False)
    del tracks
    n_playlists = int(1_000_000 * scale)
    playlist_tracks, links = ps.synthetic_playlists(ids, n_playlists, 66, unlinked_keys=n // 2, window=2000,
                                                    seed=seed)
    write_table(ws.table("playlists/playlist_tracks"), playlist_tracks, "playlists/playlist_tracks")
    write_table(ws.table("links/track_playlist_tracks"), links, "links/track_playlist_tracks")
    del playlist_tracks
    write_table(ws.table("playlists/cooccurrence"), ps.random_cooccurrence(n + n // 2, 10, window=2000, seed=seed),
                "playlists/cooccurrence")
    print(json.dumps({"prepared_tracks": n, "playlists": n_playlists, "seconds": round(time.perf_counter() - t0, 1)}),
          flush=True)


def measure(workdir: Path, association: str, seed: int) -> None:
    from discogs_tools.pairs import make_pairs
    from discogs_tools.pairs.index import load_split
    from discogs_tools.workspace import Workspace

    ws = Workspace(workdir)
    t0 = time.perf_counter()
    index = load_split(ws, DATASET, "train")
    t1 = time.perf_counter()
    report = make_pairs(ws, DATASET, association, "train", epoch=0, seed=seed, index=index)
    t2 = time.perf_counter()
    make_pairs(ws, DATASET, association, "train", epoch=1, seed=seed, index=index)
    t3 = time.perf_counter()
    # first_epoch_s includes loading the playlist / co-occurrence inputs; next_epoch_s reuses them.
    print(json.dumps({"association": association, "tracks": index.n_tracks, "pairs": report.counts["pairs"],
                      "load_split_s": round(t1 - t0, 1), "first_epoch_s": round(t2 - t1, 1),
                      "next_epoch_s": round(t3 - t2, 1), "pairs_per_s": round(report.counts["pairs"] / (t3 - t2)),
                      "peak_rss_mb": round(peak_rss_mb())}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the paper-sized data (default 1)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/discogs-tools-bench-pairs"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--associations", default="track,release,artist,label,playlist-co,playlist-tco")
    parser.add_argument("--skip-prepare", action="store_true")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        measure(args.workdir, args.only, args.seed)
        return
    if not args.skip_prepare:
        prepare(args.workdir, args.scale, args.seed)
    for association in args.associations.split(","):
        subprocess.run([sys.executable, __file__, "--workdir", str(args.workdir), "--seed", str(args.seed),
                        "--only", association], check=True)


if __name__ == "__main__":
    main()
