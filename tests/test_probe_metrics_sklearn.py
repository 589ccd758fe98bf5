"""Issue 15: accuracy, balanced accuracy and per-class recall come from scikit-learn, and the one
metric we keep hand-written (the vectorised macro ROC-AUC used for model selection every epoch)
agrees with scikit-learn on realistic multi-label data: sparse tags with Zipf-like prevalence,
sigmoid probabilities in float32 (saturated scores tie), a tag without positives and one without
negatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics
from sklearn.metrics import roc_auc_score

from discogs_tools.probe.metrics import macro_roc_auc, multiclass_scores


def realistic_tags(seed: int, tracks: int = 600, tags: int = 50):
    """A test split shaped like MTG-Jamendo's: tag prevalence falling as 1/rank, model scores
    as float32 sigmoid outputs kept at three decimals (as predictions exported to a table are);
    confident outputs saturate to exactly 0 or 1: many ties in every tag."""
    rng = np.random.default_rng(seed)
    prevalence = 0.3 / np.arange(1, tags + 1)
    y = (rng.random((tracks, tags)) < prevalence).astype(np.float32)
    y[:, -1] = 0          # a tag with no positive in the test split
    y[:, -2] = 1          # a tag with no negative
    logits = 3.0 * (2 * y - 1) * rng.random((tracks, tags)) + rng.normal(scale=2.0, size=y.shape)
    logits[rng.random(y.shape) < 0.05] *= 20          # confident outputs saturate
    logits = np.clip(logits, -60, 60).astype(np.float32)
    scores = np.round(1 / (1 + np.exp(-logits)), 3).astype(np.float32)
    return y, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_macro_roc_auc_equals_scikit_learn(seed):
    y, scores = realistic_tags(seed)
    assert all(len(np.unique(scores[:, j])) < 0.8 * len(scores) for j in range(y.shape[1]))  # ties
    scorable = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    assert y.shape[1] - 1 not in scorable and y.shape[1] - 2 not in scorable and len(scorable) > 40
    expected = np.mean([roc_auc_score(y[:, j], scores[:, j]) for j in scorable])
    assert macro_roc_auc(y, scores) == pytest.approx(expected, abs=1e-12)


def test_macro_roc_auc_without_a_scorable_tag_is_nan():
    y = np.zeros((10, 3), np.float32)
    y[:, 1] = 1
    assert math.isnan(macro_roc_auc(y, np.random.default_rng(0).random((10, 3))))


def test_multiclass_scores_come_from_scikit_learn(monkeypatch):
    calls = []
    for name in ("accuracy_score", "balanced_accuracy_score", "recall_score"):
        real = getattr(sklearn.metrics, name)

        def recording(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(sklearn.metrics, name, recording)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 200)                       # class 4 never occurs in the test split
    logits = rng.normal(size=(200, 5)) + 2.0 * np.eye(5)[y]
    logits[:7, 4] = 9.0                               # ... but is predicted for some tracks
    out = multiclass_scores(y, logits, list("abcde"))
    assert sorted(set(calls)) == ["accuracy_score", "balanced_accuracy_score", "recall_score"]
    predicted = logits.argmax(axis=1)
    assert out["accuracy"] == pytest.approx(float((predicted == y).mean()), abs=1e-12)
    recalls = [float((predicted[y == j] == j).mean()) for j in range(4)]
    assert [out["per_class"][c]["recall"] for c in "abcd"] == pytest.approx(recalls, abs=1e-12)
    assert out["balanced_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-12)
    assert out["excluded_classes"] == {"e": "no example in the test split"}
