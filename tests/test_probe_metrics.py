"""Probe metrics against scikit-learn (every metric it has), and the retrieval and triplet metrics
that it does not have against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    label_ranking_average_precision_score,
    recall_score,
    roc_auc_score,
)

from discogs_tools.probe.metrics import (
    macro_roc_auc,
    multiclass_scores,
    multilabel_scores,
    retrieval_scores,
    triplet_scores,
)


@pytest.fixture
def tagged():
    """200 tracks x 12 tags with tied scores (rounded), one tag never positive, one always."""
    rng = np.random.default_rng(7)
    y = (rng.random((200, 12)) < rng.uniform(0.05, 0.5, 12)).astype(np.float32)
    y[:, 10] = 0
    y[:, 11] = 1
    scores = np.round(y * 0.8 + rng.normal(size=y.shape), 1)  # ties within every column
    return y, scores


def test_multilabel_metrics_match_scikit_learn(tagged):
    y, scores = tagged
    got = multilabel_scores(y, scores, [f"c{j}" for j in range(12)])
    ok = slice(0, 10)  # the scorable tags (10 has no positive, 11 no negative)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y[:, ok], scores[:, ok], average="macro"), abs=1e-12)
    assert got["pr_auc"] == pytest.approx(average_precision_score(y[:, ok], scores[:, ok], average="macro"),
                                          abs=1e-12)
    for j in range(10):
        assert got["per_class"][f"c{j}"]["roc_auc"] == pytest.approx(roc_auc_score(y[:, j], scores[:, j]))
    assert set(got["excluded_classes"]) == {"c10", "c11"}
    assert macro_roc_auc(y, scores) == pytest.approx(roc_auc_score(y[:, ok], scores[:, ok], average="macro"),
                                                     abs=1e-12)


def test_multiclass_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 300)
    logits = rng.normal(size=(300, 5)) + 1.5 * np.eye(5)[y] * (rng.random(300) < 0.6)[:, None]
    got = multiclass_scores(y, logits, list("abcde"))
    predicted = logits.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, predicted), abs=1e-12)
    recalls = recall_score(y, predicted, average=None)
    assert [got["per_class"][c]["recall"] for c in "abcde"] == pytest.approx(list(recalls))


def test_retrieval_map_and_mrr_match_scikit_learn(tagged):
    y, scores = tagged
    got = retrieval_scores(y, scores)
    queries = [j for j in range(12) if y[:, j].any()]            # tag 10 has nothing to retrieve
    assert got["map"] == pytest.approx(np.mean([average_precision_score(y[:, j], scores[:, j]) for j in queries]))
    # with one relevant track per query and no ties, the reciprocal rank is scikit-learn's label
    # ranking average precision of that query (queries as rows)
    rng = np.random.default_rng(2)
    single = np.zeros((30, 6))
    single[rng.integers(0, 30, 6), np.arange(6)] = 1
    distinct = rng.permutation(180).reshape(30, 6).astype(float)
    assert retrieval_scores(single, distinct)["mrr"] == pytest.approx(
        label_ranking_average_precision_score(single.T, distinct.T))


def test_precision_at_k_and_mrr_by_hand():
    # tag 0: ranking (by score) t3, t1, t0, t2, t4 -> relevant t1, t2: P@5 = 2/5, first relevant at rank 2
    # tag 1: ranking t0, t1, ... -> relevant t0: P@5 = 1/5, rank 1
    # tag 2: no relevant track: not a query
    y = np.array([[0, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]], float)
    s = np.array([[0.5, 0.9, 0], [0.8, 0.7, 0], [0.1, 0.1, 0], [0.9, 0.2, 0], [0.0, 0.3, 0]], float)
    got = retrieval_scores(y, s, ks=(1, 5, 10))
    assert got["p_at_1"] == pytest.approx((0 + 1) / 2)
    assert got["p_at_5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert got["p_at_10"] == pytest.approx((2 / 10 + 1 / 10) / 2)  # K larger than the tracks: out of K
    assert got["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    # tag 0 AP = (1/2 + 2/4) / 2, tag 1 AP = 1
    assert got["map"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 1) / 2)


def test_triplet_accuracy_and_mean_distance_difference_by_hand():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    p = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 2.0]])   # d = 1 - 1/sqrt(2), 1, 0
    n = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 3.0]])   # d = 1, 1 - 1/sqrt(2), 0 (a tie: one half)
    got = triplet_scores(a, p, n)
    assert got["triplet_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert got["distance_gap"] == pytest.approx(0.0)
    gap = (1 - (1 - 2 ** -0.5)) + ((1 - 2 ** -0.5) - 1) + 0
    assert got["distance_gap"] == pytest.approx(gap / 3)
