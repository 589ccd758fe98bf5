"""Artist-filtered train/validation/test splits, stratified over style labels at group level.

1. :func:`artist_groups`: tracks and artists form a bipartite graph; its connected components
   are the *artist groups* (artists connected through shared tracks, transitively). A group is
   never divided, so no artist appears in two splits. Placeholder artists (Various, Unknown)
   are not in the graph (see :mod:`.entities`), so they join nothing.
2. :func:`stratify`: iterative multi-label stratification (Sechidis et al., 2011) over groups.
   Styles are visited from the rarest to the most common; the unassigned groups carrying a
   style are visited in a seeded random order and each goes to the split whose remaining
   demand for that style is largest, among the splits with room for the group's tracks (train
   always has room). The demand of validation and test for a style is
   ``max(min_releases, fraction * releases)``, so the minimum comes first; train takes the rest.
   Ties (no demand left anywhere) go to the split that is least full relative to its target size.

Everything works on integer arrays (numpy / scipy.sparse): 3.3M tracks fit in a few hundred MB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

SPLITS: tuple[str, ...] = ("train", "validation", "test")
TRAIN, VALIDATION, TEST = 0, 1, 2


def resolve_size(value: float, n_tracks: int, what: str) -> int:
    """A split size given as a fraction (0 < v < 1) or a track count (v >= 1, whole) -> tracks."""
    if value < 0:
        raise ConfigError(f"--{what} must not be negative (got {value})")
    if 0 < value < 1:
        return int(round(value * n_tracks))
    if float(value) != int(value):
        raise ConfigError(f"--{what} must be a fraction below 1 or a whole number of tracks (got {value})")
    return int(value)


def artist_groups(n_tracks: int, track_index: np.ndarray, artist_ids: np.ndarray) -> np.ndarray:
    """Group id of each track: connected components of the track-artist graph.

    ``track_index[i]`` and ``artist_ids[i]`` are one (track, artist) edge. Group ids are dense
    and numbered in order of each group's smallest track index (deterministic).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    track_index = np.asarray(track_index, dtype=np.int64)
    _, artist_dense = np.unique(np.asarray(artist_ids, dtype=np.int64), return_inverse=True)
    n_artists = int(artist_dense.max()) + 1 if artist_dense.size else 0
    n_nodes = n_tracks + n_artists
    graph = coo_matrix((np.ones(track_index.size, dtype=np.int8), (track_index, n_tracks + artist_dense)),
                       shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(graph, directed=False)
    labels = labels[:n_tracks]
    _, first_track = np.unique(labels, return_index=True)
    renumber = np.empty(first_track.size, dtype=np.int64)
    renumber[np.argsort(np.argsort(first_track))] = np.arange(first_track.size)
    # ``np.unique`` sorted the labels, so position k in ``first_track`` is label value rank k.
    _, label_rank = np.unique(labels, return_inverse=True)
    return renumber[label_rank]


@dataclass
class StratifyResult:
    """Split of each group (0 train, 1 validation, 2 test) and the per-split style counts used."""

    group_split: np.ndarray
    style_counts: np.ndarray  # (3, n_styles) release counts accumulated per split (group-level estimate)
    demand: np.ndarray  # (3, n_styles) the desired counts


def stratify(group_tracks: np.ndarray, group_index: np.ndarray, style_index: np.ndarray, counts: np.ndarray,
             n_styles: int, *, validation: int, test: int, min_releases: int, seed: int) -> StratifyResult:
    """Assign every group to a split (see module docstring).

    ``group_tracks[g]``: tracks in group g. ``(group_index, style_index, counts)``: sparse
    group x style matrix of release counts. ``validation``/``test``: target track counts.
    """
    n_groups = int(group_tracks.size)
    n_tracks = int(group_tracks.sum())
    rng = np.random.default_rng(seed)
    group_rank = rng.permutation(n_groups)

    group_index = np.asarray(group_index, dtype=np.int64)
    style_index = np.asarray(style_index, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    totals = np.bincount(style_index, weights=counts, minlength=n_styles)

    targets = np.array([n_tracks - validation - test, validation, test], dtype=np.float64)
    fractions = targets / max(n_tracks, 1)
    demand = np.zeros((3, n_styles))
    for split in (VALIDATION, TEST):
        demand[split] = np.maximum(float(min_releases), fractions[split] * totals) if targets[split] else 0.0
    demand[TRAIN] = np.maximum(totals - demand[VALIDATION] - demand[TEST], 0.0)
    current = np.zeros((3, n_styles))

    # Row view (group -> its styles) for updates, column view (style -> groups in random order) for visits.
    by_row = np.lexsort((style_index, group_index))
    row_styles, row_counts = style_index[by_row], counts[by_row]
    row_ptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group_index, minlength=n_groups), out=row_ptr[1:])
    by_col = np.lexsort((group_rank[group_index], style_index))
    col_groups = group_index[by_col]
    col_ptr = np.zeros(n_styles + 1, dtype=np.int64)
    np.cumsum(np.bincount(style_index, minlength=n_styles), out=col_ptr[1:])

    group_split = np.full(n_groups, -1, dtype=np.int8)
    filled = [0.0, 0.0, 0.0]
    capacity = [float("inf"), float(validation), float(test)]
    sizes = group_tracks.tolist()
    targets_list = [max(t, 1.0) for t in targets.tolist()]

    def choose(g: int, scores: list[float] | None) -> int:
        best, best_key = TRAIN, None
        for split in (TRAIN, VALIDATION, TEST):
            if split != TRAIN and filled[split] + sizes[g] > capacity[split]:
                continue
            key = (scores[split] if scores is not None else 0.0, -filled[split] / targets_list[split])
            if best_key is None or key > best_key:
                best, best_key = split, key
        return best

    def assign(g: int, split: int) -> None:
        group_split[g] = split
        filled[split] += sizes[g]
        lo, hi = row_ptr[g], row_ptr[g + 1]
        current[split, row_styles[lo:hi]] += row_counts[lo:hi]

    for s in np.argsort(totals, kind="stable").tolist():
        members = col_groups[col_ptr[s]:col_ptr[s + 1]].tolist()
        for g in members:
            if group_split[g] >= 0:
                continue
            scores = [demand[0, s] - current[0, s], demand[1, s] - current[1, s], demand[2, s] - current[2, s]]
            if max(scores) <= 0:
                scores = None
            assign(g, choose(g, scores))
    # Groups without any style (not produced by build-dataset, but possible for callers).
    for g in np.argsort(group_rank).tolist():
        if group_split[g] < 0:
            assign(g, choose(g, None))
    return StratifyResult(group_split=group_split, style_counts=current, demand=demand)


def group_style_counts(group_of_track: np.ndarray, track_index: np.ndarray, release_ids: np.ndarray,
                       style_index: np.ndarray, n_styles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse (group, style) -> number of distinct releases, from (track, release, style) rows."""
    groups = group_of_track[np.asarray(track_index, dtype=np.int64)]
    releases = np.asarray(release_ids, dtype=np.int64)
    styles = np.asarray(style_index, dtype=np.int64)
    if groups.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    # Distinct (group, release, style) triples, then count per (group, style).
    order = np.lexsort((releases, styles, groups))
    g, s, r = groups[order], styles[order], releases[order]
    new = np.ones(g.size, dtype=bool)
    new[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1]) | (r[1:] != r[:-1])
    g, s = g[new], s[new]
    key = g * n_styles + s
    keys, cnt = np.unique(key, return_counts=True)
    return keys // n_styles, keys % n_styles, cnt
