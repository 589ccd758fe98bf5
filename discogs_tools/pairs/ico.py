"""Public name of the Informed Co-Occurrence API (the trainer imports it from here)."""

from __future__ import annotations

import pyarrow as pa

from .playlist_ico import embedding_matrix, informed_cooccurrence_pairs, rank_weights
from .playlists import PlaylistTracks, load_playlists

__all__ = ["PlaylistTracks", "embedding_matrix", "ico_pairs", "informed_cooccurrence_pairs", "load_playlists", "rank_weights"]


_PLAYLIST_CACHE: dict[tuple, tuple] = {}


def ico_pairs(ws, dataset: str | None, *, split: str, epoch: int, seed: int, embed, bilinear=None) -> "pa.Table":
    """Trainer adapter: ICO pairs of one epoch from the current model.

    ``embed(track_ids) -> (ids_with_features, (n, d) embeddings)`` is called once with every
    split track that appears in a playlist; tracks it returns no embedding for are left out
    (they cannot be trained on). The split's playlists are loaded once per process and reused.
    ``bilinear``: the ICO head's W (seed 004 sec. 5.5.1), scoring candidates as ``z_a W z_c^T``;
    None: cosine of the embeddings.
    """
    import numpy as np

    from ..dataset.build import DEFAULT_NAME as DEFAULT_DATASET
    from ..dataset.version import peek
    from .playlists import playlist_index

    dataset = dataset or DEFAULT_DATASET
    tracks_folder = ws.dataset(dataset) / "tracks"
    # Keyed by the dataset version (a rebuild is a new key); the mtime covers unversioned datasets.
    # (Links or playlists changed during training are not seen: they are read once per process.)
    key = (str(ws.root), dataset, split, peek(ws, dataset),
           tracks_folder.stat().st_mtime_ns if tracks_folder.exists() else 0)
    if key not in _PLAYLIST_CACHE:
        index = playlist_index(ws, dataset, split)  # train: with the collection tracks outside the dataset
        _PLAYLIST_CACHE[key] = (index, load_playlists(ws, index))
    index, playlists = _PLAYLIST_CACHE[key]
    needed = np.unique(playlists.tracks)
    ids, matrix = embed(index.track_ids.take(pa.array(needed, pa.int64())).to_pylist())
    embeddings = embedding_matrix(index.track_ids, list(ids), np.asarray(matrix, dtype=np.float32))
    has = np.zeros(index.n_tracks, dtype=bool)
    has[[p for p in (index.position_of().get(t) for t in ids) if p is not None]] = True
    keep = has[playlists.tracks]
    counts = np.add.reduceat(keep.astype(np.int64), playlists.ptr[:-1]) if playlists.tracks.size else np.zeros(0, np.int64)
    counts[np.diff(playlists.ptr) == 0] = 0
    ptr = np.zeros(playlists.ptr.size, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    filtered = PlaylistTracks(track_ids=index.track_ids, playlist_ids=playlists.playlist_ids, ptr=ptr,
                              tracks=playlists.tracks[keep])
    return informed_cooccurrence_pairs(filtered, embeddings, seed, epoch, split=split, bilinear=bilinear)
