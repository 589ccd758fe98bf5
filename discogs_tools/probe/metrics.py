"""Probe metrics: macro ROC-AUC and PR-AUC (multi-label), accuracy (multi-class), triplet
accuracy and mean distance gap (similarity), tag-based retrieval metrics (MAP, P@5, P@10, MRR),
and mean/std over seeds.

Macro averages run over the classes that can be scored on the test split: a class without a
positive (or without a negative) test example has no ROC curve, so it is excluded and listed with
the reason, never counted as 0 or 1.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np


def multilabel_scores(y_true: np.ndarray, y_score: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Macro ROC-AUC and PR-AUC (average precision) over scorable classes, and per-class values.

    ``y_true`` is n x classes 0/1, ``y_score`` n x classes (any monotone score: logits or probabilities).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true = np.asarray(y_true) > 0.5
    y_score = np.asarray(y_score, dtype=np.float64)
    per_class: dict[str, dict[str, float | int]] = {}
    excluded: dict[str, str] = {}
    for j, name in enumerate(classes):
        positives = int(y_true[:, j].sum())
        if positives == 0:
            excluded[name] = "no positive in the test split"
            continue
        if positives == len(y_true):
            excluded[name] = "no negative in the test split"
            continue
        per_class[name] = {
            "roc_auc": float(roc_auc_score(y_true[:, j], y_score[:, j])),
            "pr_auc": float(average_precision_score(y_true[:, j], y_score[:, j])),
            "positives": positives,
        }
    scored = list(per_class.values())
    return {
        "roc_auc": float(np.mean([c["roc_auc"] for c in scored])) if scored else math.nan,
        "pr_auc": float(np.mean([c["pr_auc"] for c in scored])) if scored else math.nan,
        **retrieval_scores(y_true, y_score),
        "classes_scored": len(scored),
        "per_class": per_class,
        "excluded_classes": excluded,
    }


def multiclass_scores(y_true: np.ndarray, y_score: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy of the arg-max class, balanced accuracy, and per-class recall over test classes,
    computed by scikit-learn (``accuracy_score``, ``balanced_accuracy_score``, ``recall_score``).

    Balanced accuracy is the mean recall over the classes present in the test split; a class that
    is predicted but absent from the split has no recall and is listed as excluded, not counted.
    """
    from sklearn import metrics

    y_true = np.asarray(y_true, dtype=np.int64)
    predicted = np.asarray(y_score).argmax(axis=1)
    present = [j for j in range(len(classes)) if (y_true == j).any()]
    excluded = {name: "no example in the test split" for j, name in enumerate(classes) if j not in present}
    if not len(y_true):
        return {"accuracy": math.nan, "balanced_accuracy": math.nan, "per_class": {}, "excluded_classes": excluded}
    recalls = metrics.recall_score(y_true, predicted, labels=present, average=None, zero_division=0)
    per_class: dict[str, dict[str, float | int]] = {
        classes[j]: {"recall": float(r), "positives": int((y_true == j).sum())} for j, r in zip(present, recalls)}
    with warnings.catch_warnings():
        # predicted classes absent from the split: scikit-learn warns, then leaves them out as we do
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = metrics.balanced_accuracy_score(y_true, predicted)
    return {
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(balanced),
        "per_class": per_class,
        "excluded_classes": excluded,
    }


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance 1 - cos(a_i, b_i) (a zero vector is at distance 1 from everything)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    cos = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return 1.0 - cos


def triplet_scores(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> dict[str, Any]:
    """Triplet accuracy (share of triplets whose anchor is closer, in cosine distance, to the positive
    than to the negative; an exact tie counts one half) and the mean distance gap d(a,n) - d(a,p)."""
    d_pos = cosine_distance(anchor, positive)
    d_neg = cosine_distance(anchor, negative)
    credit = np.where(d_pos < d_neg, 1.0, np.where(d_pos == d_neg, 0.5, 0.0))
    return {
        "triplet_accuracy": float(credit.mean()) if len(credit) else math.nan,
        "distance_gap": float((d_neg - d_pos).mean()) if len(credit) else math.nan,
        "distance_positive": float(d_pos.mean()) if len(credit) else math.nan,
        "distance_negative": float(d_neg.mean()) if len(credit) else math.nan,
    }


def mean_std(values: Sequence[float]) -> dict[str, float | int]:
    """Mean and sample standard deviation (0 for a single value) of per-seed results, NaN ignored."""
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not finite:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return {"mean": float(np.mean(finite)), "std": std, "n": len(finite)}


def macro_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Macro ROC-AUC over the classes with both positives and negatives, from rank sums
    (Mann-Whitney U, ties as average ranks: the same value as scikit-learn, in one vectorised pass).
    Used for model selection on the validation split every epoch; NaN when no class is scorable.
    Kept instead of a per-class loop over ``sklearn.metrics.roc_auc_score`` because it is one
    rank pass over the whole matrix; tests/test_probe_metrics_sklearn.py holds it equal to
    scikit-learn on multi-label data with ties and unscorable classes."""
    from scipy.stats import rankdata

    y_true = np.asarray(y_true) > 0.5
    positives = y_true.sum(axis=0)
    negatives = len(y_true) - positives
    scorable = (positives > 0) & (negatives > 0)
    if not scorable.any():
        return math.nan
    ranks = rankdata(np.asarray(y_score, dtype=np.float64)[:, scorable], axis=0)
    pos = positives[scorable]
    u = (ranks * y_true[:, scorable]).sum(axis=0) - pos * (pos + 1) / 2
    return float(np.mean(u / (pos * negatives[scorable])))


def retrieval_scores(y_true: np.ndarray, y_score: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """Tag-based retrieval (seed 003 sec. 5.2.4: MAP and P@10; sec. 5.3.4: P@5 and MRR, macro over
    the query labels): each tag is a query, the test tracks are ranked by their score for it, and
    its relevant tracks are those carrying the tag.

    - ``map``: mean over tags of the average precision of the ranking (scikit-learn's
      ``average_precision_score``: tied scores form one step);
    - ``p_at_K``: mean over tags of the share of tag-carrying tracks among the K best-scored;
    - ``mrr``: mean over tags of 1 / rank of the first tag-carrying track.

    Tags without a relevant test track have no ranking to score and are left out (as for ROC-AUC).
    For P@K and MRR, tracks of equal score keep their input order (a stable sort), so the result is
    deterministic; with ties among the first ranks the true value depends on that order.
    """
    from sklearn.metrics import average_precision_score

    y_true = np.asarray(y_true) > 0.5
    y_score = np.asarray(y_score, dtype=np.float64)
    queries = np.flatnonzero(y_true.any(axis=0))
    out: dict[str, float] = {"map": math.nan, **{f"p_at_{k}": math.nan for k in ks}, "mrr": math.nan}
    if not len(queries):
        return out
    aps, rrs = [], []
    precisions: dict[int, list[float]] = {k: [] for k in ks}
    for j in queries:
        relevant = y_true[:, j]
        ranked = relevant[np.argsort(-y_score[:, j], kind="stable")]
        aps.append(float(average_precision_score(relevant, y_score[:, j])) if not relevant.all() else 1.0)
        for k in ks:
            precisions[k].append(float(ranked[:k].sum()) / k)
        rrs.append(1.0 / (int(np.argmax(ranked)) + 1))
    out["map"] = float(np.mean(aps))
    for k in ks:
        out[f"p_at_{k}"] = float(np.mean(precisions[k]))
    out["mrr"] = float(np.mean(rrs))
    return out
