"""`discogs-tools sql` and `discogs-tools warehouse` on a bad day: SQL that tries to write files
or fetch extensions, leftovers of a killed build, two builds at once, a full disk, a read-only
workspace and a workspace that is a file.

Every refused case must end with one line on stderr, exit code 2, and the workspace's tables
byte-identical to before. Runs on tables ingested from the bundled real Discogs sample (tgmz
2025 era). The disk cases mount a small tmpfs and so need root; elsewhere they are skipped
with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.discogs import ingest
from discogs_tools.locks import output_lock
from discogs_tools.resources import sample_data_dir
from discogs_tools.warehouse import build, query
from discogs_tools.workspace import Workspace
from faults import dead_pid, small_tmpfs

SAMPLE = sample_data_dir() / "discogs" / "tgmz_20250101"


# ---------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """Tables of the real sample, ingested once; each test works on its own copy."""
    ws = Workspace(tmp_path_factory.mktemp("pristine") / "workspace").ensure()
    ingest.run([SAMPLE], ws, workers=0)
    return ws.tables


@pytest.fixture
def wh(tmp_path, ingested) -> Workspace:
    """A workspace with the sample's tables and a built warehouse."""
    ws = Workspace(tmp_path / "workspace").ensure()
    shutil.copytree(ingested, ws.tables)
    build.run(ws)
    return ws


def cli(ws, *args):
    return CliRunner().invoke(app, [*args, "-w", str(ws.root)])


def tree_digest(*folders: Path) -> dict[str, str]:
    """sha256 of every file (hidden ones included) under the folders, by path."""
    out = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def artists(ws) -> int:
    # The views read workspace-relative paths: resolve them in the workspace, as the toolkit does.
    con = duckdb.connect(str(ws.warehouse_path), read_only=True, config={"file_search_path": str(ws.root)})
    try:
        return con.execute("SELECT count(*) FROM discogs_artists").fetchone()[0]
    finally:
        con.close()


def assert_one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------
# Item 4: sql never writes files, installs or loads extensions unless asked; never into tables/


def refused_without_flag(ws: Workspace, elsewhere: Path) -> list[tuple[str, str]]:
    """(sql, what the error says) for statements that would write or fetch something."""
    part = ws.table("discogs/artists") / "part-00000.parquet"
    return [
        (f"COPY (SELECT 1) TO '{part}'", "COPY ... TO writes a file"),
        (f"COPY (SELECT 1) TO '{elsewhere / 'out.csv'}'", "COPY ... TO writes a file"),
        (f"COPY discogs_artists TO '{elsewhere / 'out.parquet'}' (FORMAT parquet)", "COPY ... TO writes a file"),
        (f"EXPORT DATABASE '{elsewhere / 'export'}'", "EXPORT DATABASE writes files"),
        ("INSTALL httpfs", "INSTALL / LOAD"),
        ("FORCE INSTALL httpfs", "INSTALL / LOAD"),
        ("LOAD httpfs", "INSTALL / LOAD"),
        (f"ATTACH '{elsewhere / 'other.duckdb'}' AS other", "ATTACH opens a database file"),
        (f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{elsewhere / 'explained.csv'}'", "COPY ... TO writes a file"),
        (f"PREPARE p AS COPY (SELECT 1) TO '{elsewhere / 'prepared.csv'}'", "COPY ... TO writes a file"),
        (f"SELECT 1; COPY (SELECT 2) TO '{elsewhere / 'second.csv'}'", "COPY ... TO writes a file"),
    ]


def test_sql_refuses_writes_and_extensions_by_default(wh, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before, count = tree_digest(wh.tables), artists(wh)
    for sql, message in refused_without_flag(wh, elsewhere):
        line = assert_one_line_error(cli(wh, "sql", sql), message)
        assert "--allow-writes" in line, line
    assert tree_digest(wh.tables) == before
    assert artists(wh) == count
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("sql, message", [
    ("SET threads = 1", "configuration has been locked"),
    ("SET autoinstall_known_extensions = true", "configuration has been locked"),
    ("SET profiling_output = '{tables}/discogs/artists/profile.json'", "configuration has been locked"),
    ("PRAGMA enable_profiling", "configuration has been locked"),
    ("CALL enable_logging(storage = 'file', storage_path = '{tables}/logs')", "configuration has been locked"),
    ("CREATE PERSISTENT SECRET s (TYPE http)", "Persistent secrets are disabled"),
    ("SELECT * FROM read_parquet('https://example.invalid/x.parquet')", "requires the extension httpfs"),
])
def test_sql_settings_are_locked_and_nothing_is_fetched(wh, sql, message):
    before = tree_digest(wh.tables)
    assert_one_line_error(cli(wh, "sql", sql.format(tables=wh.tables)), message)
    assert tree_digest(wh.tables) == before
    assert not (wh.tables / "logs").exists()


def test_sql_still_reads_and_writes_its_own_output(wh, tmp_path):
    result = cli(wh, "sql", "SET VARIABLE n = 2; SELECT getvariable('n') * count(*) AS c FROM discogs_artists")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["c", str(2 * artists(wh))]
    out = tmp_path / "artists.parquet"
    result = cli(wh, "sql", "SELECT artist_id FROM discogs_artists", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall()[0][0] == artists(wh)
    for sql in ("CREATE TEMP TABLE t AS SELECT 1 AS a; SELECT a FROM t", "EXPLAIN SELECT 1", "SHOW TABLES",
                "DESCRIBE discogs_artists", "PRAGMA table_info('discogs_artists')"):
        assert cli(wh, "sql", sql).exit_code == 0, sql


def test_sql_output_never_goes_into_the_tables(wh):
    before = tree_digest(wh.tables)
    for target in (wh.table("discogs/artists") / "part-00001.parquet", wh.datasets / "x" / "y.csv"):
        assert_one_line_error(cli(wh, "sql", "SELECT 1 AS a", "--output", str(target)), "workspace")
        assert not target.exists()
    assert tree_digest(wh.tables) == before


def test_allow_writes_writes_outside_the_workspace_only(wh, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(wh.tables, target_is_directory=True)
    before, count = tree_digest(wh.tables), artists(wh)
    part = wh.table("discogs/artists") / "part-00000.parquet"
    refused = [
        f"COPY (SELECT 1) TO '{part}'",
        f"COPY (SELECT 1) TO '{wh.tables}/../tables/discogs/x.csv'",
        f"COPY (SELECT 1) TO '{tmp_path / 'link' / 'discogs' / 'x.parquet'}'",
        f"COPY (SELECT 1 AS a) TO '{wh.root}' (FORMAT parquet, PARTITION_BY (a), OVERWRITE)",
        f"COPY (SELECT 1) TO ('{wh.tables}/' || 'discogs/x.csv')",
        f"COPY (SELECT 1) TO \"{wh.tables}/x.csv\"",
        f"EXPORT DATABASE '{wh.datasets / 'export'}'",
        f"ATTACH '{wh.runs / 'x.duckdb'}' AS x (READ_WRITE)",
        f"ATTACH 'duckdb:{wh.features / 'x.duckdb'}' AS x",
        f"ATTACH 'duckdb:file://{wh.features / 'y.duckdb'}' AS y (READ_WRITE)",
        f"COPY (SELECT 1) TO 'file://{wh.tables / 'discogs' / 'url.csv'}'",
        f"COPY (SELECT 1) TO 'file://localhost{wh.tables / 'discogs' / 'url.csv'}'",
        f"COPY (SELECT 1) TO 'file:///{wh.tables / 'discogs' / 'url.csv'}'",
        f"COPY (SELECT 1) TO $${wh.tables / 'discogs' / 'dollar.csv'}$$",
        f"COPY (SELECT 1) TO '~/../../..{wh.tables / 'discogs' / 'home.csv'}'",
        f"ATTACH '{wh.warehouse_path}' AS w2",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{wh.features / 'x.csv'}'",
        "COPY (SELECT 1) TO 'tables/discogs/relative.csv'",
    ]
    monkeypatch.chdir(wh.root)
    for sql in refused:
        assert_one_line_error(cli(wh, "sql", "--allow-writes", sql), "inside the workspace")
    assert tree_digest(wh.tables) == before and artists(wh) == count
    assert not any(p.exists() for p in (wh.datasets, wh.runs, wh.features))

    allowed = [
        f"COPY (SELECT artist_id FROM discogs_artists) TO '{elsewhere / 'a.csv'}'",
        f"EXPORT DATABASE '{elsewhere / 'export'}'",
        f"ATTACH '{elsewhere / 'o.duckdb'}' AS o (READ_WRITE); CREATE TABLE o.t AS SELECT 1 AS a",
    ]
    for sql in allowed:
        result = cli(wh, "sql", "--allow-writes", sql)
        assert result.exit_code == 0, (sql, result.output)
    assert (elsewhere / "a.csv").read_text().splitlines()[0] == "artist_id"
    assert (elsewhere / "export" / "schema.sql").exists() and (elsewhere / "o.duckdb").exists()
    assert tree_digest(wh.tables) == before


def test_check_sql_reads_statement_types_with_duckdbs_parser(wh, tmp_path):
    from discogs_tools.warehouse.guard import SqlRefusedError, check_sql, protected_paths

    protected = protected_paths(wh)
    # string literals that merely look like writes are fine
    check_sql("SELECT 'COPY x TO y' AS a, 'INSTALL httpfs' AS b", protected=protected)
    # a COPY that reads into a (temporary) table reads nothing it could not read otherwise
    check_sql(f"COPY t FROM '{tmp_path / 'x.csv'}'", protected=protected)
    with pytest.raises(SqlRefusedError, match="COPY ... TO"):
        check_sql("COPY (SELECT 'a; TO' AS x) TO 'out.csv'", protected=protected)
    with pytest.raises(SqlRefusedError, match="sql does not run"):
        check_sql("UPDATE EXTENSIONS", protected=protected, allow_writes=True)
    with pytest.raises(duckdb.ParserException):
        check_sql("SELEC 1", protected=protected)


# ---------------------------------------------------------------------------------------
# Item 6: the next warehouse build collects the staging leftovers of a killed one


def test_warehouse_collects_staging_leftovers_of_dead_builds(wh):
    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        root = wh.root
        dead_files = [root / f".warehouse.duckdb.tmp-{dead}-0a1b2c3d", root / f".warehouse.duckdb.tmp-{dead}-0a1b2c3d.wal"]
        live_files = [root / f".warehouse.duckdb.tmp-{live.pid}-4e5f6a7b",
                      root / f".warehouse.duckdb.tmp-{live.pid}-4e5f6a7b.wal"]
        for path in dead_files + live_files:
            path.write_bytes(b"left behind")
        result = cli(wh, "warehouse")
        assert result.exit_code == 0, result.output
        assert not any(p.exists() for p in dead_files)
        assert all(p.exists() for p in live_files)
    finally:
        live.kill()
        live.wait()


def test_failed_build_leaves_no_staging_files(wh):
    broken = wh.table("discogs/extra")
    broken.mkdir()
    (broken / "part-00000.parquet").write_bytes(b"not parquet")
    before = file_digest(wh.warehouse_path)
    assert_one_line_error(cli(wh, "warehouse"), "tables/discogs/extra")
    assert file_digest(wh.warehouse_path) == before
    assert [p.name for p in wh.root.iterdir() if p.name.startswith(".warehouse")] == []


def test_manifest_failure_after_the_rename_says_the_warehouse_was_rebuilt(wh, monkeypatch):
    """A full disk that hits manifest.json after the new warehouse is in place must not claim
    that nothing was replaced."""
    import errno

    from discogs_tools import manifest

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(wh.manifest_path))

    monkeypatch.setattr(manifest, "record", full)
    extra = wh.table("collection/tracks")
    extra.mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 'a' AS track_id) TO '{extra / 'part-00000.parquet'}' (FORMAT parquet)")
    line = assert_one_line_error(cli(wh, "warehouse"), "was rebuilt and is usable", "No space left on device")
    assert "nothing was replaced" not in line
    assert build.is_current(wh)


# ---------------------------------------------------------------------------------------
# Item 7: one warehouse build at a time


def test_second_warehouse_build_says_who_holds_the_lock(wh):
    before = file_digest(wh.warehouse_path)
    with output_lock(wh.root, "warehouse"):
        line = assert_one_line_error(cli(wh, "warehouse"), "warehouse", "pid")
    assert str(os.getpid()) in line
    assert file_digest(wh.warehouse_path) == before


def test_sql_waits_for_a_running_build_and_then_uses_it(wh, monkeypatch):
    """A query that finds the warehouse stale while another process rebuilds it waits for that
    build (instead of failing or building a second time) and queries the result."""
    extra = wh.table("collection/tracks")
    extra.mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 'a' AS track_id) TO '{extra / 'part-00000.parquet'}' (FORMAT parquet)")
    assert not build.is_current(wh)
    held, release = threading.Event(), threading.Event()
    builds = []
    real_build = build._build

    def other_build():  # stands for a `discogs-tools warehouse` in another process
        with output_lock(wh.root, "warehouse"):
            held.set()
            release.wait(30)
            real_build(wh)
            builds.append("other")

    def counting_build(*args, **kwargs):
        builds.append("sql")
        return real_build(*args, **kwargs)

    said = []

    def echo(line):
        said.append(line)
        release.set()  # the query is waiting: let the other build finish

    thread = threading.Thread(target=other_build)
    thread.start()
    held.wait(30)
    monkeypatch.setattr(build, "_build", counting_build)
    try:
        report = query.run(wh, "SELECT count(*) AS n FROM collection_tracks", fmt="csv",
                           stream=open(os.devnull, "w"), echo=echo)
    finally:
        release.set()
        thread.join(30)
    assert report.counts["rows"] == 1
    assert builds == ["other"]  # the query used the other build's warehouse, it did not build again
    assert len(said) == 1 and said[0].startswith("waiting for a warehouse rebuild in progress")
    assert f"pid {os.getpid()}" in said[0]


def test_sql_gives_up_waiting_with_one_line(wh, monkeypatch):
    extra = wh.table("collection/tracks")
    extra.mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 'a' AS track_id) TO '{extra / 'part-00000.parquet'}' (FORMAT parquet)")
    before = file_digest(wh.warehouse_path)
    monkeypatch.setattr(build, "LOCK_WAIT_SECONDS", 0.2)
    with output_lock(wh.root, "warehouse"):
        result = cli(wh, "sql", "SELECT 1")
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("waiting for a warehouse rebuild in progress")
    assert len(lines) == 2 and lines[1].startswith("error: warehouse: output is being written by pid")
    assert "gave up waiting after 0.2 s" in lines[1]
    assert file_digest(wh.warehouse_path) == before


# ---------------------------------------------------------------------------------------
# Item 9: full disk, read-only workspace, a workspace that is a file


@pytest.fixture
def tiny_fs(tmp_path):
    """A 4 MiB tmpfs (root only); unmounted afterwards."""
    with small_tmpfs(tmp_path / "tiny", "4m") as mount:
        yield mount


def small_workspace(mount: Path, ingested: Path) -> Workspace:
    ws = Workspace(mount / "workspace").ensure()
    shutil.copytree(ingested, ws.tables)
    build.run(ws)
    return ws


def fill(mount: Path, keep_free: int = 64 * 1024) -> None:
    """Fill the file system, then free ``keep_free`` bytes (room for a lock file, not for a warehouse)."""
    with open(mount / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    with open(mount / "filler", "rb+") as fh:
        fh.truncate(max(0, (mount / "filler").stat().st_size - keep_free))


def add_table(ws: Workspace) -> None:
    """A new table makes the warehouse stale (so `sql` must rebuild it)."""
    folder = ws.table("collection/tracks")
    folder.mkdir(parents=True)
    shutil.copy(next(ws.table("discogs/labels").glob("*.parquet")), folder / "part-00000.parquet")


def staging_left(ws: Workspace) -> list[str]:
    return [p.name for p in ws.root.rglob(".*tmp-*")]


def test_full_disk(tiny_fs, ingested):
    ws = small_workspace(tiny_fs, ingested)
    before = file_digest(ws.warehouse_path)
    tables = tree_digest(ws.tables)
    add_table(ws)
    fill(tiny_fs)
    assert_one_line_error(cli(ws, "warehouse"), "no space left on device")
    assert_one_line_error(cli(ws, "sql", "SELECT count(*) FROM discogs_artists"), "no space left on device")
    assert file_digest(ws.warehouse_path) == before
    shutil.rmtree(ws.table("collection"))
    out = tiny_fs / "out.csv"
    assert_one_line_error(cli(ws, "sql", "SELECT * FROM discogs_releases, range(2000)", "-o", str(out)),
                          "no space left on device")
    assert not out.exists() and staging_left(ws) == [] and not list(tiny_fs.glob(".out.csv*"))
    assert file_digest(ws.warehouse_path) == before
    assert tree_digest(ws.tables) == tables


def test_read_only_workspace(tiny_fs, ingested):
    ws = small_workspace(tiny_fs, ingested)
    before = file_digest(ws.warehouse_path)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    assert_one_line_error(cli(ws, "warehouse"), "read-only file system")
    result = cli(ws, "sql", "SELECT count(*) AS n FROM discogs_artists")  # current warehouse: reads fine
    assert result.exit_code == 0, result.output
    assert_one_line_error(cli(ws, "sql", "SELECT 1", "-o", str(tiny_fs / "out.csv")), "read-only file system")
    subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
    add_table(ws)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    assert_one_line_error(cli(ws, "sql", "SELECT 1"), "read-only file system")
    assert file_digest(ws.warehouse_path) == before


def test_workspace_that_is_a_file(tmp_path):
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    for args in (["warehouse"], ["sql", "SELECT 1"]):
        result = CliRunner().invoke(app, [*args, "-w", str(path)])
        assert_one_line_error(result)
    assert path.read_text() == "x"


def test_sql_cannot_overwrite_the_pipeline_state_and_a_damaged_state_is_one_line(wh):
    """Audit: `sql -o W/pipelines/demo.state.json` succeeded and the next `run` crashed with a traceback."""
    ws = wh
    state = ws.root / "pipelines" / "stages.json"
    state.parent.mkdir()
    state.write_text("{}")
    res = CliRunner().invoke(app, ["sql", "SELECT 1 AS x", "--format", "csv", "-o", str(state), "-w", str(ws.root)])
    assert res.exit_code == 2 and state.read_text() == "{}", res.output
    state.write_text("x,1\n")  # damaged by hand
    res = CliRunner().invoke(app, ["run", "demo", "--dry-run", "-w", str(ws.root)])
    assert res.exit_code == 2 and "pipeline state is not valid JSON" in res.output and "Traceback" not in res.output
