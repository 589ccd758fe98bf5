"""Shared core: atomic table writes, schema validation, manifest, rejects."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools import manifest
from discogs_tools.errors import InputError, RejectsWriter
from discogs_tools.io import TableWriter, atomic_path, read_table, write_table
from discogs_tools.schemas import SchemaError, conform, parse_type

SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("tags", pa.list_(pa.struct([pa.field("k", pa.string()), pa.field("v", pa.string())]))),
])


def test_parse_nested_type():
    t = parse_type({"list": {"struct": [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]}})
    assert t == pa.list_(pa.struct([("id", pa.int64()), ("name", pa.string())]))


def test_conform_rejects_wrong_columns_and_nulls():
    with pytest.raises(SchemaError, match="missing"):
        conform(pa.table({"id": [1]}), SCHEMA)
    with pytest.raises(SchemaError, match="non-null"):
        conform(pa.table({"id": pa.array([None], pa.int64()), "tags": [[]]}), SCHEMA)
    with pytest.raises(SchemaError, match="cast"):
        conform(pa.table({"id": ["x"], "tags": [[]]}), SCHEMA)
    ok = conform(pa.table({"id": pa.array([1], pa.int32()), "tags": [[{"k": "a", "v": "b"}]]}), SCHEMA)
    assert ok.schema.field("id").type == pa.int64()


def test_table_writer_is_atomic_and_replaces(tmp_path):
    dest = tmp_path / "t"
    write_table(dest, pa.table({"id": [1, 2], "tags": [[], []]}), schema=SCHEMA)
    assert read_table(dest).column("id").to_pylist() == [1, 2]
    # A failing rewrite leaves the previous table intact and no staging folder behind.
    with pytest.raises(RuntimeError):
        with TableWriter(dest, schema=SCHEMA) as w:
            w.write(pa.table({"id": [3], "tags": [[]]}))
            raise RuntimeError("interrupted")
    assert read_table(dest).column("id").to_pylist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["t"]
    # A successful rewrite replaces the whole table, split into parts.
    with TableWriter(dest, schema=SCHEMA, rows_per_part=2) as w:
        for i in range(3):
            w.write(pa.table({"id": [2 * i, 2 * i + 1], "tags": [[], []]}))
    assert len(list(dest.glob("*.parquet"))) == 3
    assert read_table(dest).column("id").to_pylist() == list(range(6))


def test_empty_table_keeps_schema(tmp_path):
    write_table(tmp_path / "e", [], schema=SCHEMA)
    assert pq.read_schema(next((tmp_path / "e").glob("*.parquet"))).names == ["id", "tags"]


def test_atomic_path_removes_temp_on_error(tmp_path):
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "f.json") as tmp:
            tmp.write_text("partial")
            raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_manifest_concurrent_records(tmp_path):
    path = tmp_path / "manifest.json"
    threads = [threading.Thread(target=manifest.record, args=(path, f"stage{i}", {"i": i})) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(manifest.load(path)["stages"]) == sorted(f"stage{i}" for i in range(8))
    src = tmp_path / "in.txt"
    src.write_bytes(b"abc")
    d = manifest.describe_input(src)
    assert d["bytes"] == 3
    assert d["checksum"] == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_rejects_writer(tmp_path):
    path = tmp_path / "rej" / "x.jsonl"
    with RejectsWriter(path) as rej:
        rej.add(file="a.xml", record=7, offset=120, reason="bad", raw=b"<r>" * 1000)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["record"] == 7 and lines[0]["raw"].endswith("...")
    # A clean rerun removes the stale rejects file.
    with RejectsWriter(path):
        pass
    assert not path.exists()


def test_input_error_message_names_everything():
    err = InputError("dump.xml.gz", "unexpected end of stream", record=42, offset=1024)
    assert str(err) == "dump.xml.gz: byte offset 1024: record 42: unexpected end of stream"


def test_reports_print_floats_at_full_precision():
    from discogs_tools.report import Report

    text = str(Report(stage="s", figures={"recall": 0.9966666666, "lr": 1e-05, "peak_lr": 0.001, "rows": 493914.0,
                                          "seconds": 10.6612, "zero": 0.0, "ratio": float("nan")}))
    assert text.splitlines()[1:] == ["  recall: 0.996667", "  lr: 1e-05", "  peak_lr: 0.001", "  rows: 493,914",
                                     "  seconds: 10.6612", "  zero: 0", "  ratio: nan"]


def test_library_functions_take_a_workspace_or_its_path(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from discogs_tools.warehouse import build, query
    from discogs_tools.workspace import Workspace

    ws = Workspace(tmp_path / "ws").ensure()
    ws.table("discogs/releases").mkdir(parents=True)
    pq.write_table(pa.table({"release_id": [1, 2]}), ws.table("discogs/releases") / "part-00000.parquet")
    assert Workspace.of(ws) is ws and Workspace.of(str(ws.root)) == ws
    assert build.run(str(ws.root)).counts["tables"] == 1  # a path ...
    con = query.connect(ws.root)  # ... or a Path, as well as a Workspace
    try:
        assert con.execute("SELECT count(*) FROM discogs_releases").fetchone() == (2,)
    finally:
        con.close()
