"""`discogs-tools sql` and `discogs-tools warehouse`: output formats round-trip, the readable
table, automatic (re)building, read-only queries and one-line errors.

Uses a small hand-made table with awkward values (commas, quotes, newlines, non-ASCII, nulls,
lists) so that every writer is exercised.
"""

from __future__ import annotations

import csv
import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError
from discogs_tools.warehouse import build, query
from discogs_tools.warehouse.query import QueryError, cell_text, choose_format

ROWS = pa.table({
    "track_id": ["a", "b,c", 'say "hi"', "multi\nline", "Björk ⅓", None],
    "n": pa.array([1, 2, None, 4, 5, 6], pa.int64()),
    "score": [0.5, None, 1.25, -2.0, 3.0, 0.0],
    "ok": [True, False, None, True, True, False],
})
NESTED = pa.table({"release_id": [1, 2], "styles": [["House", "Deep House"], []]})


@pytest.fixture
def filled(ws):
    for name, table in (("collection/tracks", ROWS), ("discogs/nested", NESTED)):
        folder = ws.table(name)
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-00000.parquet")
    return ws


def cli(ws, *args):
    return CliRunner().invoke(app, [*args, "-w", str(ws.root)])


def expected_rows():
    return [tuple(r.values()) for r in ROWS.to_pylist()]


SELECT = "SELECT track_id, n, score, ok FROM collection_tracks ORDER BY n NULLS LAST"


def ordered(rows):
    """ROWS in the order of SELECT (n ascending, null last)."""
    return sorted(rows, key=lambda r: (r[1] is None, r[1] or 0))


def test_sql_builds_the_warehouse_when_missing(filled):
    assert not filled.warehouse_path.exists()
    result = cli(filled, "sql", "SELECT count(*) AS n FROM collection_tracks")
    assert result.exit_code == 0, result.output
    assert filled.warehouse_path.exists()
    assert result.stdout.splitlines() == ["n", "6"]  # CSV in a pipe by default
    assert "warehouse rebuilt" in result.stderr


def test_csv_round_trip(filled, tmp_path):
    out = tmp_path / "out.csv"
    result = cli(filled, "sql", SELECT, "--output", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["track_id", "n", "score", "ok"]
    parsed = [(t or None, int(n) if n else None, float(s) if s else None, {"true": True, "false": False}.get(o))
              for t, n, s, o in rows[1:]]
    assert parsed == ordered(expected_rows())
    assert "6 rows ->" in result.stderr


def test_csv_to_stdout_matches_file(filled, tmp_path):
    out = tmp_path / "out.csv"
    cli(filled, "sql", SELECT, "--output", str(out))
    result = cli(filled, "sql", SELECT, "--format", "csv")
    assert result.stdout == out.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_round_trip(filled, tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    assert cli(filled, "sql", SELECT, "-o", str(out)).exit_code == 0
    text = out.read_text(encoding="utf-8")
    records = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert [tuple(r.values()) for r in records] == ordered(expected_rows())
    assert list(records[0]) == ["track_id", "n", "score", "ok"]


def test_json_keeps_nested_lists(filled):
    result = cli(filled, "sql", "SELECT * FROM discogs_nested ORDER BY release_id", "--format", "json")
    assert json.loads(result.stdout) == [{"release_id": 1, "styles": ["House", "Deep House"]},
                                         {"release_id": 2, "styles": []}]


def test_parquet_round_trip_and_needs_output(filled, tmp_path):
    out = tmp_path / "sub" / "out.parquet"
    assert cli(filled, "sql", SELECT, "--format", "parquet", "--output", str(out)).exit_code == 0
    back = pq.read_table(out)
    assert [tuple(r.values()) for r in back.to_pylist()] == ordered(expected_rows())
    assert back.schema.field("n").type == pa.int64()
    nested = tmp_path / "nested.parquet"
    cli(filled, "sql", "SELECT * FROM discogs_nested ORDER BY release_id", "-o", str(nested))
    assert pq.read_table(nested).to_pylist() == NESTED.to_pylist()
    result = cli(filled, "sql", SELECT, "--format", "parquet")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --format parquet needs --output FILE.parquet"


def test_empty_result_in_every_format(filled, tmp_path):
    empty = SELECT.replace("ORDER BY", "WHERE n > 100 ORDER BY")
    assert cli(filled, "sql", empty, "--format", "csv").stdout.splitlines() == ["track_id,n,score,ok"]
    assert json.loads(cli(filled, "sql", empty, "--format", "json").stdout) == []
    assert cli(filled, "sql", empty, "--format", "jsonl").stdout == ""
    out = tmp_path / "e.parquet"
    cli(filled, "sql", empty, "-o", str(out))
    assert pq.read_table(out).num_rows == 0 and pq.read_table(out).schema.names == ["track_id", "n", "score", "ok"]


def test_table_format_with_limit(filled):
    result = cli(filled, "sql", SELECT, "--format", "table", "--limit", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any("track_id" in line and "score" in line for line in lines)
    assert any("b,c" in line for line in lines)
    assert not any("Björk" in line for line in lines)  # beyond the limit
    assert "2 of 6 rows shown" in result.stdout
    full = cli(filled, "sql", SELECT, "--format", "table", "--limit", "0").stdout
    assert "Björk ⅓" in full and "NULL" in full and "6 rows" in full
    assert "multi line" in full  # newlines inside a cell are flattened


def test_limit_caps_every_format_when_given(filled, tmp_path):
    """Without --limit, a pipe gets every row; with it, every format stops at N rows."""
    assert len(list(csv.reader(io.StringIO(cli(filled, "sql", SELECT).stdout)))) == 1 + 6  # CSV in a pipe
    rows = list(csv.reader(io.StringIO(cli(filled, "sql", SELECT, "--limit", "2").stdout)))
    assert rows[0] == ["track_id", "n", "score", "ok"] and [r[0] for r in rows[1:]] == ["a", "b,c"]
    assert len(json.loads(cli(filled, "sql", SELECT, "--format", "json", "--limit", "3").stdout)) == 3
    out = tmp_path / "two.parquet"
    assert cli(filled, "sql", SELECT, "-o", str(out), "--limit", "2").exit_code == 0
    assert pq.read_table(out).column("track_id").to_pylist() == ["a", "b,c"]
    assert len(cli(filled, "sql", SELECT, "--format", "jsonl", "--limit", "0").stdout.splitlines()) == 6


def test_table_to_file_and_format_from_extension(filled, tmp_path):
    out = tmp_path / "t.txt"
    assert cli(filled, "sql", SELECT, "-o", str(out)).exit_code == 0
    assert "Björk ⅓" in out.read_text(encoding="utf-8")
    assert choose_format(None, tmp_path / "x.jsonl", terminal=False) == "jsonl"
    assert choose_format(None, tmp_path / "x.csv.gz", terminal=False) == "csv"
    assert choose_format(None, None, terminal=True) == "table"
    with pytest.raises(ConfigError, match="cannot tell the format"):
        choose_format(None, tmp_path / "x.dat", terminal=False)
    with pytest.raises(ConfigError, match="unknown format"):
        choose_format("xml", None, terminal=False)


def test_cell_text():
    assert cell_text(None) == "NULL"
    assert cell_text(["a", 1]) == '["a", 1]'
    assert cell_text({"id": 1, "name": "x"}) == '{"id": 1, "name": "x"}'
    assert cell_text("x" * 100, max_chars=10) == "x" * 9 + "…"


def test_query_file_and_ready_query_by_name(filled, tmp_path):
    path = tmp_path / "q.sql"
    path.write_text("-- count rows\nSELECT count(*) AS n FROM collection_tracks;\n")
    assert cli(filled, "sql", "--file", str(path)).stdout.splitlines() == ["n", "6"]
    listing = CliRunner().invoke(app, ["sql", "--list"])
    assert "styles_by_release_count" in listing.stdout and "Which styles are most used?" in listing.stdout
    # A shipped query by name: it needs Discogs tables this workspace lacks, and says so.
    result = cli(filled, "sql", "--file", "releases_per_year")
    assert result.exit_code == 2
    assert "releases_per_year.sql" in result.stderr
    assert "run `discogs-tools ingest discogs DUMP_PATH`" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["SELEC 1"], 'Parser Error: syntax error at or near "SELEC" (at line 1)'),
    (["SELECT nope FROM collection_tracks"], 'Binder Error: Referenced column "nope" not found'),
    (["SELECT * FROM playlists_tracks"], "run `discogs-tools ingest playlists PATH`"),
    (["SELECT * FROM release_styles"], "run `discogs-tools ingest discogs DUMP_PATH`"),
    (["--file", "no_such_query"], "query file no_such_query not found (ready queries: "),
    ([], "give either a query"),
    (["SELECT 1", "--file", "x.sql"], "give either a query"),
    (["CREATE TABLE t AS SELECT 1"], "read-only"),
])
def test_errors_are_one_line(filled, args, message):
    result = cli(filled, "sql", *args)
    assert result.exit_code == 2
    err = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and message in err[0], result.stderr
    assert "Traceback" not in result.output


def test_no_tables_yet(ws):
    for args in (["warehouse"], ["sql", "SELECT 1"]):
        result = cli(ws, *args)
        assert result.exit_code == 2
        assert result.stderr.strip().startswith("error: ingested tables not found at")
        assert result.stderr.strip().endswith("run `discogs-tools ingest discogs DUMP_PATH` first")


def test_warehouse_command_lists_tables_and_skipped_views(filled):
    result = cli(filled, "warehouse")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "collection_tracks" in out and "<- tables/collection/tracks (1 file)" in out
    assert "views skipped:" in out
    assert "release_styles" in out and "needs table discogs_releases" in out
    assert "tables: 2" in out


def test_sql_rebuilds_when_a_table_appears(filled):
    build.run(filled)
    folder = filled.table("links/track_releases")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"track_id": ["a"], "release_id": [7]}), folder / "part-00000.parquet")
    result = cli(filled, "sql", "SELECT release_id FROM links_track_releases")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["release_id", "7"]


def test_library_run_reports_rows(filled, tmp_path):
    buffer = io.StringIO()
    report = query.run(filled, SELECT, fmt="jsonl", stream=buffer)
    assert report.counts["rows"] == 6 and len(buffer.getvalue().splitlines()) == 6
    con = query.connect(filled)
    with pytest.raises(QueryError, match="^query: Parser Error"):
        query.execute(con, "SELEC", "query")
    con.close()
