"""A 2-D map of a run's embeddings, coloured by style, label or artist.

t-SNE (scikit-learn, already a dependency: no new package) on a seeded sample of at most
``max_points`` tracks, after PCA to 50 dimensions (the usual first step, and what keeps t-SNE
affordable on 1280-d vectors); perplexity 30, or less for a tiny collection. The same index,
sample size and seed give the same map. The map is cached next to the index
(``map-<seed>-<n>.json``), so it is recomputed when the index is rebuilt (the folder is replaced).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from ..io import write_json_atomic
from .index import EmbeddingIndex
from .metadata import Metadata

MAX_POINTS = 5_000
TOP_GROUPS = 12
COLOUR_BY = ("style", "label", "artist")


def layout(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) t-SNE coordinates scaled to [0, 1]; deterministic given ``seed``."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    n = len(vectors)
    if n < 3:
        return np.full((n, 2), 0.5)
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    dims = min(50, n - 1, x.shape[1])
    x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    xy = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed,
              metric="euclidean").fit_transform(x)
    xy = xy - xy.min(axis=0)
    return xy / np.maximum(xy.max(axis=0), 1e-12)


def build_map(index: EmbeddingIndex, metadata: Metadata, *, max_points: int = MAX_POINTS, seed: int = 0) -> dict[str, Any]:
    """Points (track id, x, y, artist, title, style, label) of a seeded sample of the index, and
    for each colouring its most common groups (the rest are "other"); cached next to the index."""
    n = min(len(index), max_points)
    cache = index.folder / f"map-{seed}-{n}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.choice(len(index), size=n, replace=False)) if n < len(index) else np.arange(n)
    vectors = np.stack([index.vector(int(k)) for k in keys]) if n else np.zeros((0, index.dim))
    xy = layout(vectors, seed)
    ids = index.track_ids(keys)
    infos = metadata.lookup(ids)
    points = []
    for tid, (x, y) in zip(ids, xy):
        info = infos.get(tid)
        points.append({"track_id": tid, "x": round(float(x), 5), "y": round(float(y), 5),
                       "artist": info.artist if info else None, "title": info.title if info else None,
                       "style": (info.styles[0] if info and info.styles else None),
                       "label": (info.labels[0] if info and info.labels else None)})
    groups = {by: [g for g, _ in Counter(p[by] for p in points if p[by]).most_common(TOP_GROUPS)] for by in COLOUR_BY}
    result = {"points": points, "groups": groups, "seed": seed, "sampled": n, "total": len(index),
              "method": "t-SNE after PCA-50 (scikit-learn)"}
    write_json_atomic(cache, result)
    return result
