"""The probe's PNG plot: per-class bars (ROC-AUC for multi-label, recall for multi-class) of every
model and baseline, or triplet accuracy bars for a similarity task.

Drawn with matplotlib (Agg backend, no display needed; a declared dependency) because it is the
plotting library users of this field already have, and a bar chart with readable class names is
beyond what a hand-written PNG encoder does well. The file carries no timestamp, so a rerun with
the same results writes the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..io import atomic_path


def save_png(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write a matplotlib figure as PNG atomically, without a timestamp (same figure, same bytes),
    and close it."""
    from matplotlib import pyplot as plt

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_results(results: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the plot of a results dict (as in runs/<run>/probe/<task>.json) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    models = results["models"]
    kind = results["kind"]
    if kind == "triplets":
        labels = ["frozen", "probe"]
        keys = ["frozen_triplet_accuracy", "triplet_accuracy"]
        categories = labels
        values = {m["name"]: [m["summary"].get(k, {}).get("mean") for k in keys] for m in models}
        errors = {m["name"]: [m["summary"].get(k, {}).get("std") or 0.0 for k in keys] for m in models}
        ylabel, title = "triplet accuracy", f"{results['task']}: triplet accuracy (cosine distance)"
    else:
        metric = "roc_auc" if kind == "multilabel" else "recall"
        categories = sorted({c for m in models for c in m["per_class"]})
        values = {m["name"]: [m["per_class"].get(c, {}).get(metric, {}).get("mean") for c in categories] for m in models}
        errors = {m["name"]: [m["per_class"].get(c, {}).get(metric, {}).get("std") or 0.0 for c in categories]
                  for m in models}
        ylabel = "ROC-AUC" if kind == "multilabel" else "recall"
        title = f"{results['task']}: per-class {ylabel} (mean over seeds)"
    n = max(len(categories), 1)
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(min(4 + 0.35 * n * max(len(models), 1), 40), 4.5))
    for k, (name, heights) in enumerate(values.items()):
        xs = [i + (k - (len(values) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, [h if h is not None else 0.0 for h in heights], width, yerr=errors[name], label=name, capsize=2)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, rotation=60 if len(categories) > 6 else 0, ha="right" if len(categories) > 6 else "center",
                       fontsize=8)
    ax.set_ylim(0, 1)
    if kind in ("multilabel", "triplets"):
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return save_png(fig, path)
