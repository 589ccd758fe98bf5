"""playlist-ico (Informed Co-Occurrence, ICASSP 2023; seed 004 sec. 5.5, eq. 5.1-5.3).

Every epoch, playlists are visited in a seeded random order. The playlist's tracks still
available (not yet paired this epoch) are shuffled and cut into two halves ``p_a`` and ``p_b``
of ``L = |p| // 2`` tracks each (eq. 5.1; with an odd count the last track stays available for
later playlists). ``L`` is fixed for the playlist. For every anchor of ``p_a`` in turn, the
tracks of ``p_b`` are sorted by the similarity the *current model* gives them (eq. 5.2; rank 0
the most similar); candidates already assigned to an earlier anchor are discarded, and one of
the others is drawn with Gaussian weights over its rank in that full list (eq. 5.3):
``w(k) = exp(-k^2 / (2 sigma^2))`` with ``mu = 0`` and ``sigma = 3/4 L`` (the density's constant
``1 / (sigma sqrt(2 pi))`` cancels when the weights are normalised). Both tracks are used up for
the epoch. So every anchor of ``p_a`` gets a positive: ``L`` pairs per playlist visited.

Similarity (sec. 5.5.1): the cosine of the latent representations, or, with ``bilinear=W``,
the ICO head's bilinear similarity ``z_a W z_c^T`` (the trainer passes W, see
:class:`discogs_tools.train.data.IcoPairSource`), or any callable.

The trainer calls :func:`informed_cooccurrence_pairs` every epoch with the model's embeddings;
``make-pairs --association playlist-ico`` uses the Word2Vec vectors' cosine as an offline stand-in.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
import pyarrow as pa

from .base import PairContext, PairsResult, pair_rng
from .playlist_co import playlist_column
from .playlists import INDEX_TABLES, PLAYLIST_TRACKS, PlaylistTracks, load_playlists, word2vec_matrix, playlist_index

NAME = "playlist-ico"
# Table 5.1 of seed 004 (sec. 5.3.3; ICO: sec. 5.5): model, pair generation algorithm, whether
# the pairs differ each epoch.
TABLE_5_1 = ("Playlist ICO", "Informed Co-Occurrence", True)
# Every collection track linked to the playlists takes part (see .playlists.playlist_index).
load_index = playlist_index
# Workspace tables the pairs are drawn from (their versions go into _pairs.json).
INPUT_TABLES = (*INDEX_TABLES, PLAYLIST_TRACKS)
SIGMA_FRACTION = 0.75  # seed 004 sec. 5.5: sigma = 3/4 L

Similarity = Union[np.ndarray, Callable[[int, np.ndarray], np.ndarray]]


def rank_weights(half: int, ranks: np.ndarray | None = None) -> np.ndarray:
    """Normalised Gaussian weights (mu = 0, sigma = 3/4 ``half``) of the given ranks (default:
    all ranks 0..half-1). ``half`` is L, fixed per playlist, whatever number of ranks is asked."""
    r = np.arange(half, dtype=np.float64) if ranks is None else np.asarray(ranks, dtype=np.float64)
    sigma = SIGMA_FRACTION * half
    w = np.exp(-(r ** 2) / (2.0 * sigma ** 2))
    return w / w.sum()


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def _scorer(similarity: Similarity, n_tracks: int, bilinear: np.ndarray | None):
    """``score(first, second) -> (len(first), len(second))`` similarities of two halves."""
    if callable(similarity):
        return lambda first, second: np.stack([np.asarray(similarity(int(a), second), dtype=np.float64)
                                               for a in first.tolist()])
    matrix = np.asarray(similarity, dtype=np.float64)
    if matrix.shape[0] != n_tracks:
        raise ValueError(f"embeddings have {matrix.shape[0]} rows for {n_tracks} tracks")
    if bilinear is not None:
        w = np.asarray(bilinear, dtype=np.float64)
        if w.shape != (matrix.shape[1], matrix.shape[1]):
            raise ValueError(f"bilinear weights of shape {w.shape} for {matrix.shape[1]}-d embeddings")
        return lambda first, second: matrix[first] @ w @ matrix[second].T
    unit = _normalise(matrix)
    return lambda first, second: unit[first] @ unit[second].T


def ico_pair_indices(ptr: np.ndarray, tracks: np.ndarray, n_tracks: int, similarity: Similarity,
                     rng: np.random.Generator, bilinear: np.ndarray | None = None):
    """(anchors, positives, playlist index of each pair) as track indices (see the module docstring)."""
    score = _scorer(similarity, n_tracks, bilinear)
    used = np.zeros(n_tracks, dtype=bool)
    anchors: list[np.ndarray] = []
    positives: list[np.ndarray] = []
    sources: list[np.ndarray] = []
    lengths = np.diff(ptr)
    for p in rng.permutation(ptr.size - 1).tolist():
        if lengths[p] < 2:
            continue
        seg = tracks[ptr[p]:ptr[p + 1]]
        free = rng.permutation(seg[~used[seg]])
        half = free.size // 2                               # L, fixed for this playlist
        if half == 0:
            continue
        first, second = free[:half], free[half:2 * half]
        sims = score(first, second)
        open_ = np.ones(half, dtype=bool)
        chosen = np.empty(half, dtype=np.int64)
        rank_of = np.empty(half, dtype=np.int64)
        for i in range(half):
            rank_of[np.argsort(-sims[i], kind="stable")] = np.arange(half)  # rank in the full list
            cand = np.flatnonzero(open_)
            k = int(rng.choice(cand.size, p=rank_weights(half, rank_of[cand])))
            chosen[i] = cand[k]
            open_[cand[k]] = False
        used[first] = True
        used[second] = True
        anchors.append(first)
        positives.append(second[chosen])
        sources.append(np.full(half, p, dtype=np.int64))
    if not anchors:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return (np.concatenate(anchors).astype(np.int64), np.concatenate(positives).astype(np.int64),
            np.concatenate(sources))


def informed_cooccurrence_pairs(playlists: PlaylistTracks, embeddings: Similarity, seed: int, epoch: int, *,
                                split: str = "train", bilinear: np.ndarray | None = None) -> pa.Table:
    """ICO pairs of one epoch as a ``datasets/pairs`` table (anchor, positive, ..., shared_playlists).

    ``playlists``: from :func:`discogs_tools.pairs.playlists.load_playlists` (or built by hand);
    ``embeddings``: an (n_tracks, d) array whose row i belongs to ``playlists.track_ids[i]``
    (cosine similarity, or ``z_a W z_c^T`` with ``bilinear=W``), or a callable
    ``(anchor_index, candidate_indices) -> similarities``. Deterministic given ``seed`` and ``epoch``.
    """
    from .output import pairs_table

    rng = pair_rng(seed, epoch, NAME, split)
    anchors, positives, sources = ico_pair_indices(playlists.ptr, playlists.tracks, len(playlists.track_ids),
                                                   embeddings, rng, bilinear)
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
