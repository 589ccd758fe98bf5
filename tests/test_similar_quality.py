"""Retrieval precision@k per association: against a plain reference on seeded data, on clusters
whose answer is known, and from the warehouse of a real workspace for a model and its
random-weight twin."""

from __future__ import annotations

import numpy as np
import pytest

from discogs_tools.io import read_table
from discogs_tools.probe.embeddings import read_embeddings
from discogs_tools.similar.quality import association_values, precision_at_k, retrieval_quality
from discogs_tools.similar.source import embeddings_path
from similar_workspace import FEATURES, RUN, build as build_workspace


@pytest.fixture(scope="session")
def sim_ws(tmp_path_factory):
    return build_workspace(tmp_path_factory.getbasetemp() / "similar-ws")


def reference(ids, vectors, values, k):
    """precision@k the slow way: sort every other track by cosine similarity to each query."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = {}
    for assoc, per_track in values.items():
        scores = []
        for q, tid in enumerate(ids):
            mine = set(per_track.get(tid, ()))
            if not mine:
                continue
            order = sorted((j for j in range(len(ids)) if j != q), key=lambda j: (-float(unit[q] @ unit[j]), j))[:k]
            scores.append(sum(bool(mine & set(per_track.get(ids[j], ()))) for j in order) / k)
        out[assoc] = sum(scores) / len(scores)
    return out


def test_matches_the_plain_reference_on_seeded_data():
    rng = np.random.default_rng(3)
    ids = [f"t{i}" for i in range(60)]
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    values = {"artist": {t: {f"a{rng.integers(6)}"} for t in ids if rng.random() < 0.9},
              "style": {t: {f"s{s}" for s in rng.choice(8, size=2, replace=False)} for t in ids}}
    got = precision_at_k(ids, vectors, values, k=5)
    want = reference(ids, vectors, values, 5)
    for assoc in values:
        assert got[assoc]["precision"] == pytest.approx(want[assoc], abs=1e-9)
    assert got["artist"]["queries"] == len(values["artist"])
    # a seeded sample of the queries: same seed, same figure; it stays close to the full one
    a = precision_at_k(ids, vectors, values, k=5, max_queries=20, seed=1)
    b = precision_at_k(ids, vectors, values, k=5, max_queries=20, seed=1)
    assert a == b and a["style"]["queries"] == 20


def test_known_answers_on_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 10
    ids, vectors, artist, release = [], [], {}, {}
    for c in range(3):
        for i in range(5):
            tid = f"c{c}-{i}"
            ids.append(tid)
            vectors.append(centres[c] + rng.normal(0, 0.1, 8))
            artist[tid] = {f"artist{c}"}
            release[tid] = {f"release{c}-{i}"}  # every track its own release
    got = precision_at_k(ids, np.array(vectors), {"artist": artist, "release": release}, k=4)
    assert got["artist"]["precision"] == 1.0     # the 4 others of its cluster are its 4 nearest
    assert got["release"]["precision"] == 0.0    # nobody shares a release


def test_model_and_random_twin_from_the_warehouse(sim_ws):
    import torch

    from discogs_tools.features.store import FeatureStore
    from discogs_tools.train.backbones import backbone_from_config
    from discogs_tools.train.embed import embed_positions, load_backbone, resolve_checkpoint

    ws = sim_ws
    emb = read_embeddings(embeddings_path(ws, RUN))
    values = association_values(ws, emb.ids)
    # the fixture ingested no playlists: no playlist figure; the others from the tables themselves
    assert set(values) == {"artist", "release", "label", "style"}
    links = read_table(ws.table("links/track_releases"), columns=["track_id", "release_id"]).to_pylist()
    releases = {r["release_id"]: r for r in read_table(ws.table("discogs/releases"),
                                                       columns=["release_id", "styles", "artists"]).to_pylist()}
    want_release, want_style, want_artist = {}, {}, {}
    for link in links:
        r = releases[link["release_id"]]
        want_release.setdefault(link["track_id"], set()).add(str(link["release_id"]))
        want_style.setdefault(link["track_id"], set()).update(r["styles"] or [])
        want_artist.setdefault(link["track_id"], set()).update(str(a["id"]) for a in r["artists"] or [] if a["id"])
    assert values["release"] == want_release
    assert {t: s for t, s in values["style"].items() if s} == {t: s for t, s in want_style.items() if s}
    assert values["artist"] == {t: s for t, s in want_artist.items() if s}

    trained = retrieval_quality(ws, emb.ids, emb.values, k=5)
    backbone, cfg = load_backbone(resolve_checkpoint(ws, RUN))
    torch.manual_seed(0)
    twin = backbone_from_config(cfg)
    store = FeatureStore(ws.features / FEATURES)
    twin_vectors = embed_positions(twin, store, store.positions(emb.ids))
    random_twin = retrieval_quality(ws, emb.ids, twin_vectors, k=5)
    for result in (trained, random_twin):
        assert set(result) == set(values)
        for assoc, figure in result.items():
            assert 0.0 <= figure["precision"] <= 1.0 and figure["queries"] == len([t for t in emb.ids if values[assoc].get(t)])
    assert trained == precision_at_k(emb.ids, emb.values, values, k=5)
    assert trained != random_twin
