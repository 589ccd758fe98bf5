"""`probe --stack-search K` (seed 000 sec. 4.5, Table 4): every combination of 2..K of the given
models probed as a stack of concatenated embeddings, one result per combination, a ranked summary."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError
from discogs_tools.probe.mlp import ProbeConfig
from discogs_tools.probe.stacks import combinations, stack_search

FAST = ProbeConfig(hidden=16, epochs=6, batch_size=32, learning_rate=1e-2)
N = 200


@pytest.fixture
def models(tmp_path):
    """Multi-label task: 'a' iff s0 > 0, 'b' iff s1 > 0. Model 'A' sees s0, 'B' sees s1, 'n1'/'n2' are noise:
    a stack holding both A and B is the only one that can score both labels."""
    rng = np.random.default_rng(0)
    ids = [f"t{i:03d}" for i in range(N)]
    s = rng.normal(size=(N, 2)).astype(np.float32)
    noise = lambda k: rng.normal(size=(N, k)).astype(np.float32)  # noqa: E731
    values = {"A": np.c_[s[:, :1], noise(3)], "B": np.c_[s[:, 1:], noise(3)], "n1": noise(4), "n2": noise(4)}
    for name, x in values.items():
        pq.write_table(pa.table({"track_id": ids, "embedding": pa.array(list(x), pa.list_(pa.float32()))}),
                       tmp_path / f"{name}.parquet")
    rows = [f'{t},"{",".join(l for l, on in (("a", v[0] > 0), ("b", v[1] > 0)) if on) or "none"}"'
            for t, v in zip(ids, s)]
    (tmp_path / "tags.csv").write_text("track_id,labels\n" + "\n".join(rows) + "\n")
    return tmp_path


def test_combinations_of_2_to_k_in_the_given_order():
    assert combinations(["T", "R", "A"], 2) == [(0, 1), (0, 2), (1, 2)]
    assert combinations(["T", "R", "A"], 3) == [(0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert len(combinations(list("TRALS"), 5)) == 26  # seed 000 sec. 4.5: 2, 3, 4 and 5 of five models
    with pytest.raises(ConfigError, match="at least 2"):
        combinations(["T", "R"], 1)
    with pytest.raises(ConfigError, match="3 models"):
        combinations(["T", "R"], 3)


def test_search_writes_every_combination_and_a_ranked_summary(models, ws):
    paths = [models / f"{m}.parquet" for m in ("A", "B", "n1", "n2")]
    report = stack_search(models / "tags.csv", workspace=ws, models=paths, max_size=3, config=FAST, seeds=1,
                          plot=False)
    summary = json.loads(open(report.outputs["summary"]).read())
    rows = summary["combinations"]
    assert len(rows) == 6 + 4
    assert summary["metric"] == "roc_auc" and summary["max_size"] == 3
    assert [r["rank"] for r in rows] == list(range(1, 11))
    means = [r["summary"]["roc_auc"]["mean"] for r in rows]
    assert means == sorted(means, reverse=True)
    assert {"A", "B"} <= set(rows[0]["models"])                    # the stacks holding both signals win
    assert not ({"A", "B"} <= set(rows[-1]["models"]))
    for r in rows:                                                 # one result per combination
        result = json.loads(open(r["results"]).read())
        assert result["name"] == "+".join(r["models"])
        assert result["models"][0]["dim"] == 4 * len(r["models"])
        assert [s["label"] for s in result["models"][0]["sources"]] == r["models"]
    table = open(report.outputs["table"]).read()
    assert table.splitlines()[0].startswith("| rank | A | B | n1 | n2 | roc_auc")
    # deterministic: a rerun rewrites the same summary bytes
    first = open(report.outputs["summary"], "rb").read()
    stack_search(models / "tags.csv", workspace=ws, models=paths, max_size=3, config=FAST, seeds=1, plot=False)
    assert open(report.outputs["summary"], "rb").read() == first


def test_cli_stack_search(models, ws):
    result = CliRunner().invoke(app, ["probe", str(models / "tags.csv"), "-m", str(models / "A.parquet"),
                                      "-m", str(models / "B.parquet"), "-m", str(models / "n1.parquet"),
                                      "--stack-search", "2", "--seeds", "1", "--epochs", "3", "--no-plot",
                                      "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "A+B" in result.output and "rank" in result.output
    assert (ws.runs / "stacks-A+B+n1" / "probe" / "tags-stacks.json").exists()


def test_5_fold_stack_search_has_corrected_ranks(tmp_path, ws):
    from discogs_tools.probe import protocols
    rng = np.random.default_rng(1)
    ids = [f"t{i:03d}" for i in range(100)]
    y = np.arange(100) % 2
    signal = (y[:, None] * 3 + rng.normal(scale=0.5, size=(100, 1))).astype(np.float32)
    for name, x in {"S": signal, "n1": rng.normal(size=(100, 1)), "n2": rng.normal(size=(100, 1))}.items():
        pq.write_table(pa.table({"track_id": ids, "embedding": pa.array(list(x.astype(np.float32)),
                                                                         pa.list_(pa.float32()))}),
                       tmp_path / f"{name}.parquet")
    (tmp_path / "cls.csv").write_text("track_id,label\n" + "".join(f"{t},c{k}\n" for t, k in zip(ids, y)))
    report = stack_search(tmp_path / "cls.csv", workspace=ws, models=[tmp_path / f"{m}.parquet" for m in ("S", "n1", "n2")],
                          max_size=2, protocol="5-fold", config=protocols.get("5-fold").config(epochs=5, batch_size=16),
                          seeds=1, plot=False)
    summary = json.loads(open(report.outputs["summary"]).read())
    assert summary["metric"] == "balanced_accuracy"
    rows = summary["combinations"]
    assert [r["models"] for r in rows][-1] == ["n1", "n2"]
    assert rows[0]["corrected_rank"] == 1 and rows[-1]["corrected_rank"] == 3   # noise pair differs from S pairs
    assert "corrected rank" in open(report.outputs["table"]).read().splitlines()[0]
