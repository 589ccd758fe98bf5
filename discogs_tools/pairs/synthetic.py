"""Seeded synthetic playlist tables for tests and benchmarks of the playlist associations.

Shaped like the contracts: playlists/playlist_tracks (playlist_id, pos, track_key),
links/track_playlist_tracks (track_id, track_key, score, method), playlists/cooccurrence
(track_key, neighbor_key, count, rank) and Word2Vec vectors (track_key, vector). Playlists
draw tracks from a window around a random centre, so co-occurrence has structure; a share
of keys belongs to no collection track.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..schemas import load_schema


def playlist_keys(n_tracks: int) -> np.ndarray:
    return np.char.add("spotify:track:", np.arange(n_tracks).astype(str))


def synthetic_playlists(track_ids: list[str] | np.ndarray, n_playlists: int, mean_length: float, *,
                        unlinked_keys: int = 0, window: int = 200, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """(playlist_tracks, track_playlist_tracks): collection track i has key ``spotify:track:i``;
    keys numbered past the collection are not linked to any track."""
    rng = np.random.default_rng(seed)
    n_tracks = len(track_ids)
    n_keys = n_tracks + unlinked_keys
    lengths = np.maximum(rng.poisson(mean_length, n_playlists), 1)
    total = int(lengths.sum())
    centres = rng.integers(0, n_keys, n_playlists)
    offsets = rng.integers(-window, window + 1, total)
    keys_idx = (np.repeat(centres, lengths) + offsets) % n_keys
    playlist_idx = np.repeat(np.arange(n_playlists), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    pos = np.arange(total) - np.repeat(starts, lengths)
    keys = playlist_keys(n_keys)
    playlist_tracks = pa.table({
        "playlist_id": pa.array(np.char.add("pl", playlist_idx.astype(str))),
        "pos": pa.array(pos.astype(np.int32)),
        "track_key": pa.array(keys[keys_idx]),
    }, schema=load_schema("playlists/playlist_tracks"))
    links = pa.table({
        "track_id": pa.array(np.asarray(track_ids, dtype=object).astype(str)),
        "track_key": pa.array(keys[:n_tracks]),
        "score": pa.array(np.ones(n_tracks)),
        "method": pa.array(["id"] * n_tracks),
    }, schema=load_schema("links/track_playlist_tracks"))
    return playlist_tracks, links


def cooccurrence_from_playlists(playlist_tracks: pa.Table, top_k: int = 10) -> pa.Table:
    """Exact top-k co-occurrence (count = playlists holding both; ties by key) for small tables."""
    import duckdb

    con = duckdb.connect()
    con.register("pt", playlist_tracks)
    table = con.sql(f"""
        WITH e AS (SELECT DISTINCT playlist_id, track_key FROM pt),
        c AS (SELECT a.track_key, b.track_key AS neighbor_key, count(*) AS count
              FROM e a JOIN e b USING (playlist_id) WHERE a.track_key <> b.track_key GROUP BY ALL)
        SELECT track_key, neighbor_key, count,
               (row_number() OVER (PARTITION BY track_key ORDER BY count DESC, neighbor_key))::INTEGER AS rank
        FROM c QUALIFY rank <= {int(top_k)} ORDER BY track_key, rank
    """).to_arrow_table()
    con.close()
    return table.cast(load_schema("playlists/cooccurrence"))


def random_cooccurrence(n_keys: int, top_k: int = 10, *, window: int = 200, seed: int = 0) -> pa.Table:
    """A top-k table of random nearby neighbours for every key (benchmarks at scale)."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n_keys), top_k)
    dst = (src + rng.integers(1, window, src.size)) % n_keys
    keys = playlist_keys(n_keys)
    return pa.table({
        "track_key": pa.array(keys[src]), "neighbor_key": pa.array(keys[dst]),
        "count": pa.array(np.tile(np.arange(top_k, 0, -1), n_keys).astype(np.int64)),
        "rank": pa.array(np.tile(np.arange(1, top_k + 1), n_keys).astype(np.int32)),
    }, schema=load_schema("playlists/cooccurrence"))


def random_vectors(keys: np.ndarray, dim: int = 16, *, seed: int = 0) -> pa.Table:
    """Word2Vec-shaped vectors (track_key, vector list<float32>)."""
    rng = np.random.default_rng(seed)
    flat = rng.standard_normal((len(keys), dim)).astype(np.float32)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), dim).cast(pa.list_(pa.float32()))
    return pa.table({"track_key": pa.array(np.asarray(keys).astype(str)), "vector": vectors},
                    schema=load_schema("playlists/word2vec_vectors"))
