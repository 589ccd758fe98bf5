"""Cross-collection evaluation (``probe --protocol 5-fold --test-collection OTHER``; seed 004
sec. 3.2.3 and sec. 3.3.1).

Seed 004 sec. 3.2.3: "we use 80% of the downstream data for training and 20% for validation. We do
not reserve data for testing in this case. We use the resulting model to predict the labels of an
unseen collection annotated with the same taxonomy", and "we only compute class-normalized
metrics, since there is no way to obtain dispersion metrics from a single evaluation". Sec. 3.3.1
maps the other collection's tags onto the classes ("mapped to their parent in the hierarchy ...
unless there was a direct match to one of the classes"), keeps only "tracks that have a ground-truth
label matching one of the classes", and "a prediction is considered correct if it matches one of
the labels of the track".

Here: the class map is a table (CSV, TSV, JSON Lines or Parquet) with columns ``source`` (a label
of the other collection) and ``target`` (a class of the task); a label equal to a class is a direct
match and wins over the map; other labels are dropped, and test tracks left without a class are
counted (``records_without_a_class``) and not scored. The 80/20 split is stratified by class (as in
sec. 3.2.2; not stated for sec. 3.2.3). Balanced accuracy: for each class, the share of the test
tracks carrying it whose predicted class is one of their labels, averaged over the classes (the
seed does not define it for multi-label ground truth; this reduces to the usual one for a single
label). ``--seeds`` repeats the probe, so the summary's std is over probe seeds, not folds.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from .datasets import read_manifest
from .folds import stratified_folds

TRAIN_FRACTION_NOTE = "80/20 train/validation (seed 004 sec. 3.2.3), stratified"


def read_class_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{source label: class}`` from a table with ``source`` and ``target`` columns."""
    table = read_manifest(path)
    if not {"source", "target"} <= set(table.column_names):
        raise InputError(path, f"a class map needs columns source and target, got {table.column_names}")
    out: dict[str, str] = {}
    for s, t in zip(table.column("source").to_pylist(), table.column("target").to_pylist()):
        if s is None or t is None:
            raise InputError(path, f"class map row with an empty value: {s!r} -> {t!r}")
        out[str(s).strip()] = str(t).strip()
    return out


def map_labels(label_sets: Sequence[Sequence[str]], mapping: dict[str, str], classes: Sequence[str]
               ) -> list[list[str]]:
    """Each record's labels as classes: a direct match first, else the map; others dropped (sorted, distinct)."""
    known = set(classes)
    out = []
    for labels in label_sets:
        mapped = {lab if lab in known else mapping.get(lab, "") for lab in labels}
        out.append(sorted(c for c in mapped if c in known))
    return out


def holdout_splits(keys: Sequence[str], labels: Sequence[str], *, seed: int) -> list[str]:
    """Stratified 80% train / 20% validation of the training collection (no test part)."""
    fold = stratified_folds(keys, labels, n_folds=5, validation_fraction=0.0, seed=seed)[0]
    return ["validation" if s == "test" else s for s in fold]


def any_label_scores(truth: Sequence[Sequence[str]], scores: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy and balanced accuracy where a prediction is correct if it is one of the track's labels."""
    predicted = [classes[j] for j in np.asarray(scores).argmax(axis=1)]
    correct = np.array([p in t for p, t in zip(predicted, truth)], dtype=bool)
    per_class: dict[str, dict[str, Any]] = {}
    excluded: dict[str, str] = {}
    for c in classes:
        members = np.array([c in t for t in truth], dtype=bool)
        if not members.any():
            excluded[c] = "no example in the test collection"
            continue
        per_class[c] = {"recall": float(correct[members].mean()), "positives": int(members.sum())}
    return {"accuracy": float(correct.mean()) if len(correct) else math.nan,
            "balanced_accuracy": float(np.mean([v["recall"] for v in per_class.values()])) if per_class else math.nan,
            "per_class": per_class, "excluded_classes": excluded}
