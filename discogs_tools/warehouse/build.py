"""Build ``workspace/warehouse.duckdb``: one view per Parquet table, then the flat views.

The warehouse holds no data, only views over the workspace's Parquet files, by paths relative
to the workspace (resolved through DuckDB's ``file_search_path``, set to the workspace by every
connection that opens it), so it is cheap to rebuild, always shows the current files, and a
copied or moved workspace reads its own files. (Opened by hand, e.g. in the ``duckdb`` shell,
start it in the workspace folder.) It is built into a
temporary file next to its final place and renamed over it, so a reader sees either the old
or the new warehouse, never a half-built one. One build runs at a time (the ``warehouse`` lock
of :mod:`discogs_tools.locks`): a second ``warehouse`` fails at once naming the holder, while a
query that needs a rebuild waits for the running one and uses its result (:func:`ensure`). The
next build removes the staging files (``.warehouse.duckdb.tmp-PID-…`` and its ``.wal``) of a
killed one.

Besides the views it holds three small bookkeeping tables:

* ``_warehouse_tables`` (view, kind, path, files): the Parquet tables found;
* ``_warehouse_views`` (view, status, note, file): each shipped view, created or skipped and why;
* ``_warehouse_info`` (key, value): the fingerprint of the inputs (table paths and shapes,
  view SQL), used by :func:`is_current` to notice new or changed tables.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import manifest
from ..errors import DiscogsToolsError, MissingInputError, disk_problem
from ..io import atomic_path
from ..locks import OutputLockedError, output_lock
from ..report import Report
from ..workspace import Workspace
from .discover import SourceTable, discover_tables, fingerprint, search_path
from .hints import producer_of
from .views import ViewDef, load_views, views_dir

STAGE = "warehouse"
FIRST_STEP = "discogs-tools ingest discogs DUMP_PATH"
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist", re.I)
LOCK_WAIT_SECONDS = 300.0  # how long a query waits for another process's rebuild
LOCK_POLL_SECONDS = 0.2
@dataclass
class ViewOutcome:
    """What happened to one shipped view."""

    name: str
    status: str  # "created", "skipped" or "failed"
    note: str
    file: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _table_docs(table: SourceTable) -> tuple[str | None, dict[str, str]]:
    """Table and column docs from the declared schema of a ``tables/<group>/<table>`` folder."""
    parts = Path(table.relpath).parts
    if table.kind != "folder" or len(parts) != 3 or parts[0] != "tables":
        return None, {}
    try:
        from ..schemas import load_schema

        schema = load_schema(f"{parts[1]}/{parts[2]}")
    except Exception:
        return None, {}
    meta = schema.metadata or {}
    docs = {f.name: (f.metadata or {}).get(b"doc", b"").decode() for f in schema}
    return meta.get(b"doc", b"").decode() or None, {k: v for k, v in docs.items() if v}


def _create_table_view(con: Any, table: SourceTable) -> None:
    con.execute(f"CREATE VIEW {_quote(table.name)} AS {table.select_sql()}")
    doc, column_docs = _table_docs(table)
    con.execute(f"COMMENT ON VIEW {_quote(table.name)} IS {_literal(doc or 'Parquet table ' + table.relpath)}")
    for column, text in column_docs.items():
        try:
            con.execute(f"COMMENT ON COLUMN {_quote(table.name)}.{_quote(column)} IS {_literal(text)}")
        except Exception:  # the files on disk may predate a column added to the schema
            pass


def _create_flat_view(con: Any, view: ViewDef, outcomes: dict[str, ViewOutcome]) -> ViewOutcome:
    import duckdb

    rel = str(view.path.name)
    for dep in view.depends_on:
        if outcomes[dep].status != "created":
            return ViewOutcome(view.name, "skipped", f"needs view {dep} ({outcomes[dep].note})", rel)
    try:
        con.execute(f"CREATE VIEW {_quote(view.name)} AS {view.sql}")
    except duckdb.CatalogException as exc:
        missing = _MISSING_TABLE.search(str(exc))
        if not missing:
            return ViewOutcome(view.name, "failed", str(exc).splitlines()[0], rel)
        table = missing.group(1)
        hint = producer_of(table)
        note = f"needs table {table}" + (f" (run `{hint}`)" if hint else "")
        return ViewOutcome(view.name, "skipped", note, rel)
    except duckdb.Error as exc:
        return ViewOutcome(view.name, "failed", str(exc).splitlines()[0], rel)
    if view.header:
        con.execute(f"COMMENT ON VIEW {_quote(view.name)} IS {_literal(view.header)}")
    return ViewOutcome(view.name, "created", "", rel)


def _view_sql_texts(views: list[ViewDef]) -> dict[str, str]:
    return {v.name: v.sql for v in views}


def run(ws: Workspace | str | os.PathLike[str], *, views_folder: Path | None = None) -> Report:
    """(Re)create ``ws.warehouse_path`` atomically; returns what was created and skipped.

    One build at a time: a second one (another ``warehouse``, or a query rebuilding a stale
    warehouse) fails at once with :class:`~discogs_tools.locks.OutputLockedError` naming the
    process that holds the lock. ``ws``: a Workspace or its path.
    """
    ws = Workspace.of(ws)
    with output_lock(ws.root, STAGE):
        return _build(ws, views_folder=views_folder)


def _build(ws: Workspace, *, views_folder: Path | None = None) -> Report:
    """The build itself; the caller holds the warehouse lock."""
    import duckdb

    from ..manifest import Timer

    tables, clashes = discover_tables(ws)
    if not tables:
        raise MissingInputError("ingested tables", ws.tables, FIRST_STEP)
    views = load_views(views_folder)
    outcomes: dict[str, ViewOutcome] = {}

    with Timer() as timer:
        stale_wal = ws.warehouse_path.with_name(ws.warehouse_path.name + ".wal")
        with atomic_path(ws.warehouse_path) as tmp:
            tmp_wal = tmp.with_name(tmp.name + ".wal")
            try:
                con = duckdb.connect(str(tmp), config={"file_search_path": search_path(ws.root)})
                try:
                    for table in tables:
                        try:
                            _create_table_view(con, table)
                        except duckdb.Error as exc:
                            if disk_problem(exc):
                                raise
                            raise DiscogsToolsError(
                                f"{table.relpath}: cannot read as Parquet table: {str(exc).splitlines()[0]}") from None
                    for view in views:
                        outcomes[view.name] = _create_flat_view(con, view, outcomes)
                    _write_bookkeeping(con, tables, list(outcomes.values()),
                                       fingerprint(tables, _view_sql_texts(views)))
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
            except duckdb.Error as exc:
                tmp_wal.unlink(missing_ok=True)
                reason = disk_problem(exc)
                if reason is None:
                    raise
                raise DiscogsToolsError(
                    f"{ws.warehouse_path}: {reason} while building the warehouse; the previous warehouse "
                    f"is kept ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
            except BaseException:
                tmp_wal.unlink(missing_ok=True)
                raise
            tmp_wal.unlink(missing_ok=True)
            stale_wal.unlink(missing_ok=True)

    report = _report(ws, tables, list(outcomes.values()), clashes, timer.seconds)
    try:
        manifest.record(ws.manifest_path, STAGE, {
            **report.to_dict(),
            "params": {"views_folder": str(views_folder or views_dir())},
            "inputs": [{**manifest.describe_table(ws.root / t.relpath), "view": t.name} for t in tables
                       if t.kind != "union"],
        })
    except OSError as exc:
        # The warehouse is already in place (and carries its own fingerprint); only the
        # manifest entry is missing, so say exactly that instead of "nothing was replaced".
        raise DiscogsToolsError(
            f"{ws.warehouse_path} was rebuilt and is usable, but recording the run in {ws.manifest_path} failed "
            f"({exc.strerror or exc}); rerun `discogs-tools warehouse` once that is fixed") from None
    return report


def _write_bookkeeping(con: Any, tables: list[SourceTable], outcomes: list[ViewOutcome], digest: str) -> None:
    con.execute("CREATE TABLE _warehouse_tables (view VARCHAR, kind VARCHAR, path VARCHAR, files BIGINT)")
    con.executemany("INSERT INTO _warehouse_tables VALUES (?, ?, ?, ?)",
                    [(t.name, t.kind, t.relpath, t.files) for t in tables])
    con.execute("CREATE TABLE _warehouse_views (view VARCHAR, status VARCHAR, note VARCHAR, file VARCHAR)")
    if outcomes:
        con.executemany("INSERT INTO _warehouse_views VALUES (?, ?, ?, ?)",
                        [(o.name, o.status, o.note, o.file) for o in outcomes])
    con.execute("CREATE TABLE _warehouse_info (key VARCHAR, value VARCHAR)")
    con.execute("INSERT INTO _warehouse_info VALUES ('fingerprint', ?)", [digest])


def _report(ws: Workspace, tables: list[SourceTable], outcomes: list[ViewOutcome], clashes: list[str],
            seconds: float) -> Report:
    by_status = {s: [o for o in outcomes if o.status == s] for s in ("created", "skipped", "failed")}
    report = Report(
        stage=STAGE,
        counts={
            "tables": len(tables),
            "views_created": len(by_status["created"]),
            "views_skipped": len(by_status["skipped"]),
            "views_failed": len(by_status["failed"]),
        },
        outputs={"warehouse": str(ws.warehouse_path)},
        figures={"seconds": round(seconds, 3)},
        details=[{"view": t.name, "kind": "table", "source": t.relpath, "files": t.files} for t in tables]
        + [{"view": o.name, "kind": "view", "status": o.status, "note": o.note, "file": o.file} for o in outcomes],
    )
    report.warnings.extend(f"view {o.name} ({o.file}) failed: {o.note}" for o in by_status["failed"])
    report.warnings.extend(f"name clash: {c}" for c in clashes)
    return report


def stored_fingerprint(path: Path) -> str | None:
    """The fingerprint recorded in a warehouse file, or None if unreadable / not ours."""
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT value FROM _warehouse_info WHERE key = 'fingerprint'").fetchone()
        return row[0] if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def is_current(ws: Workspace, *, views_folder: Path | None = None) -> bool:
    """True when the warehouse exists and was built from the tables and views present now."""
    if not ws.warehouse_path.exists():
        return False
    tables, _ = discover_tables(ws)
    expected = fingerprint(tables, _view_sql_texts(load_views(views_folder)))
    return stored_fingerprint(ws.warehouse_path) == expected


def ensure(ws: Workspace, *, views_folder: Path | None = None,
           echo: Callable[[str], None] | None = None) -> Report | None:
    """Build the warehouse if it is missing or out of date; returns the build report, or None.

    When another process is rebuilding it, waits for that build (saying so through ``echo``)
    up to :data:`LOCK_WAIT_SECONDS`, then uses its result instead of building a second time.
    """
    if is_current(ws, views_folder=views_folder):
        return None
    with ExitStack() as held:
        _wait_for_lock(held, ws, echo)
        if is_current(ws, views_folder=views_folder):
            return None
        return _build(ws, views_folder=views_folder)


def _wait_for_lock(held: ExitStack, ws: Workspace, echo: Callable[[str], None] | None) -> None:
    """Take the warehouse lock into ``held``, polling while another process holds it."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    told = False
    while True:
        try:
            held.enter_context(output_lock(ws.root, STAGE))
            return
        except OutputLockedError as exc:
            if time.monotonic() >= deadline:
                raise OutputLockedError(f"{exc}; gave up waiting after {LOCK_WAIT_SECONDS:g} s") from None
            if not told and echo is not None:
                echo(f"waiting for a warehouse rebuild in progress: {exc}")
                told = True
            time.sleep(LOCK_POLL_SECONDS)
