"""The balanced epoch sample of MAEST's training (seed 004 sec. 6.3.1).

"On every epoch, we take a balanced sample of 200,000 tracks without replacement using the inverse
label frequencies as sample weight" (the sampling of PaSST on AudioSet). A track's weight is the
sum, over its labels, of ``1 / count(label)`` in the training split, so a track of rare styles is
drawn more often than one of common styles, and every style's expected share of the epoch moves
towards the uniform.

Sampling without replacement, weighted, in O(n): each track gets the key ``log(u) / w`` with ``u``
uniform in (0, 1], and the ``k`` largest keys are taken (Efraimidis & Spirakis 2006): exactly the
distribution of drawing ``k`` tracks one after another with probability proportional to weight
among those not drawn yet. The draws come from the generator passed in (the trainer seeds it with
(seed, epoch)), so an epoch's sample is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPOCH_TRACKS = 200_000  # seed 004 sec. 6.3.1


def inverse_frequency_weights(labels: Sequence[np.ndarray], n_labels: int) -> np.ndarray:
    """Per track: sum over its label indices of 1 / (tracks with that label). Tracks without labels weigh 0."""
    counts = np.zeros(n_labels, dtype=np.float64)
    for lab in labels:
        counts[np.asarray(lab, dtype=np.int64)] += 1
    inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return np.array([inverse[np.asarray(lab, dtype=np.int64)].sum() for lab in labels], dtype=np.float64)


def weighted_sample_without_replacement(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct indices (all with positive weight if fewer), drawn successively with probability
    proportional to ``weights``; returned in draw order (largest key first)."""
    weights = np.asarray(weights, dtype=np.float64)
    u = rng.random(len(weights))
    positive = weights > 0
    keys = np.full(len(weights), -np.inf)
    keys[positive] = np.log1p(-u[positive]) / weights[positive]  # log(1 - u), u in [0, 1): finite
    k = min(int(k), int(positive.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-keys, k - 1)[:k]
    return top[np.argsort(-keys[top], kind="stable")].astype(np.int64)


def balanced_epoch(labels: Sequence[np.ndarray], n_labels: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``labels`` of one epoch's balanced sample of ``k`` tracks (seed 004 sec. 6.3.1)."""
    return weighted_sample_without_replacement(inverse_frequency_weights(labels, n_labels), k, rng)


__all__ = ["EPOCH_TRACKS", "balanced_epoch", "inverse_frequency_weights", "weighted_sample_without_replacement"]
