"""Retrieval quality of an embedding: precision@k that a neighbour shares the query's artist,
release, label, style or playlist, the associations the models are trained on (seed 000 sec. 3;
seed 004 ch. 5 for playlists), and the relation cosine.club's users rely on (seed 004 sec. 8.2.1:
the closest tracks by cosine distance).

For an association A and a query track q that has at least one value of A: the k nearest other
tracks of the collection by cosine distance (exact search), and precision@k = the fraction of them
that share at least one value of A with q (a neighbour without any value shares none). The figure
is the mean over the queries: every track with a value, or a seeded sample of ``max_queries`` of
them. Comparing a model with its random-weight twin shows what training added (a random CNN
already groups tracks by timbre).

Values per track, pooled over the releases it is linked to (DESIGN sec. 4): artist = Discogs
artist ids of the releases' main artists, release = release ids, label = label names, style =
styles; playlist = the playlists holding a playlist track the collection track was matched to.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from ..workspace import Workspace
from .index import exact_search

ASSOCIATIONS = ("artist", "release", "label", "style", "playlist")


def precision_at_k(ids: Sequence[str], vectors: np.ndarray, values: Mapping[str, Mapping[str, Iterable]], *,
                   k: int = 10, max_queries: int = 2_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{association: {"precision": mean precision@k, "queries": n}}`` for each association of
    ``values`` (association -> track id -> its values); see the module docstring."""
    vectors = np.asarray(vectors, dtype=np.float32)
    ids = list(ids)
    out: dict[str, dict[str, float]] = {}
    k = min(k, len(ids) - 1)
    if k < 1:
        return {a: {"precision": float("nan"), "queries": 0} for a in values}
    track_sets = {a: [frozenset(per_track.get(t, ()) or ()) for t in ids] for a, per_track in values.items()}
    rng = np.random.default_rng(seed)
    for assoc, sets in track_sets.items():
        candidates = np.array([i for i, s in enumerate(sets) if s], dtype=np.int64)
        if len(candidates) > max_queries:
            candidates = np.sort(rng.choice(candidates, size=max_queries, replace=False))
        if len(candidates) == 0:
            out[assoc] = {"precision": float("nan"), "queries": 0}
            continue
        nearest = exact_search(vectors, vectors[candidates], k + 1)
        precisions = []
        for q, row in zip(candidates, nearest):
            others = [int(j) for j in row if j != q][:k]
            precisions.append(sum(1 for j in others if sets[j] & sets[q]) / k)
        out[assoc] = {"precision": float(np.mean(precisions)), "queries": int(len(candidates))}
    return out


_VALUES_SQL = {
    "artist": """select l.track_id, a.id::varchar from links_track_releases l join discogs_releases r using (release_id),
                 unnest(r.artists) as t(a) where l.track_id in (select unnest($ids)) and a.id is not null and a.id > 0""",
    "release": """select track_id, release_id::varchar from links_track_releases where track_id in (select unnest($ids))""",
    "label": """select l.track_id, x.name from links_track_releases l join discogs_releases r using (release_id),
                unnest(r.labels) as t(x) where l.track_id in (select unnest($ids)) and x.name is not null""",
    "style": """select l.track_id, s from links_track_releases l join discogs_releases r using (release_id),
                unnest(r.styles) as t(s) where l.track_id in (select unnest($ids)) and s is not null""",
    "playlist": """select l.track_id, p.playlist_id from links_track_playlist_tracks l
                   join playlists_playlist_tracks p using (track_key) where l.track_id in (select unnest($ids))""",
}
_NEEDS = {"artist": {"links_track_releases", "discogs_releases"}, "release": {"links_track_releases"},
          "label": {"links_track_releases", "discogs_releases"}, "style": {"links_track_releases", "discogs_releases"},
          "playlist": {"links_track_playlist_tracks", "playlists_playlist_tracks"}}


def association_values(ws: Workspace, track_ids: Sequence[str],
                       associations: Sequence[str] = ASSOCIATIONS) -> dict[str, dict[str, set[str]]]:
    """Association -> track id -> values, from the warehouse (associations whose tables are absent
    are left out: no playlists ingested, no playlist figure)."""
    from .metadata import Metadata

    meta = Metadata(ws)
    try:
        views = {r[0] for r in meta.con.execute("select view_name from duckdb_views()").fetchall()}
        out: dict[str, dict[str, set[str]]] = {}
        for assoc in associations:
            if not _NEEDS[assoc] <= views:
                continue
            per_track: dict[str, set[str]] = {}
            for tid, value in meta.con.execute(_VALUES_SQL[assoc], {"ids": list(track_ids)}).fetchall():
                per_track.setdefault(tid, set()).add(str(value))
            out[assoc] = per_track
        return out
    finally:
        meta.close()


def retrieval_quality(ws: Workspace, ids: Sequence[str], vectors: np.ndarray, *, k: int = 10,
                      max_queries: int = 2_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """precision@k per association of one model's embeddings of collection tracks (the probe calls
    it for a model and for its random-weight twin)."""
    return precision_at_k(ids, vectors, association_values(ws, ids), k=k, max_queries=max_queries, seed=seed)
