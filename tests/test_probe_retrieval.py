"""probe-retrieval: precision@k per association on the collection, for a run and its random-weight
twin, written as a probe result that probe-compare reads (issue 18's retrieval figure)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import MissingInputError, NothingUsableError
from discogs_tools.probe.embeddings import read_embeddings
from discogs_tools.probe.retrieval import run
from discogs_tools.similar.quality import association_values, precision_at_k
from discogs_tools.similar.source import embeddings_path
from similar_workspace import RUN, build as build_workspace


@pytest.fixture(scope="session")
def sim_ws(tmp_path_factory):
    return build_workspace(tmp_path_factory.getbasetemp() / "similar-ws")


def test_a_run_and_its_random_twin_on_the_collection(sim_ws):
    out = CliRunner().invoke(app, ["probe-retrieval", "-m", RUN, "-k", "5", "-w", str(sim_ws.root)])
    assert out.exit_code == 0, out.output
    results = json.loads((sim_ws.runs / RUN / "probe" / "collection-retrieval.json").read_text())
    model, twin = results["models"]
    assert (model["role"], twin["role"]) == ("model", "baseline") and twin["sources"][0]["random_init_seed"] == 0
    assert set(model["summary"]) == {f"p_at_5_{a}" for a in ("artist", "release", "label", "style")}
    # the model's figure is exactly precision@k of the run's own collection embeddings (`embed`)
    emb = read_embeddings(embeddings_path(sim_ws, RUN))
    want = precision_at_k(emb.ids, emb.values, association_values(sim_ws, emb.ids), k=5)
    for assoc, cell in want.items():
        assert model["summary"][f"p_at_5_{assoc}"]["mean"] == pytest.approx(cell["precision"], abs=1e-6)
    assert model["summary"] != twin["summary"]
    # probe-compare shows it next to the other probe results, the twin on its own row
    table = CliRunner().invoke(app, ["probe-compare", RUN, "-w", str(sim_ws.root)])
    assert table.exit_code == 0, table.output
    assert "collection-retrieval" in table.output and "random-init" in table.output


def test_refusals_name_the_missing_stage(tmp_path, ws):
    pq.write_table(pa.table({"track_id": ["a"], "embedding": [[1.0, 0.0]]}), tmp_path / "e.parquet")
    with pytest.raises(MissingInputError, match="ingest collection"):
        run(ws, [tmp_path / "e.parquet"])


def test_no_linked_track_is_an_error_not_an_empty_result(sim_ws, tmp_path):
    emb = read_embeddings(embeddings_path(sim_ws, RUN))
    pq.write_table(pa.table({"track_id": emb.ids, "embedding": [list(map(float, v)) for v in np.asarray(emb.values)]}),
                   tmp_path / "e.parquet")
    with pytest.raises(NothingUsableError, match="discogs-tools match"):
        run(sim_ws, [tmp_path / "e.parquet"], name="nolinks", values=lambda ws, ids: {"artist": {}})
