"""artist-co (Artist CO, the ICASSP 2023 baseline; seed 004 sec. 5.3.3): the Co-Occurrence
strategy applied to artists, "considering the set of tracks by each artist as a playlist",
"without preventing track repetitions".

Every epoch, the split's artists (Discogs main artists, A(t)) are visited in a seeded random
order; each artist's tracks are shuffled and paired two by two, floor(n/2) pairs (an odd one
out is left). There is no set of used tracks across artists: a track credited to several
artists (1.28 per track on average in the paper's data, seed 004 footnote 43) can be in one
pair per artist in the same epoch. Within one artist a track is used once. Each pair records
its artist in ``shared_artists``. Vectorised: one lexsort of (artist visit rank, random key).
"""

from __future__ import annotations

import numpy as np

from .base import PairContext, PairsResult

NAME = "artist-co"
# Table 5.1 of seed 004 (sec. 5.3.3): model, pair generation algorithm, pairs differ each epoch.
TABLE_5_1 = ("Artist CO", "Co-Occurrence", True)


def artist_co_pairs(ptr: np.ndarray, tracks: np.ndarray, rng: np.random.Generator):
    """(anchors, positives, artist code of each pair) for the artist -> tracks CSR ``ptr``/``tracks``."""
    n_artists = ptr.size - 1
    lengths = np.diff(ptr)
    visit = np.empty(n_artists, dtype=np.int64)
    visit[rng.permutation(n_artists)] = np.arange(n_artists)
    artist_of = np.repeat(np.arange(n_artists, dtype=np.int64), lengths)
    order = np.lexsort((rng.random(tracks.size), visit[artist_of]))
    artist_sorted = artist_of[order]
    # first entry of each artist in the sorted order: artists follow their visit order
    starts = np.zeros(n_artists, dtype=np.int64)
    by_visit = np.argsort(visit, kind="stable")
    starts[by_visit] = np.concatenate(([0], np.cumsum(lengths[by_visit])[:-1])) if n_artists else []
    pos = np.arange(tracks.size) - starts[artist_sorted]
    first = np.flatnonzero((pos % 2 == 0) & (pos + 1 < lengths[artist_sorted]))
    ordered = tracks[order]
    return ordered[first], ordered[first + 1], artist_sorted[first]


def generate(ctx: PairContext) -> PairsResult:
    artists = ctx.index.entities["artists"]
    inverted = artists.inverted()
    anchors, positives, codes = artist_co_pairs(inverted.ptr, inverted.codes, ctx.rng)
    offsets = np.arange(codes.size + 1, dtype=np.int64)
    return PairsResult(anchors=anchors, positives=positives, shared={"artists": (offsets, artists.ids[codes])},
                       counts={"artists": int(np.count_nonzero(np.diff(inverted.ptr) >= 2))})
