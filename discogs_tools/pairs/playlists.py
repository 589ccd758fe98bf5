"""Playlist data mapped onto the tracks of one dataset split.

Playlist tables speak of playlist track keys; pairs are between collection tracks. A key is
mapped through links/track_playlist_tracks to the split track with the best link score (ties
by track_id); keys of other splits or of no collection track drop out. All joins run in
DuckDB; only integer arrays come back (playlist entries as CSR playlist -> track indices).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import duck
from ..errors import InputError, MissingInputError
from ..io import parquet_glob
from ..workspace import Workspace
from .index import SplitIndex

PLAYLIST_TRACKS = "playlists/playlist_tracks"
COOCCURRENCE = "playlists/cooccurrence"
KEY_LINKS = "links/track_playlist_tracks"


@dataclass
class PlaylistTracks:
    """Playlists of a split: ``tracks[ptr[i]:ptr[i+1]]`` are the distinct split-track indices of
    playlist ``playlist_ids[i]``; ``track_ids[j]`` is the collection id of track index j."""

    track_ids: pa.Array
    playlist_ids: pa.Array
    ptr: np.ndarray
    tracks: np.ndarray

    @property
    def n_playlists(self) -> int:
        return int(self.ptr.size - 1)


class _Connection:
    """A DuckDB connection that also knows the links table folder."""

    def __init__(self, con, links_path: Path) -> None:
        self._con, self.links_path = con, links_path

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _connect(ws: Workspace, index: SplitIndex):
    ws.root.mkdir(parents=True, exist_ok=True)
    con = duck.connect(memory_limit="4GB", temp_dir=ws.root / ".duckdb-spill", keep_order=False)
    links = ws.require_table(KEY_LINKS, "discogs-tools match --against playlists")
    con = _Connection(con, links)
    split_tracks = pa.table({"track_id": index.track_ids, "idx": pa.array(np.arange(index.n_tracks, dtype=np.int64))})
    con.register("split_tracks", split_tracks)
    con.execute(f"""
        CREATE TEMP TABLE key_track AS
        SELECT l.track_key, first(s.idx ORDER BY l.score DESC NULLS LAST, l.track_id) AS idx
        FROM read_parquet('{parquet_glob(links)}') l JOIN split_tracks s USING (track_id)
        WHERE l.track_key IS NOT NULL
        GROUP BY l.track_key
    """)
    return con


def load_playlists(ws: Workspace, index: SplitIndex) -> PlaylistTracks:
    """Playlists with at least one split track, ordered by playlist_id."""
    table = ws.require_table(PLAYLIST_TRACKS, "discogs-tools ingest playlists")
    con = _connect(ws, index)
    try:
        con.execute(f"""
            CREATE TEMP TABLE entries AS
            SELECT DISTINCT p.playlist_id, k.idx
            FROM read_parquet('{parquet_glob(table)}') p JOIN key_track k USING (track_key)
        """)
        con.execute("""CREATE TEMP TABLE playlist_order AS
                       SELECT playlist_id, (row_number() OVER (ORDER BY playlist_id) - 1)::BIGINT AS pl
                       FROM (SELECT DISTINCT playlist_id FROM entries)""")
        ids = duck.arrow_table(con, "SELECT playlist_id FROM playlist_order ORDER BY pl").column(0)
        arrays = con.execute("""SELECT o.pl, e.idx FROM entries e JOIN playlist_order o USING (playlist_id)
                                ORDER BY o.pl, e.idx""").fetchnumpy()
    finally:
        con.close()
    pl = np.asarray(arrays["pl"], dtype=np.int64)
    ptr = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(pl, minlength=len(ids)), out=ptr[1:])
    return PlaylistTracks(track_ids=index.track_ids, playlist_ids=ids.combine_chunks(), ptr=ptr,
                          tracks=np.asarray(arrays["idx"], dtype=np.int64))


def load_cooccurrence(ws: Workspace, index: SplitIndex) -> tuple[np.ndarray, np.ndarray]:
    """Per split track, its co-occurring split tracks best first: CSR (ptr, neighbours).

    Order: rank, then count (descending), then index; a neighbour reached through several
    keys keeps its best rank; a track is never its own neighbour.
    """
    table = ws.require_table(COOCCURRENCE, "discogs-tools ingest playlists")
    con = _connect(ws, index)
    try:
        arrays = con.execute(f"""
            SELECT a.idx AS a, b.idx AS b, min(c.rank) AS rank, max(c.count) AS cnt
            FROM read_parquet('{parquet_glob(table)}') c
            JOIN key_track a ON a.track_key = c.track_key JOIN key_track b ON b.track_key = c.neighbor_key
            WHERE a.idx <> b.idx
            GROUP BY a.idx, b.idx
            ORDER BY a, rank, cnt DESC, b
        """).fetchnumpy()
    finally:
        con.close()
    a = np.asarray(arrays["a"], dtype=np.int64)
    ptr = np.zeros(index.n_tracks + 1, dtype=np.int64)
    np.cumsum(np.bincount(a, minlength=index.n_tracks), out=ptr[1:])
    return ptr, np.asarray(arrays["b"], dtype=np.int64)


def _vectors_glob(path: Path) -> str:
    if path.is_dir():
        return parquet_glob(path)
    if path.is_file():
        return str(path)
    raise MissingInputError("Word2Vec vectors", path, "discogs-tools word2vec")


def _track_best_key(con) -> None:
    """``track_best_key``: each split track's best playlist key (score desc, then key), the same
    choice the trainer makes when it looks up a track's Word2Vec vector."""
    con.execute(f"""
        CREATE TEMP TABLE track_best_key AS
        SELECT s.idx, first(l.track_key ORDER BY l.score DESC NULLS LAST, l.track_key) AS track_key
        FROM read_parquet('{parquet_glob(con.links_path)}') l JOIN split_tracks s USING (track_id)
        WHERE l.track_key IS NOT NULL
        GROUP BY s.idx
    """)


def word2vec_tracks(ws: Workspace, index: SplitIndex, path: Path) -> np.ndarray:
    """Split track indices whose best playlist key has a Word2Vec vector, ascending."""
    glob = _vectors_glob(path)
    con = _connect(ws, index)
    try:
        _track_best_key(con)
        arrays = con.sql(f"""
            SELECT k.idx FROM track_best_key k
            SEMI JOIN read_parquet('{glob}') v USING (track_key) ORDER BY k.idx
        """).fetchnumpy()
    finally:
        con.close()
    return np.asarray(arrays["idx"], dtype=np.int64)


def word2vec_matrix(ws: Workspace, index: SplitIndex, path: Path) -> np.ndarray:
    """(n_tracks, d) float32 Word2Vec vectors of the split tracks (the vector of each track's best
    key; zeros for tracks without one): the offline stand-in similarity of playlist-ico."""
    glob = _vectors_glob(path)
    con = _connect(ws, index)
    try:
        _track_best_key(con)
        table = duck.arrow_table(con, f"""
            SELECT k.idx, v.vector FROM track_best_key k JOIN read_parquet('{glob}') v USING (track_key)
            ORDER BY k.idx
        """)
    finally:
        con.close()
    if table.num_rows == 0:
        return np.zeros((index.n_tracks, 1), dtype=np.float32)
    vectors = table.column("vector").combine_chunks()
    lengths = np.unique(np.asarray(pc.list_value_length(vectors)))
    if lengths.size != 1:
        raise InputError(path, f"Word2Vec vectors have differing lengths {lengths.tolist()[:5]}")
    flat = np.asarray(vectors.flatten(), dtype=np.float32).reshape(-1, int(lengths[0]))
    out = np.zeros((index.n_tracks, flat.shape[1]), dtype=np.float32)
    out[np.asarray(table.column("idx"), dtype=np.int64)] = flat
    return out
