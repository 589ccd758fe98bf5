"""Stratified 5-fold splits (seed 004 sec. 3.2.2) and `probe --protocol 5-fold` on a tiny task."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from discogs_tools.errors import ConfigError
from discogs_tools.probe.folds import stratified_folds


def _labels(n_per_class):
    keys, labels = [], []
    for c, n in n_per_class.items():
        for j in range(n):
            keys.append(f"{c}-{j:03d}")
            labels.append(c)
    return keys, labels


def test_each_record_tested_once_stratified_20_percent_and_85_15():
    keys, labels = _labels({"a": 100, "b": 60, "c": 40})
    folds = stratified_folds(keys, labels, seed=3)
    assert len(folds) == 5
    tested = Counter(i for f in folds for i, s in enumerate(f) if s == "test")
    assert sorted(tested) == list(range(200)) and set(tested.values()) == {1}
    for f in folds:
        per = {s: Counter(l for l, x in zip(labels, f) if x == s) for s in ("train", "validation", "test")}
        assert per["test"] == {"a": 20, "b": 12, "c": 8}          # 20% of each class
        assert per["validation"] == {"a": 12, "b": 7, "c": 5}     # round(15% of 80, 48, 32)
        assert per["train"] == {"a": 68, "b": 41, "c": 27}


def test_seeded_deterministic_and_independent_of_row_order():
    keys, labels = _labels({"a": 30, "b": 20})
    a = stratified_folds(keys, labels, seed=1)
    assert a == stratified_folds(keys, labels, seed=1)
    assert a != stratified_folds(keys, labels, seed=2)
    perm = np.random.default_rng(0).permutation(len(keys))
    b = stratified_folds([keys[i] for i in perm], [labels[i] for i in perm], seed=1)
    assert all(b[k][j] == a[k][i] for k in range(5) for j, i in enumerate(perm))


def test_class_with_fewer_records_than_folds_is_an_error():
    keys, labels = _labels({"a": 30, "rare": 3})
    with pytest.raises(ConfigError, match="rare"):
        stratified_folds(keys, labels)
