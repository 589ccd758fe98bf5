"""playlist-co (Co-Occurrence): playlists are visited in a seeded random order; within each,
the tracks still available are shuffled and paired two by two (an odd one out stays
available); paired tracks are used up, so every track appears at most once per epoch across
all playlists. Each pair records the playlist it came from."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .base import PairContext, PairsResult
from .playlists import INDEX_TABLES, PLAYLIST_TRACKS, load_playlists, playlist_index

NAME = "playlist-co"
# Table 5.1 of seed 004 (sec. 5.3.3; ICO: sec. 5.5): model, pair generation algorithm, whether
# the pairs differ each epoch.
TABLE_5_1 = ("Playlist CO", "Co-Occurrence", True)
# Every collection track linked to the playlists takes part (see .playlists.playlist_index).
load_index = playlist_index
# Workspace tables the pairs are drawn from (their versions go into _pairs.json).
INPUT_TABLES = (*INDEX_TABLES, PLAYLIST_TRACKS)


def co_occurrence_pairs(ptr: np.ndarray, tracks: np.ndarray, n_tracks: int, rng: np.random.Generator):
    """(anchors, positives, playlist index of each pair) for the CSR playlists ``ptr``/``tracks``."""
    used = np.zeros(n_tracks, dtype=bool)
    anchors, positives, sources = [], [], []
    lengths = np.diff(ptr)
    for p in rng.permutation(ptr.size - 1).tolist():
        if lengths[p] < 2:
            continue
        seg = tracks[ptr[p]:ptr[p + 1]]
        free = seg[~used[seg]]
        m = free.size - free.size % 2
        if m < 2:
            continue
        free = rng.permutation(free)[:m]
        used[free] = True
        anchors.append(free[0::2])
        positives.append(free[1::2])
        sources.append(np.full(m // 2, p, dtype=np.int64))
    if not anchors:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(anchors), np.concatenate(positives), np.concatenate(sources)


def playlist_column(playlist_ids: pa.Array, sources: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """shared_playlists as a one-element list per pair."""
    offsets = np.arange(sources.size + 1, dtype=np.int64)
    return offsets, playlist_ids.take(pa.array(sources, pa.int64()))


def generate(ctx: PairContext) -> PairsResult:
    playlists = ctx.cached("playlists", lambda: load_playlists(ctx.ws, ctx.index))
    anchors, positives, sources = co_occurrence_pairs(playlists.ptr, playlists.tracks, ctx.index.n_tracks, ctx.rng)
    return PairsResult(anchors=anchors, positives=positives,
                       shared_playlists=playlist_column(playlists.playlist_ids, sources),
                       counts={"playlists": playlists.n_playlists,
                               "tracks_in_playlists": int(np.count_nonzero(np.bincount(playlists.tracks, minlength=ctx.index.n_tracks)))})
