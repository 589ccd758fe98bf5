"""Top-k co-occurrence against a brute-force count on seeded random playlists."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest

from discogs_tools import manifest
from discogs_tools.errors import ConfigError, MissingInputError
from discogs_tools.io import read_table, write_table
from discogs_tools.playlists import cooccurrence
from discogs_tools.playlists.cooccurrence import plan_blocks


def write_playlists(ws, playlists: dict[str, list[str]]) -> None:
    ids, pos, keys = [], [], []
    for pid, tracks in playlists.items():
        ids += [pid] * len(tracks)
        pos += list(range(len(tracks)))
        keys += tracks
    write_table(ws.table("playlists/playlist_tracks"),
                pa.table({"playlist_id": ids, "pos": pos, "track_key": keys}), "playlists/playlist_tracks")


def random_playlists(seed: int, n_playlists: int = 300, n_tracks: int = 120) -> dict[str, list[str]]:
    """Skewed popularity, repeated tracks within playlists, non-ASCII keys, single-track playlists."""
    rng = np.random.default_rng(seed)
    catalogue = [f"spotify:track:{i:05d}" for i in range(n_tracks)] + ["ÿ-last", "Ä-mid", "a-lower", "é"]
    weights = 1.0 / (np.arange(len(catalogue)) + 3.0)
    weights /= weights.sum()
    out = {}
    for p in range(n_playlists):
        length = int(rng.integers(1, 12))
        out[f"pl{p}"] = [catalogue[i] for i in rng.choice(len(catalogue), size=length, p=weights)]
    out["lonely"] = ["only-here"]
    return out


def brute_force(playlists: dict[str, list[str]], top_k: int, min_count: int = 1) -> list[dict]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for tracks in playlists.values():
        distinct = set(tracks)
        for a in distinct:
            for b in distinct:
                if a != b:
                    counts[a][b] += 1
    out = []
    for a in sorted(counts, key=lambda k: k.encode()):
        ranked = sorted(((b, c) for b, c in counts[a].items() if c >= min_count),
                        key=lambda bc: (-bc[1], bc[0].encode()))[:top_k]
        out += [{"track_key": a, "neighbor_key": b, "count": c, "rank": r} for r, (b, c) in enumerate(ranked, 1)]
    return out


@pytest.mark.parametrize("seed, top_k, workers, budget", [(0, 10, 1, 10**9), (1, 3, 2, 200), (2, 5, 1, 1)])
def test_top_k_matches_brute_force(ws, seed, top_k, workers, budget):
    playlists = random_playlists(seed)
    write_playlists(ws, playlists)
    report = cooccurrence.run(ws, top_k=top_k, workers=workers, block_budget=budget)
    got = read_table(ws.table("playlists/cooccurrence")).to_pylist()
    expected = brute_force(playlists, top_k)
    assert got == expected
    # Ties really occur in this data, so the tie-break is exercised.
    assert any(a["count"] == b["count"] and a["track_key"] == b["track_key"] for a, b in zip(got, got[1:]))
    all_tracks = {t for tracks in playlists.values() for t in tracks}
    assert report.counts["tracks"] == len(all_tracks)
    assert report.counts["tracks_without_neighbors"] == 1  # "only-here"
    assert report.counts["rows"] == len(expected)
    assert manifest.get(ws.manifest_path, "cooccurrence")["params"]["top_k"] == top_k


def test_min_count_and_repeated_tracks(ws):
    playlists = {"a": ["x", "y", "y", "y"], "b": ["x", "y", "z"], "c": ["z", "x"], "d": ["w", "w"]}
    write_playlists(ws, playlists)
    cooccurrence.run(ws, top_k=10, min_count=2, workers=1)
    got = [(r["track_key"], r["neighbor_key"], r["count"], r["rank"])
           for r in read_table(ws.table("playlists/cooccurrence")).to_pylist()]
    assert got == [("x", "y", 2, 1), ("x", "z", 2, 2), ("y", "x", 2, 1), ("z", "x", 2, 1)]


def test_rerun_identical_and_errors(ws):
    with pytest.raises(MissingInputError, match="ingest playlists"):
        cooccurrence.run(ws)
    write_playlists(ws, random_playlists(3, n_playlists=50))
    cooccurrence.run(ws, workers=1)
    first = read_table(ws.table("playlists/cooccurrence"))
    cooccurrence.run(ws, workers=2, block_budget=50)
    assert read_table(ws.table("playlists/cooccurrence")).equals(first)
    with pytest.raises(ConfigError):
        cooccurrence.run(ws, top_k=0)


def test_plan_blocks_respects_budget():
    work = np.array([5, 5, 5, 20, 1, 1, 1, 0, 3])
    blocks = plan_blocks(work, 10)
    assert blocks[0][0] == 0 and blocks[-1][1] == len(work)
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    for start, stop in blocks:
        assert work[start:stop].sum() <= 10 or stop - start == 1
