"""The editorial pair sampler shared by the release, artist and label associations.

A pool holds every track of the split; tracks are visited in a seeded random order; each
visited track still in the pool leaves it and picks a random partner still in the pool that
shares a *positive* entity (release, artist or label) and, for artist and label, shares no
*exclusion* entity (release, resp. artist); the partner leaves the pool too. A track with no
valid partner left is skipped (counted). The rules are symmetric, so a skipped track could
not have been anyone's partner either.

Speed (3.3M tracks): the pool is an inverted index entity -> available tracks kept compact by
swap-removal, so sampling "a random entity of the anchor, then a random available track of
it" never draws a used track. The exclusion is checked on the anchor's entity set; after
``retries`` failed draws, a correct fallback takes the set of all available candidates minus
the tracks sharing an exclusion entity (static inverted index) and draws uniformly from it.
The hot loop runs on ``array`` objects in plain Python (no per-element numpy overhead).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from .index import EntityCSR

RETRIES = 8


@dataclass
class EditorialPairs:
    anchors: np.ndarray
    positives: np.ndarray
    skipped: int
    fallbacks: int


def _arr(values: np.ndarray) -> array:
    return array("q", np.ascontiguousarray(values, dtype=np.int64).tobytes())


class _RandomStream:
    """Uniform floats in [0, 1) drawn in blocks from a numpy Generator (cheap per draw)."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self.rng, self.block = rng, block
        self.buf: list[float] = []
        self.i = 0

    def __call__(self) -> float:
        if self.i >= len(self.buf):
            self.buf = self.rng.random(self.block).tolist()
            self.i = 0
        x = self.buf[self.i]
        self.i += 1
        return x


def pair_editorial(positive: EntityCSR, exclusion: EntityCSR | None, rng: np.random.Generator,
                   retries: int = RETRIES) -> EditorialPairs:
    """Pair the tracks of a split (rows of ``positive``) per the rule described above."""
    n = positive.ptr.size - 1
    inverted = positive.inverted()
    fwd_ptr, fwd_idx = _arr(positive.ptr), _arr(positive.codes)
    start = _arr(inverted.ptr)
    members = _arr(inverted.codes)
    size = _arr(np.diff(inverted.ptr))
    # pos[o]: where occurrence o (track t's o-th entity) sits in ``members``.
    order = np.argsort(positive.codes, kind="stable")
    pos_np = np.empty(positive.codes.size, dtype=np.int64)
    pos_np[order] = np.arange(positive.codes.size)
    pos = _arr(pos_np)
    if exclusion is not None:
        ex_ptr, ex_idx = _arr(exclusion.ptr), _arr(exclusion.codes)
        ex_inv = exclusion.inverted()
        ex_inv_ptr, ex_inv_members = _arr(ex_inv.ptr), _arr(ex_inv.codes)
    available = bytearray(b"\x01") * n
    rand = _RandomStream(rng)

    def remove(t: int) -> None:
        available[t] = 0
        for o in range(fwd_ptr[t], fwd_ptr[t + 1]):
            e = fwd_idx[o]
            p = pos[o]
            last = start[e] + size[e] - 1
            u = members[last]
            if u != t:
                members[p] = u
                for ou in range(fwd_ptr[u], fwd_ptr[u + 1]):
                    if fwd_idx[ou] == e:
                        pos[ou] = p
                        break
                members[last] = t
                pos[o] = last
            size[e] -= 1

    anchors: list[int] = []
    positives: list[int] = []
    skipped = fallbacks = 0
    for a in rng.permutation(n).tolist():
        if not available[a]:
            continue
        remove(a)
        ents = [e for e in fwd_idx[fwd_ptr[a]:fwd_ptr[a + 1]] if size[e] > 0]
        if not ents:
            skipped += 1
            continue
        partner = -1
        if exclusion is None:
            e = ents[int(rand() * len(ents))]
            partner = members[start[e] + int(rand() * size[e])]
        else:
            excl = set(ex_idx[ex_ptr[a]:ex_ptr[a + 1]])
            for _ in range(retries):
                e = ents[int(rand() * len(ents))]
                p = members[start[e] + int(rand() * size[e])]
                if excl.isdisjoint(ex_idx[ex_ptr[p]:ex_ptr[p + 1]]):
                    partner = p
                    break
            if partner < 0:
                fallbacks += 1
                candidates: set[int] = set()
                for e in ents:
                    candidates.update(members[start[e]:start[e] + size[e]])
                for x in excl:
                    candidates.difference_update(ex_inv_members[ex_inv_ptr[x]:ex_inv_ptr[x + 1]])
                if candidates:
                    valid = sorted(candidates)
                    partner = valid[int(rand() * len(valid))]
        if partner < 0:
            skipped += 1
            continue
        remove(partner)
        anchors.append(a)
        positives.append(partner)
    return EditorialPairs(anchors=np.asarray(anchors, dtype=np.int64), positives=np.asarray(positives, dtype=np.int64),
                          skipped=skipped, fallbacks=fallbacks)


def shared_entities(csr: EntityCSR, anchors: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the Discogs ids both tracks carry: (offsets, values) of a list column.

    Vectorised: each side's rows are distinct, so an (pair, entity) key seen twice is shared.
    """
    n_pairs = anchors.size
    if n_pairs == 0:
        return np.zeros(1, dtype=np.int32), np.zeros(0, dtype=np.int64)

    def gather(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = csr.ptr[rows], csr.ptr[rows + 1]
        lengths = hi - lo
        pair = np.repeat(np.arange(n_pairs, dtype=np.int64), lengths)
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        return pair, csr.codes[starts + np.arange(pair.size)]

    pa_, ca = gather(anchors)
    pp, cp = gather(positives)
    width = max(csr.n_entities, 1)
    keys = np.concatenate((pa_ * width + ca, pp * width + cp))
    keys.sort(kind="stable")
    dup = keys[1:][keys[1:] == keys[:-1]]
    pair_of, code = dup // width, dup % width
    offsets = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_of, minlength=n_pairs), out=offsets[1:])
    return offsets, csr.ids[code]
