"""Stratified k-fold splits of a multi-class task (``probe --protocol 5-fold``, seed 004 sec. 3.2.2).

Seed 004 sec. 3.2.2: "On each fold, 20% of the data is reserved for the testing set. The remaining
data is split into 85% for training and 15% for validation. Every split is stratified to keep a
constant label distribution in the training, validation, and testing sets." The metric is the
mean and standard deviation over the folds of the balanced ("class-weighted", "normalized")
accuracy.

How the records are drawn is not stated in the seed; here: per class (in sorted class order) the
records are shuffled with ``numpy.random.default_rng(seed)`` and dealt to the folds in turn,
continuing the turn across classes, so fold sizes differ by at most one and each class is spread
evenly. Within a fold, each class's non-test records (in their shuffled order) give
``round(15% x n)`` validation records, the rest train. Same labels + seed give the same folds,
independent of the record order in the manifest (records are keyed by their ids).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from ..errors import ConfigError

N_FOLDS = 5                  # seed 004 sec. 3.2.2: 5 folds, 20% test each
VALIDATION_FRACTION = 0.15   # seed 004 sec. 3.2.2: the rest split 85% train / 15% validation


def stratified_folds(keys: Sequence[str], labels: Sequence[str], *, n_folds: int = N_FOLDS,
                     validation_fraction: float = VALIDATION_FRACTION, seed: int = 0) -> list[list[str]]:
    """For each fold, the split ("train" / "validation" / "test") of every record.

    ``keys`` are distinct record ids (they order the records before the seeded shuffle, so the
    folds do not depend on the manifest's row order); ``labels`` one class per record. A class with
    fewer records than folds cannot be stratified: a one-line error names it."""
    if n_folds < 2:
        raise ConfigError(f"k-fold cross-validation needs at least 2 folds, got {n_folds}")
    if not 0 <= validation_fraction < 1:
        raise ConfigError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    members: dict[str, list[int]] = defaultdict(list)
    for i in sorted(range(len(keys)), key=lambda i: keys[i]):
        members[labels[i]].append(i)
    small = {c: len(m) for c, m in members.items() if len(m) < n_folds}
    if small:
        raise ConfigError(f"{n_folds}-fold stratified cross-validation needs at least {n_folds} records per class; "
                          f"too few: {dict(sorted(small.items()))}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(keys), dtype=np.int64)
    order: dict[str, list[int]] = {}
    turn = 0
    for c in sorted(members):
        shuffled = [members[c][j] for j in rng.permutation(len(members[c]))]
        order[c] = shuffled
        for i in shuffled:
            fold_of[i] = turn % n_folds
            turn += 1
    out = []
    for k in range(n_folds):
        splits = ["test"] * len(keys)
        for c in sorted(order):
            rest = [i for i in order[c] if fold_of[i] != k]
            n_val = int(round(validation_fraction * len(rest)))
            n_val = min(n_val, len(rest) - 1)  # keep at least one train record of every class
            for j, i in enumerate(rest):
                splits[i] = "validation" if j < n_val else "train"
        out.append(splits)
    return out
