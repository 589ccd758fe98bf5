"""playlist-ico (Informed Co-Occurrence, ICASSP 2023).

Playlists are visited in a seeded random order. The available tracks of a playlist are
shuffled and cut into two random halves; each anchor of the first half (in turn) ranks the
still-unpaired candidates of the other half by the similarity the *current model* gives them
(rank 0 = most similar) and draws one with Gaussian weights over the rank,
``w(r) = exp(-r^2 / (2 sigma^2))`` with ``mu = 0`` and ``sigma = 3/4 * L`` (L = number of
candidates); both tracks are used up for the epoch.

The trainer calls :func:`informed_cooccurrence_pairs` every epoch with the model's embeddings
(or a similarity callable); ``make-pairs --association playlist-ico`` uses the Word2Vec
vectors' cosine as an offline stand-in.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
import pyarrow as pa

from .base import PairContext, PairsResult, pair_rng
from .playlist_co import playlist_column
from .playlists import PlaylistTracks, load_playlists, word2vec_matrix

NAME = "playlist-ico"
SIGMA_FRACTION = 0.75

Similarity = Union[np.ndarray, Callable[[int, np.ndarray], np.ndarray]]


def rank_weights(n_candidates: int) -> np.ndarray:
    """Normalised Gaussian weights over ranks 0..L-1 (mu = 0, sigma = 3/4 L)."""
    r = np.arange(n_candidates, dtype=np.float64)
    sigma = SIGMA_FRACTION * n_candidates
    w = np.exp(-(r ** 2) / (2.0 * sigma ** 2))
    return w / w.sum()


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def ico_pair_indices(ptr: np.ndarray, tracks: np.ndarray, n_tracks: int, similarity: Similarity,
                     rng: np.random.Generator):
    """(anchors, positives, playlist index of each pair) as track indices."""
    if callable(similarity):
        score = similarity
        unit = None
    else:
        unit = _normalise(similarity)
        if unit.shape[0] != n_tracks:
            raise ValueError(f"embeddings have {unit.shape[0]} rows for {n_tracks} tracks")
    used = np.zeros(n_tracks, dtype=bool)
    anchors: list[int] = []
    positives: list[int] = []
    sources: list[int] = []
    lengths = np.diff(ptr)
    for p in rng.permutation(ptr.size - 1).tolist():
        if lengths[p] < 2:
            continue
        seg = tracks[ptr[p]:ptr[p + 1]]
        free = rng.permutation(seg[~used[seg]])
        half = free.size // 2
        if half == 0:
            continue
        first, second = free[:half], free[half:]
        sims = unit[first] @ unit[second].T if unit is not None else None
        open_ = np.ones(second.size, dtype=bool)
        for i, a in enumerate(first.tolist()):
            cand = np.flatnonzero(open_)
            if cand.size == 0:
                break
            s = sims[i, cand] if sims is not None else np.asarray(score(a, second[cand]), dtype=np.float64)
            order = np.argsort(-s, kind="stable")
            k = int(rng.choice(cand.size, p=rank_weights(cand.size)))
            chosen = int(cand[order[k]])
            open_[chosen] = False
            b = int(second[chosen])
            used[a] = used[b] = True
            anchors.append(a)
            positives.append(b)
            sources.append(p)
    as_array = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    return as_array(anchors), as_array(positives), as_array(sources)


def informed_cooccurrence_pairs(playlists: PlaylistTracks, embeddings: Similarity, seed: int, epoch: int, *,
                                split: str = "train") -> pa.Table:
    """ICO pairs of one epoch as a ``datasets/pairs`` table (anchor, positive, ..., shared_playlists).

    ``playlists``: from :func:`discogs_tools.pairs.playlists.load_playlists` (or built by hand);
    ``embeddings``: an (n_tracks, d) array whose row i belongs to ``playlists.track_ids[i]``
    (cosine similarity), or a callable ``(anchor_index, candidate_indices) -> similarities``.
    Deterministic given ``seed`` and ``epoch``.
    """
    from .output import pairs_table

    rng = pair_rng(seed, epoch, NAME, split)
    anchors, positives, sources = ico_pair_indices(playlists.ptr, playlists.tracks, len(playlists.track_ids),
                                                   embeddings, rng)
    result = PairsResult(anchors=anchors, positives=positives,
                         shared_playlists=playlist_column(playlists.playlist_ids, sources))
    return pairs_table(playlists.track_ids, result, association=NAME, split=split, epoch=epoch)


def embedding_matrix(track_ids: pa.Array, ids: list[str], vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` (keyed by ``ids``) aligned to ``track_ids``; zeros where missing."""
    where = {t: i for i, t in enumerate(ids)}
    out = np.zeros((len(track_ids), vectors.shape[1]), dtype=np.float32)
    for j, t in enumerate(track_ids.to_pylist()):
        i = where.get(t)
        if i is not None:
            out[j] = vectors[i]
    return out


def generate(ctx: PairContext) -> PairsResult:
    playlists = ctx.cached("playlists", lambda: load_playlists(ctx.ws, ctx.index))
    similarity = ctx.similarity
    if similarity is None:
        similarity = word2vec_matrix(ctx.ws, ctx.index, ctx.word2vec_path)
    anchors, positives, sources = ico_pair_indices(playlists.ptr, playlists.tracks, ctx.index.n_tracks,
                                                   similarity, ctx.rng)
    return PairsResult(anchors=anchors, positives=positives,
                       shared_playlists=playlist_column(playlists.playlist_ids, sources),
                       counts={"playlists": playlists.n_playlists})
