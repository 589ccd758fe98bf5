"""Relocatable workspaces: a copied or moved workspace reads its own files, not the original's,
and the pairs' views carry the documented names (docs/warehouse.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from discogs_tools.pipeline import load_pipeline, run_pipeline
from discogs_tools.warehouse import build, query
from discogs_tools.workspace import Workspace


def write_pairs(ws: Workspace, split: str, anchors: list[str], epochs: int = 1) -> None:
    """Pairs laid out as make-pairs writes them: <split>.parquet/epoch-EEEEE.parquet."""
    folder = ws.dataset("demo") / "pairs" / "artist" / f"{split}.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    for epoch in range(epochs):
        pq.write_table(pa.table({"anchor": anchors, "positive": anchors, "split": [split] * len(anchors),
                                 "epoch": pa.array([epoch] * len(anchors), pa.int32())}),
                       folder / f"epoch-{epoch:05d}.parquet")


def write_releases(ws: Workspace, ids: list[int]) -> None:
    folder = ws.table("discogs/releases")
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"release_id": ids}), folder / "part-00000.parquet")


def rows(ws: Workspace, sql: str) -> list[tuple]:
    con = query.connect(ws)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_pair_views_are_named_as_documented(ws):
    write_releases(ws, [1])
    write_pairs(ws, "train", ["a", "b"], epochs=3)
    write_pairs(ws, "validation", ["c"])
    build.run(ws)
    # dataset_<name>_pairs_<association>_<split>: every epoch of the split, the epoch a column.
    assert rows(ws, "SELECT epoch, count(*) FROM dataset_demo_pairs_artist_train GROUP BY 1 ORDER BY 1") == [
        (0, 2), (1, 2), (2, 2)]
    assert rows(ws, "SELECT anchor FROM dataset_demo_pairs_artist_validation") == [("c",)]
    # ... and dataset_<name>_pairs_<association> for all splits together.
    assert rows(ws, "SELECT split, count(*) FROM dataset_demo_pairs_artist GROUP BY 1 ORDER BY 1") == [
        ("train", 6), ("validation", 1)]
    names = {r[0] for r in rows(ws, "SELECT view FROM _warehouse_tables")}
    assert not any("parquet" in n or "epoch" in n for n in names), names


def test_a_moved_workspace_reads_its_own_files(tmp_path, monkeypatch):
    original = Workspace(tmp_path / "original").ensure()
    write_releases(original, [1, 2, 3])
    write_pairs(original, "train", ["a"])
    build.run(original)
    assert rows(original, "SELECT count(*) FROM discogs_releases") == [(3,)]

    copy = Workspace(tmp_path / "copy")
    shutil.copytree(original.root, copy.root)
    write_releases(copy, [7])  # the copy's own table differs from the original's
    # The copied warehouse is current as it is (nothing to rebuild) and, opened by hand from the
    # workspace folder (the duckdb shell), reads the copy's files.
    assert build.is_current(copy)
    monkeypatch.chdir(copy.root)
    con = duckdb.connect(str(copy.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT list(release_id) FROM discogs_releases").fetchall() == [([7],)]
    finally:
        con.close()
    monkeypatch.chdir(tmp_path)
    assert rows(copy, "SELECT list(release_id) FROM discogs_releases") == [([7],)]
    # Once the original is gone, the moved workspace still answers from its own files.
    shutil.rmtree(original.root)
    assert rows(copy, "SELECT anchor FROM dataset_demo_pairs_artist_train") == [("a",)]
    paths = [r[0] for r in rows(copy, "SELECT path FROM _warehouse_tables")]
    assert all(not p.startswith("/") for p in paths), paths


PIPE = """
[pipeline]
name = "toy"
[[stage]]
name = "first"
command = "copy"
args = ["{workspace}/in.txt"]
inputs = ["{workspace}/in.txt"]
outputs = ["{workspace}/out1"]
[[stage]]
name = "second"
command = "copy again"
inputs = ["{workspace}/out1"]
outputs = ["{workspace}/out2"]
"""


def toy_invoker(ws: Path, calls: list[list[str]]):
    def invoke(argv: list[str]) -> int:
        calls.append(argv)
        out = "out2" if argv[1] == "again" else "out1"
        (ws / out).write_text("done")
        return 0
    return invoke


def test_a_copied_workspace_keeps_its_pipeline_state_and_a_dry_run_says_why(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(PIPE)
    original = tmp_path / "original"
    original.mkdir()
    (original / "in.txt").write_text("x")
    calls: list[list[str]] = []
    run_pipeline(load_pipeline(path, original), original, invoke=toy_invoker(original, calls), echo=lambda s: None)
    assert len(calls) == 2

    # A plain copy (new modification times, new absolute paths) is still up to date.
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, copy_function=shutil.copy)
    lines: list[str] = []
    rep = run_pipeline(load_pipeline(path, copy), copy, dry_run=True, echo=lines.append)
    assert [d["status"] for d in rep.details] == ["skipped", "skipped"], lines

    # A dry run lists every stage that would run, and why.
    (copy / "out1").write_text("edited by hand")
    rep = run_pipeline(load_pipeline(path, copy), copy, dry_run=True, echo=lines.append)
    assert [(d["stage"], d["status"]) for d in rep.details] == [("first", "skipped"), ("second", "would run")]
    assert "out1" in rep.details[1]["why"] and "changed" in rep.details[1]["why"]
    (copy / "out1").unlink()
    rep = run_pipeline(load_pipeline(path, copy), copy, dry_run=True, echo=lines.append)
    assert [d["status"] for d in rep.details] == ["would run", "would run"]
    assert "out1" in rep.details[0]["why"] and "missing" in rep.details[0]["why"]
    assert "first" in rep.details[1]["why"]
    assert rep.counts["stages_would_run"] == 2
    assert any("would run" in line and "missing" in line for line in lines)
    assert len(calls) == 2  # a dry run runs nothing
