"""playlist-tco (Top Co-Occurrence): anchors are visited in a seeded random order; an anchor
still available is paired with a random one of its ``top`` (default 10) most co-occurring
tracks that are still available (from playlists/cooccurrence, mapped to split tracks and
ordered by rank); both are used up. An anchor with no available neighbour stays available
as a possible positive of a later anchor (co-occurrence top-k lists are not symmetric)."""

from __future__ import annotations

from array import array

import numpy as np

from .base import PairContext, PairsResult
from .editorial import _RandomStream
from .playlists import COOCCURRENCE, INDEX_TABLES, load_cooccurrence, playlist_index

NAME = "playlist-tco"
# Table 5.1 of seed 004 (sec. 5.3.3; ICO: sec. 5.5): model, pair generation algorithm, whether
# the pairs differ each epoch.
TABLE_5_1 = ("Playlist TCO", "Top Co-Occurrence", True)
# Every collection track linked to the playlists takes part (see .playlists.playlist_index).
load_index = playlist_index
# Workspace tables the pairs are drawn from (their versions go into _pairs.json).
INPUT_TABLES = (*INDEX_TABLES, COOCCURRENCE)
TOP = 10


def top_cooccurrence_pairs(ptr: np.ndarray, neighbours: np.ndarray, rng: np.random.Generator, top: int = TOP):
    """(anchors, positives, anchors without an available neighbour) from the neighbour CSR."""
    n = ptr.size - 1
    ptr_a = array("q", ptr.astype(np.int64).tobytes())
    nb = array("q", neighbours.astype(np.int64).tobytes())
    used = bytearray(n)
    rand = _RandomStream(rng)
    anchors: list[int] = []
    positives: list[int] = []
    unmatched = 0
    for a in rng.permutation(n).tolist():
        if used[a]:
            continue
        lo, hi = ptr_a[a], ptr_a[a + 1]
        if lo == hi:
            unmatched += 1
            continue
        candidates = []
        for o in range(lo, hi):
            b = nb[o]
            if not used[b]:
                candidates.append(b)
                if len(candidates) == top:
                    break
        if not candidates:
            unmatched += 1
            continue
        b = candidates[int(rand() * len(candidates))]
        used[a] = used[b] = 1
        anchors.append(a)
        positives.append(b)
    return np.asarray(anchors, dtype=np.int64), np.asarray(positives, dtype=np.int64), unmatched


def generate(ctx: PairContext) -> PairsResult:
    ptr, neighbours = ctx.cached("cooccurrence", lambda: load_cooccurrence(ctx.ws, ctx.index))
    top = int(ctx.options.get("top") or TOP)
    anchors, positives, unmatched = top_cooccurrence_pairs(ptr, neighbours, ctx.rng, top)
    return PairsResult(anchors=anchors, positives=positives,
                       counts={"anchors_without_available_neighbour": unmatched,
                               "tracks_with_neighbours": int(np.count_nonzero(np.diff(ptr)))})
