"""The training set's input mean and standard deviation (seed 004 sec. 6.3.1: "We normalize the input
to the mean and standard deviation of the training set").

One scalar mean and one scalar standard deviation over every frame and band of the training
tracks' stored mel-spectrograms, accumulated track by track in float64 (sum and sum of squares), so
memory stays at one track whatever the set's size. ``limit`` takes a seeded random subset of that
many tracks instead of all of them (the statistics of 3.3M tracks read 1.3 TB). The trainer stores
the result in the backbone (buffers saved with every checkpoint, used by ``embed`` and ``probe``)
and in runs/<run>/input_stats.json.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..features.store import FeatureStore


def training_stats(store: FeatureStore, positions: Sequence[int], *, limit: int | None = None,
                   seed: int = 0) -> dict[str, float | int]:
    """{"mean", "std", "tracks", "values"} over the tracks at ``positions`` (all, or ``limit`` of them)."""
    positions = np.unique(np.asarray(positions, dtype=np.int64))
    positions = positions[positions >= 0]
    if limit is not None and limit < len(positions):
        positions = np.sort(np.random.default_rng([seed, 7]).choice(positions, size=limit, replace=False))
    total = squares = 0.0
    count = 0
    for pos in positions:
        rows = np.asarray(store.rows(int(pos)), dtype=np.float64)
        total += float(rows.sum())
        squares += float(np.square(rows).sum())
        count += rows.size
    if count == 0:
        raise InputError(store.root, "no training frames to compute the input mean and standard deviation from")
    mean = total / count
    std = math.sqrt(max(squares / count - mean * mean, 0.0))
    if std == 0.0:
        raise InputError(store.root, "the training features are constant (standard deviation 0): cannot normalise")
    return {"mean": mean, "std": std, "tracks": len(positions), "values": int(count)}


__all__ = ["training_stats"]
