"""Run a SQL query against the warehouse and render or write its result.

The warehouse is opened read-only (several queries may run at once, and a query can never
change it); it is built first when missing or out of date. A query cannot write files or
install extensions either, unless the caller allows writes, and even then never inside the
workspace's own folders (see :mod:`.guard`). Results stream: the terminal
table keeps only the rows it shows, and files are written by DuckDB's own CSV / JSON /
Parquet writers from an Arrow stream, so memory does not grow with the result size.
Output files are written to a temporary name and renamed into place.

Formats: ``table`` (a readable table; on a terminal by default), ``csv`` (with header; the
default in pipes), ``json`` (one array of objects), ``jsonl`` (one object per line) and
``parquet`` (needs ``output``). Nested values (lists, structs) keep their structure in JSON
and Parquet; CSV and the table show them as text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from ..errors import ConfigError, DiscogsToolsError, disk_problem
from ..io import atomic_path
from ..report import Report
from ..workspace import Workspace
from . import build, guard
from .discover import search_path
from .hints import producer_of
from .views import queries_dir

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
              ".txt": "table"}
DEFAULT_LIMIT = 50
THREADS_ENV = "DISCOGS_TOOLS_DUCKDB_THREADS"
MEMORY_ENV = "DISCOGS_TOOLS_DUCKDB_MEMORY"
MAX_CELL = 80
BATCH_ROWS = 8192
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist", re.I)
_SUGGESTION = re.compile(r'Did you mean "([^"]+)"')
_CANDIDATES = re.compile(r"Candidate bindings: ([^\n]+)")
_LINE = re.compile(r"LINE (\d+):")


class QueryError(DiscogsToolsError):
    """A query failed (bad SQL, unknown table or column); the message is one line."""


# ---------------------------------------------------------------------------------------
# What to run


def resolve_query_file(name: str | Path) -> Path:
    """A query file: an existing path, or the name of a ready query in ``sql/queries/``."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = queries_dir() / path.name
    for candidate in (shipped, shipped.with_name(shipped.name + ".sql")):
        if candidate.is_file():
            return candidate
    available = ", ".join(p.stem for p in ready_queries()) or "none"
    raise QueryError(f"query file {name} not found (ready queries: {available})")


def ready_queries() -> list[Path]:
    """The shipped ready queries (``sql/queries/*.sql``)."""
    folder = queries_dir()
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


def query_summary(path: Path) -> str:
    """The first sentence(s) of a query file's leading comment: what the query answers."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("--"):
            break
        text = line.lstrip("- ").strip()
        if not text or text.startswith(("grain:", "columns:", "sources:")):
            break
        words.append(text)
    return " ".join(words)


def query_text(sql: str | None, file: str | Path | None) -> tuple[str, str]:
    """The SQL to run and a label for messages, from inline text or a file (exactly one)."""
    if bool(sql) == bool(file):
        raise ConfigError("give either a query (discogs-tools sql \"SELECT ...\") or --file FILE, not both or neither")
    if file:
        path = resolve_query_file(file)
        return path.read_text(encoding="utf-8"), str(path)
    return str(sql), "query"


def choose_format(fmt: str | None, output: Path | None, terminal: bool) -> str:
    """The output format: as given, else from the output file's extension, else table on a
    terminal and CSV in a pipe."""
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    elif output is not None:
        suffixes = [s for s in output.suffixes if s not in (".gz", ".zst")]
        fmt = EXTENSIONS.get(suffixes[-1].lower() if suffixes else "")
        if fmt is None:
            raise ConfigError(f"cannot tell the format from {output.name}; add --format {'|'.join(FORMATS)}")
    else:
        fmt = "table" if terminal else "csv"
    if fmt == "parquet" and output is None:
        raise ConfigError("--format parquet needs --output FILE.parquet")
    return fmt


# ---------------------------------------------------------------------------------------
# Running


def explain_error(exc: Exception, label: str) -> QueryError:
    """One-line message for a DuckDB error, saying which command creates a missing table."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    where = _LINE.search(text)
    message = f"{label}: {first}" + (f" (at line {where.group(1)})" if where else "")
    candidates = _CANDIDATES.search(text)
    if candidates:
        message += f"; candidates: {candidates.group(1).strip()}"
    missing = _MISSING_TABLE.search(text)
    if missing:
        table = missing.group(1)
        hint = producer_of(table)
        if hint:
            message += f"; {table} is not in the warehouse: run `{hint}` (then the query rebuilds it)"
        else:
            suggestion = _SUGGESTION.search(text)
            if suggestion and not suggestion.group(1).startswith(("pg_", "duckdb_", "pragma_", "sqlite_")):
                message += f'; did you mean "{suggestion.group(1)}"?'
            message += "; list tables with: discogs-tools sql \"SHOW TABLES\""
    return QueryError(message)


def duckdb_config() -> dict[str, str]:
    """DuckDB settings from the environment: ``DISCOGS_TOOLS_DUCKDB_THREADS`` (e.g. 2) and
    ``DISCOGS_TOOLS_DUCKDB_MEMORY`` (e.g. "2GB"; beyond it DuckDB spills to disk). Unset: DuckDB's
    defaults (all cores, 80% of RAM)."""
    config = {}
    if os.environ.get(THREADS_ENV):
        config["threads"] = os.environ[THREADS_ENV]
    if os.environ.get(MEMORY_ENV):
        config["memory_limit"] = os.environ[MEMORY_ENV]
    return config


def connect(ws: Workspace | str | os.PathLike[str], echo: Callable[[str], None] | None = None) -> Any:
    """Read-only connection to the warehouse, (re)building it first when missing or stale.

    Extensions are neither installed nor loaded automatically, secrets are not persisted,
    and the settings are locked (see :data:`.guard.CONNECTION_SETTINGS`). ``ws``: a Workspace or its path.
    """
    import duckdb

    ws = Workspace.of(ws)

    built = build.ensure(ws, echo=echo)
    if built is not None and echo is not None:
        c = built.counts
        echo(f"warehouse rebuilt: {c['tables']} tables, {c['views_created']} views "
             f"({c['views_skipped']} skipped) -> {ws.warehouse_path}")
    try:
        config = {**duckdb_config(), "file_search_path": search_path(ws.root)}
        return duckdb.connect(str(ws.warehouse_path), read_only=True, config=guard.connection_config(config))
    except duckdb.Error as exc:
        raise QueryError(f"{ws.warehouse_path}: cannot open the warehouse: {str(exc).splitlines()[0]}") from None


def check(sql: str, label: str = "query", *, allow_writes: bool = False, protected: Any = ()) -> None:
    """Refuse ``sql`` (one-line :class:`~.guard.SqlRefusedError`) when a statement would write a
    file or install / load an extension (unless ``allow_writes``), or write into ``protected``."""
    import duckdb

    try:
        guard.check_sql(sql, allow_writes=allow_writes, protected=protected)
    except duckdb.Error as exc:
        raise explain_error(exc, label) from None
    except guard.SqlRefusedError as exc:
        raise guard.SqlRefusedError(f"{label}: {exc}") from None


def execute(con: Any, sql: str, label: str = "query", *, allow_writes: bool = False, protected: Any = (),
            checked: bool = False) -> Any:
    """Run ``sql`` (one or more statements); returns the relation of the last one, or None.

    The statements are first checked with :func:`check` (skipped when ``checked``: the caller did).
    """
    import duckdb

    if not checked:
        check(sql, label, allow_writes=allow_writes, protected=protected)
    try:
        return con.sql(sql)
    except duckdb.Error as exc:
        raise explain_error(exc, label) from None


def run(
    ws: Workspace | str | os.PathLike[str],
    sql: str | None = None,
    *,
    file: str | Path | None = None,
    fmt: str | None = None,
    output: Path | None = None,
    limit: int | None = None,
    stream: IO[str] | None = None,
    terminal: bool | None = None,
    echo: Callable[[str], None] | None = None,
    allow_writes: bool = False,
) -> Report:
    """Run a query and print it to ``stream`` (default stdout) or write it to ``output``.

    ``limit`` caps the rows written, in every format (0: all). Left out, the table format
    shows :data:`DEFAULT_LIMIT` rows (and says how many there are) and the other formats
    write every row. ``allow_writes`` lets the SQL write files (COPY ... TO, EXPORT DATABASE,
    ATTACH) and install / load extensions, never inside the workspace's own folders; neither
    the SQL nor ``output`` may write there.
    """
    import duckdb

    ws = Workspace.of(ws)

    stream = stream or sys.stdout
    terminal = stream.isatty() if terminal is None else terminal
    text, label = query_text(sql, file)
    fmt = choose_format(fmt, Path(output) if output else None, terminal)
    protected = guard.protected_paths(ws)
    if output is not None:
        guard.check_output(output, protected)
    check(text, label, allow_writes=allow_writes, protected=protected)
    con = connect(ws, echo)
    try:
        rel = execute(con, text, label, checked=True)
        report = Report(stage="sql", figures={"format": fmt})
        if rel is None:
            report.counts["rows"] = 0
            return report
        try:
            if fmt == "table":
                shown, total = _render_table(rel, stream if output is None else None, output,
                                             DEFAULT_LIMIT if limit is None else limit, terminal)
                report.counts.update(rows=total, rows_shown=shown)
            else:
                if limit:
                    rel = rel.limit(limit)
                report.counts["rows"] = _write_file(rel, fmt, output, stream)
        except (duckdb.Error, OSError) as exc:
            reason = disk_problem(exc)
            if reason is not None:
                raise QueryError(f"{output if output is not None else 'result'}: {reason} while writing the result; "
                                 f"nothing was written (a previous file, if any, is kept)") from None
            if isinstance(exc, OSError):
                raise
            raise explain_error(exc, label) from None
        if output is not None:
            report.outputs[fmt] = str(output)
        return report
    finally:
        con.close()


# ---------------------------------------------------------------------------------------
# Writing files (csv, json, jsonl, parquet)


def _copy_options(fmt: str, output: Path | None) -> str:
    if fmt == "parquet":
        return "FORMAT parquet, COMPRESSION zstd"
    compression = "none"
    if output is not None and output.suffix == ".gz":
        compression = "gzip"
    elif output is not None and output.suffix == ".zst":
        compression = "zstd"
    if fmt == "csv":
        return f"FORMAT csv, HEADER true, COMPRESSION {compression}"
    return f"FORMAT json, ARRAY {'true' if fmt == 'json' else 'false'}, COMPRESSION {compression}"


def _copy(rel: Any, fmt: str, target: Path, output: Path | None) -> int:
    """Stream the relation's rows into ``target`` with DuckDB's writer; returns the row count."""
    import duckdb

    reader = rel.to_arrow_reader(BATCH_ROWS)
    sink = duckdb.connect(config=duckdb_config())  # in memory: the warehouse connection stays read-only and untouched
    try:
        sink.register("result", reader)
        target_sql = "'" + str(target).replace("'", "''") + "'"
        row = sink.execute(f"COPY result TO {target_sql} ({_copy_options(fmt, output)})").fetchone()
        return int(row[0]) if row else 0
    finally:
        sink.close()


def _write_file(rel: Any, fmt: str, output: Path | None, stream: IO[str]) -> int:
    if output is not None:
        with atomic_path(output) as tmp:
            return _copy(rel, fmt, tmp, output)
    with tempfile.TemporaryDirectory(prefix="discogs-tools-sql-") as folder:
        tmp = Path(folder) / f"result.{fmt}"
        rows = _copy(rel, fmt, tmp, None)
        with open(tmp, encoding="utf-8") as fh:
            shutil.copyfileobj(fh, stream)
    stream.flush()
    return rows


# ---------------------------------------------------------------------------------------
# The readable table


def cell_text(value: Any, max_chars: int = MAX_CELL) -> str:
    """A value as table text: NULL for missing, JSON for lists/structs, cut at ``max_chars``."""
    if value is None:
        return "NULL"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _is_numeric(arrow_type: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)


def _render_table(rel: Any, stream: IO[str] | None, output: Path | None, limit: int, terminal: bool) -> tuple[int, int]:
    """Print up to ``limit`` rows as a table; count the rest without keeping them."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    reader = rel.to_arrow_reader(BATCH_ROWS)
    schema = reader.schema
    rows: list[list[str]] = []
    total = 0
    for batch in reader:
        total += batch.num_rows
        room = (limit - len(rows)) if limit > 0 else batch.num_rows
        if room > 0:
            columns = [batch.column(i).slice(0, room).to_pylist() for i in range(batch.num_columns)]
            rows.extend([cell_text(col[r]) for col in columns] for r in range(min(room, batch.num_rows)))

    table = Table(show_lines=False, header_style="bold")
    for field in schema:
        table.add_column(Text(field.name), justify="right" if _is_numeric(field.type) else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*(Text(c, style="dim" if c == "NULL" else "") for c in row))
    shown = len(rows)
    table.caption = (f"{total:,} rows" if shown == total
                     else f"{shown:,} of {total:,} rows shown (--limit N, --limit 0 for all, or --format csv)")

    def emit(console_file: IO[str], is_terminal: bool) -> None:
        console = Console(file=console_file, force_terminal=is_terminal, no_color=not is_terminal,
                          width=None if is_terminal else 10_000, soft_wrap=False)
        console.print(table)

    if output is not None:
        with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            emit(fh, False)
    else:
        assert stream is not None
        emit(stream, terminal)
    return shown, total
