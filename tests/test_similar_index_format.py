"""The similarity index's stored format: int8 vectors, each scaled on its own, keep the cosine
neighbours and distances of the float vectors; an index of the previous format (float16 vectors,
format 1) still loads and searches, and ``index-embeddings`` rebuilds it in the current format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from discogs_tools.similar.index import (
    IndexSettings, build, build_index, encode, exact_search, index_folder, is_current, open_index, vector_kind,
)
from discogs_tools.similar.source import embeddings_path
from similar_workspace import RUN, build as build_workspace


@pytest.fixture(scope="module")
def sim_ws(tmp_path_factory):
    return build_workspace(tmp_path_factory.getbasetemp() / "similar-ws")


def clustered(n: int, part: int, dim: int = 1280) -> np.ndarray:
    """Collection-like vectors (seeded): 16-d artist clusters projected to ``dim`` plus noise."""
    centres = np.random.default_rng(0).normal(0, 1, (n // 8 + 1, 16))
    projection = np.random.default_rng(1).normal(0, 1, (16, dim)) / 4
    rng = np.random.default_rng([2, part])
    latent = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.35, (n, 16))
    return (latent @ projection + rng.normal(0, 0.05, (n, dim))).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64) / np.linalg.norm(a, axis=1, keepdims=True)
    b = b.astype(np.float64) / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def test_int8_encoding_scales_each_vector_and_keeps_cosine():
    x = clustered(200, 0)
    x[7] *= 1000  # lengths differ a lot: the scale is per vector
    q = encode(x, "i8")
    assert q.dtype == np.int8
    assert (np.abs(q.astype(np.int16)).max(axis=1) == 127).all()
    assert np.abs(cosine(q, q) - cosine(x, x)).max() < 2e-3  # normalising and x127, as usearch casts: 0.013 here
    zero = encode(np.zeros((1, 1280)), "i8")
    assert zero.dtype == np.int8 and not zero.any()
    # other kinds are handed to usearch as float32, unchanged
    assert np.array_equal(encode(x, "f16"), x)


def test_int8_index_finds_the_exact_neighbours_at_their_distances():
    data = clustered(3000, 1)
    queries = clustered(40, 2)
    index, ids = build_index([([f"t{i}" for i in range(len(data))], data)], IndexSettings(), threads=1)
    assert vector_kind(index) == "i8" and len(ids) == len(data)  # auto: int8 keeps these neighbours
    exact = exact_search(data, queries, 10)
    sims = cosine(queries, data)
    found = []
    for row, query in enumerate(queries):
        result = index.search(encode(query, "i8")[0], 10)
        keys = np.asarray(result.keys, dtype=np.int64)
        found.append(len(set(keys) & set(exact[row])) / 10)
        # distances are those of the float vectors, to int8 precision
        assert np.asarray(result.distances) == pytest.approx(1 - sims[row, keys], abs=2e-3)
    assert np.mean(found) >= 0.98


def test_format_1_index_still_searches_and_index_embeddings_rebuilds_it(sim_ws):
    ws = sim_ws
    table = embeddings_path(ws, RUN)
    folder = index_folder(ws, RUN, table)
    # an index as the previous version wrote it: float16 vectors, format 1
    build(ws, RUN, settings=IndexSettings(dtype="f16"), force=True)
    info = json.loads((folder / "index.json").read_text())
    info["format_version"] = 1
    (folder / "index.json").write_text(json.dumps(info))
    assert is_current(folder, table)
    old = open_index(ws, RUN, rebuild=False)
    assert old.dtype == "f16"
    keys, dist = old.search(old.vector(5), 3)
    assert keys[0] == 5 and dist[0] < 1e-3
    # index-embeddings sees an older format and builds the current one
    report = build(ws, RUN)
    assert not any("up to date" in w for w in report.warnings)
    info = json.loads((folder / "index.json").read_text())
    assert info["format_version"] == 2 and info["settings"]["dtype"] == "auto"
    new = open_index(ws, RUN, rebuild=False)
    keys, dist = new.search(new.vector(5), 3)
    assert new.dtype == info["vectors"] and keys[0] == 5 and dist[0] < 1e-3


def test_auto_keeps_float16_where_int8_would_reorder_neighbours():
    from discogs_tools.similar.index import choose_dtype, int8_agreement

    centred = clustered(3000, 3)
    # a trained model's embeddings share a direction (the demo's: random tracks at cosine 0.93):
    # int8 spends its steps on the common part and swaps near neighbours
    shared = centred * 0.05 + np.abs(np.random.default_rng(4).normal(0, 1, 1280)).astype(np.float32)
    assert int8_agreement(centred) >= 0.99 > int8_agreement(shared)
    assert IndexSettings().dtype == "auto"
    assert choose_dtype(centred, IndexSettings()) == "i8"
    assert choose_dtype(shared, IndexSettings()) == "f16"
    assert choose_dtype(shared, IndexSettings(dtype="i8")) == "i8"  # an explicit kind is kept
    index, _ = build_index([([f"t{i}" for i in range(len(shared))], shared)], IndexSettings(), threads=1)
    assert str(index.dtype) == "ScalarKind.F16"


def test_index_records_the_kind_it_chose(sim_ws):
    # the tiny model's embeddings: random tracks at cosine 0.96, int8 would swap neighbours
    report = build(sim_ws, RUN, force=True)
    folder = index_folder(sim_ws, RUN, embeddings_path(sim_ws, RUN))
    info = json.loads((folder / "index.json").read_text())
    assert info["settings"]["dtype"] == "auto" and info["vectors"] == "f16"
    assert report.figures["vectors"] == "f16"
    assert open_index(sim_ws, RUN, rebuild=False).dtype == "f16"
