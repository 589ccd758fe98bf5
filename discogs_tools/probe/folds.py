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


FEW_SHOT = (1, 5, 10, 30)    # seed 004 sec. 3.3.5: n in {1, 5, 10, 30} examples per class
FEW_SHOT_TRIALS = 3          # seed 004: sec. 3.3.5, "three trials with a different random seed"
SIGNIFICANCE = 0.05          # seed 004 sec. 3.3.4: "a t-test with a p-value > 0.05 criterion"


def few_shot(keys: Sequence[str], labels: Sequence[str], splits: Sequence[str | None], n: int, *,
             seed: int | Sequence[int]) -> list[str | None]:
    """``splits`` with only ``n`` train records per class kept (drawn with ``default_rng(seed)``
    from the class's train records in key order; a class with fewer keeps all); the other train
    records get None (left out). Validation and test are unchanged: seed 004 sec. 3.3.5 "randomly choose n
    samples per class from the training split, but we still use the whole testing split"."""
    if n < 1:
        raise ConfigError(f"--few-shot needs at least 1 example per class, got {n}")
    rng = np.random.default_rng(seed)
    train: dict[str, list[int]] = defaultdict(list)
    for i in sorted(range(len(keys)), key=lambda i: keys[i]):
        if splits[i] == "train":
            train[labels[i]].append(i)
    out = list(splits)
    for c in sorted(train):
        members = train[c]
        if len(members) <= n:
            continue
        kept = set(rng.choice(len(members), size=n, replace=False).tolist())
        for j, i in enumerate(members):
            if j not in kept:
                out[i] = None
    return out


def corrected_ranks(stats: dict[str, tuple[float, float, int]], *, alpha: float = SIGNIFICANCE
                    ) -> dict[str, tuple[int, int]]:
    """(rank, corrected rank) of each model from its (mean, sample std, number of folds).

    Seed 004 sec. 3.3.4: rank 1 is the best mean; "we take advantage of the standard deviations
    collected on the 5-fold cross-validation to compute a ranking correction ... using a t-test
    with a p-value > 0.05 criterion ... the corrected rank of an embedding model is the rank of the
    best model that is not statistically different from it". The seed names no variant; here the
    two-sample Student t-test from the summary statistics (``scipy.stats.ttest_ind_from_stats``),
    which is what mean and std allow. Equal means tie in the order given; a test without variance
    (both std 0) counts the models as equal only when their means are equal."""
    from scipy.stats import ttest_ind_from_stats

    names = list(stats)
    order = sorted(range(len(names)), key=lambda i: (-stats[names[i]][0], i))
    rank = {names[i]: r + 1 for r, i in enumerate(order)}

    def same(a: str, b: str) -> bool:
        (ma, sa, na), (mb, sb, nb) = stats[a], stats[b]
        if a == b or ma == mb:
            return True
        p = float(ttest_ind_from_stats(ma, sa, na, mb, sb, nb).pvalue)
        return bool(p > alpha) if not np.isnan(p) else False

    return {m: (rank[m], min(rank[o] for o in names if same(m, o))) for m in names}
