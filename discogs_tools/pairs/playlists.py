"""Playlist data mapped onto the tracks of one split.

Playlist tables speak of playlist track keys; pairs are between collection tracks. A key is
mapped through links/track_playlist_tracks to the split track with the best link score (ties
by track_id); keys of other splits or of no collection track drop out. All joins run in
DuckDB; only integer arrays come back (playlist entries as CSR playlist -> track indices).

The split of a playlist association (:func:`playlist_index`) is the dataset's split plus, for
train, every collection track linked to a playlist that the dataset does not hold (not matched
to Discogs, or dropped by its filters): ICASSP 2023 pre-trains on the playlists matched to the
whole in-house collection (seed 004 sec. 5.3.3: 1,779,072 tracks). Such a track never joins
validation or test, and joins train only when none of its artists is an artist of a validation
or test track (the dataset's splits are artist-disjoint, seed 004 sec. 3.3.3 "we do not allow
music from the same artist to appear in more than one split"; ch. 5 states no pre-training
split of its own). Its artists are known by name only, so a track is held out when any of
these is also found on a validation/test track: its playlist tracks' ``artist_key``; the
normalised names of its collection credit (``collection/tracks.artist``, split at ``,`` ``;``
``/`` ``&`` feat. ft. featuring vs. with x) and of its playlist tracks' ``artist_name``. A track
of which none is known is held out too (it cannot be shown to be safe).
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
from .index import EntityCSR, SplitIndex, load_split, tracks_dir

PLAYLIST_TRACKS = "playlists/playlist_tracks"
PLAYLIST_TRACK_INFO = "playlists/tracks"
COLLECTION_TRACKS = "collection/tracks"
COOCCURRENCE = "playlists/cooccurrence"
KEY_LINKS = "links/track_playlist_tracks"
#: Workspace tables :func:`playlist_index` reads (besides the dataset). A playlist association's
#: ``INPUT_TABLES`` add its own; make-pairs records their versions in ``_pairs.json`` and readers
#: refuse the pairs once one is replaced (:mod:`.provenance`).
INDEX_TABLES: tuple[str, ...] = (KEY_LINKS, COLLECTION_TRACKS, PLAYLIST_TRACK_INFO)


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


# Normalised artist names: lower case, no accents, runs of anything but letters and digits as
# one space; a credit is also split into its names at the usual joiners.
_NAME = r"nullif(trim(regexp_replace(lower(strip_accents({x})), '[^\p{{L}}\p{{N}}]+', ' ', 'g')), '')"
_JOINERS = r"'\s*(,|;|/|&|\bfeat\b\.?|\bft\b\.?|\bfeaturing\b|\bvs\b\.?|\bwith\b|\bx\b)\s*'"


def _artist_identities_sql(ws: Workspace, links_glob: str) -> str:
    """SQL of (track_id, kind, value): the artist identities of every linked or collection track."""
    parts = []
    if ws.has_table(COLLECTION_TRACKS):
        glob = parquet_glob(ws.table(COLLECTION_TRACKS))
        parts.append(f"""SELECT track_id, 'name' AS kind, {_NAME.format(x='artist')} AS value
                         FROM read_parquet('{glob}') WHERE artist IS NOT NULL""")
        parts.append(f"""SELECT track_id, 'name' AS kind, {_NAME.format(x='part')} AS value
                         FROM (SELECT track_id, unnest(regexp_split_to_array(lower(artist), {_JOINERS})) AS part
                               FROM read_parquet('{glob}') WHERE artist IS NOT NULL)""")
    if ws.has_table(PLAYLIST_TRACK_INFO):
        glob = parquet_glob(ws.table(PLAYLIST_TRACK_INFO))
        parts.append(f"""SELECT l.track_id, 'key' AS kind, p.artist_key AS value
                         FROM read_parquet('{links_glob}') l JOIN read_parquet('{glob}') p USING (track_key)""")
        parts.append(f"""SELECT l.track_id, 'name' AS kind, {_NAME.format(x='p.artist_name')} AS value
                         FROM read_parquet('{links_glob}') l JOIN read_parquet('{glob}') p USING (track_key)""")
    if not parts:
        return "SELECT NULL::VARCHAR AS track_id, NULL::VARCHAR AS kind, NULL::VARCHAR AS value WHERE false"
    return "SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts) + ") WHERE value IS NOT NULL"


def outside_train_tracks(ws: Workspace, dataset: str) -> tuple[pa.Array, int]:
    """(track ids, sorted, of the collection tracks linked to playlists that the dataset does not
    hold and that may join train; how many such tracks are held out) — the rule of the module
    docstring. Runs in DuckDB within its memory limit; only the ids come back."""
    links = ws.require_table(KEY_LINKS, "discogs-tools match --against playlists")
    links_glob = parquet_glob(links)
    ws.root.mkdir(parents=True, exist_ok=True)
    con = duck.connect(memory_limit="4GB", temp_dir=ws.root / ".duckdb-spill", keep_order=False)
    try:
        con.execute(f"CREATE TEMP TABLE ds AS SELECT track_id, split FROM read_parquet('{parquet_glob(tracks_dir(ws, dataset))}')")
        con.execute(f"""CREATE TEMP TABLE outside AS
                        SELECT DISTINCT track_id FROM read_parquet('{links_glob}')
                        WHERE track_key IS NOT NULL AND track_id NOT IN (SELECT track_id FROM ds)""")
        con.execute(f"""CREATE TEMP TABLE ident AS
                        SELECT i.* FROM ({_artist_identities_sql(ws, links_glob)}) i
                        WHERE i.track_id IN (SELECT track_id FROM outside)
                           OR i.track_id IN (SELECT track_id FROM ds WHERE split <> 'train')""")
        con.execute("""CREATE TEMP TABLE held AS
                       SELECT DISTINCT kind, value FROM ident JOIN ds USING (track_id) WHERE ds.split <> 'train'""")
        table = duck.arrow_table(con, """
            SELECT o.track_id, count(i.value) AS known, count(h.value) AS clashes
            FROM outside o LEFT JOIN ident i USING (track_id)
            LEFT JOIN held h ON h.kind = i.kind AND h.value = i.value
            GROUP BY o.track_id ORDER BY o.track_id""")
    finally:
        con.close()
    known = np.asarray(table.column("known"), dtype=np.int64)
    clashes = np.asarray(table.column("clashes"), dtype=np.int64)
    keep = (known > 0) & (clashes == 0)
    ids = table.column("track_id").combine_chunks().filter(pa.array(keep))
    return ids, int((~keep).sum())


def playlist_index(ws: Workspace, dataset: str, split: str) -> SplitIndex:
    """The split a playlist association draws from: the dataset's split and, for train, the
    collection tracks outside the dataset that :func:`outside_train_tracks` lets in, appended
    after the dataset's tracks (sorted among themselves) with no Discogs entities. The counts
    are in ``index.cache["outside_dataset"]``. The dataset version is the dataset's."""
    index = load_split(ws, dataset, split)
    if split != "train" or not ws.has_table(KEY_LINKS):
        return index  # without links the association's own loader names what is missing
    ids, held_out = outside_train_tracks(ws, dataset)
    k = len(ids)
    entities = {kind: EntityCSR(ptr=np.concatenate([csr.ptr, np.full(k, csr.ptr[-1], dtype=np.int64)]),
                                codes=csr.codes, ids=csr.ids) for kind, csr in index.entities.items()}
    extended = SplitIndex(dataset=index.dataset, split=split,
                          track_ids=pa.concat_arrays([index.track_ids, ids.cast(index.track_ids.type)]),
                          entities=entities, version=index.version)
    extended.cache["outside_dataset"] = {"tracks_outside_dataset": k, "tracks_outside_dataset_held_out": held_out}
    return extended


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
