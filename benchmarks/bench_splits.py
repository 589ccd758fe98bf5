"""Benchmark the artist-filtered stratified splits (the numpy part of build-dataset) on
synthetic data shaped like the papers' (default 3.3M tracks, ~1.3 artists per track, ~5
releases per track, 400 styles with 1-3 per master), and optionally a whole build-dataset on
synthetic Discogs tables (DuckDB part included) at a smaller size.

    python benchmarks/bench_splits.py --tracks 330000
    python benchmarks/bench_splits.py --tracks 330000 --build-masters 20000 --workdir /tmp/bench-splits

Prints wall time and peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def bench_splits(n_tracks: int, n_styles: int, seed: int) -> dict:
    from discogs_tools.dataset.splits import artist_groups, group_style_counts, stratify

    rng = np.random.default_rng(seed)
    n_masters = n_tracks // 10
    n_artists = max(n_tracks // 8, 2)
    artist_p = np.exp(rng.normal(0, 1.5, n_artists))
    artist_p /= artist_p.sum()
    master = np.repeat(np.arange(n_masters), 10)
    n_tracks = master.size
    master_artist = rng.choice(n_artists, n_masters, p=artist_p)
    # 30% of masters are collaborations: every track of them also carries a second artist
    # (1.3 artists per track; one graph edge per collaborating master, as on real albums).
    collab = rng.random(n_masters) < 0.3
    second = rng.choice(n_artists, n_masters, p=artist_p)
    feat = collab[master]
    track_idx = np.concatenate((np.arange(n_tracks), np.flatnonzero(feat)))
    artists = np.concatenate((master_artist[master], second[master][feat]))
    style_p = 1.0 / np.arange(1, n_styles + 1) ** 1.1
    style_p /= style_p.sum()
    k = rng.integers(1, 4, n_masters)
    m_of_style = np.repeat(np.arange(n_masters), k)
    style_of = rng.choice(n_styles, m_of_style.size, p=style_p)
    rel_per_master = np.maximum(rng.poisson(4.5, n_masters), 1)
    rel_start = np.concatenate(([0], np.cumsum(rel_per_master)))
    # (track, release, style) rows: every release of the master x every style of the master.
    t0 = time.perf_counter()
    groups = artist_groups(n_tracks, track_idx, artists)
    t1 = time.perf_counter()
    rows_t, rows_r, rows_s = [], [], []
    style_ptr = np.concatenate(([0], np.cumsum(k)))
    per_track_rel = rel_per_master[master]
    per_track_sty = k[master]
    n_rows = per_track_rel * per_track_sty
    t_rep = np.repeat(np.arange(n_tracks), n_rows)
    local = np.arange(int(n_rows.sum())) - np.repeat(np.concatenate(([0], np.cumsum(n_rows)[:-1])), n_rows)
    m = master[t_rep]
    rows_r = rel_start[m] + local // k[m]
    rows_s = style_of[style_ptr[m] + local % k[m]]
    g_idx, s_idx, cnt = group_style_counts(groups, t_rep, rows_r, rows_s, n_styles)
    t2 = time.perf_counter()
    sizes = np.bincount(groups)
    result = stratify(sizes, g_idx, s_idx, cnt, n_styles, validation=n_tracks // 10, test=n_tracks // 10,
                      min_releases=50, seed=seed)
    t3 = time.perf_counter()
    split = result.group_split[groups]
    return {"tracks": int(n_tracks), "groups": int(sizes.size), "largest_group": int(sizes.max()),
            "validation_tracks": int((split == 1).sum()), "test_tracks": int((split == 2).sum()),
            "groups_s": round(t1 - t0, 1), "style_counts_s": round(t2 - t1, 1), "stratify_s": round(t3 - t2, 1),
            "total_s": round(t3 - t0, 1), "peak_rss_mb": round(peak_rss_mb())}


def bench_build(workdir: Path, n_masters: int, seed: int) -> dict:
    from discogs_tools.dataset import run
    from discogs_tools.dataset.synthetic import write_synthetic_workspace
    from discogs_tools.workspace import Workspace

    t0 = time.perf_counter()
    write_synthetic_workspace(workdir, n_masters, n_artists=max(n_masters // 3, 2), n_labels=max(n_masters // 20, 2),
                              n_styles=100, seed=seed)
    t1 = time.perf_counter()
    report = run(Workspace(workdir), top_styles=100, seed=seed)
    t2 = time.perf_counter()
    return {"build_masters": n_masters, "linked_tracks": report.counts["linked_tracks"],
            "dataset_tracks": report.counts["tracks"], "generate_s": round(t1 - t0, 1),
            "build_s": round(t2 - t1, 1), "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=3_300_000)
    parser.add_argument("--styles", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--build-masters", type=int, default=0, help="also time build-dataset on this many masters")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/discogs-tools-bench-splits"))
    args = parser.parse_args()
    print(json.dumps(bench_splits(args.tracks, args.styles, args.seed)), flush=True)
    if args.build_masters:
        print(json.dumps(bench_build(args.workdir, args.build_masters, args.seed)), flush=True)


if __name__ == "__main__":
    main()
