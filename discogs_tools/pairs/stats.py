"""Pair statistics as Table 1 of the ISMIR 2022 paper: number of pairs and diversity, i.e. the
distinct tracks in the pairs and the distinct releases, artists and labels those tracks carry."""

from __future__ import annotations

import numpy as np

from .index import ENTITY_KINDS, SplitIndex


def diversity(index: SplitIndex, anchors: np.ndarray, positives: np.ndarray) -> dict[str, int]:
    """{"pairs", "tracks", "releases", "artists", "labels"} for pairs given as track indices."""
    tracks = np.unique(np.concatenate((anchors, positives)).astype(np.int64))
    out = {"pairs": int(anchors.size), "tracks": int(tracks.size)}
    for kind in ENTITY_KINDS:
        csr = index.entities[kind]
        lo, hi = csr.ptr[tracks], csr.ptr[tracks + 1]
        lengths = hi - lo
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        codes = csr.codes[starts + np.arange(int(lengths.sum()))]
        out[kind] = int(np.count_nonzero(np.bincount(codes, minlength=csr.n_entities))) if codes.size else 0
    return out
