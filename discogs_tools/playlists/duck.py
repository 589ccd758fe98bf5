"""Small DuckDB helpers shared by the playlist stages (lazy import; API differences across
DuckDB versions kept in one place)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


def connect(tmp_dir: Path, memory_limit: str | None = None, *, keep_order: bool = True) -> Any:
    """In-memory DuckDB connection spilling to ``tmp_dir``, optionally capped to ``memory_limit``."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{Path(tmp_dir).as_posix()}'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")
    return con


def arrow_table(con: Any, query: str) -> pa.Table:
    rel = con.sql(query)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def arrow_batches(con: Any, query: str, batch_size: int) -> pa.RecordBatchReader:
    """Stream a query result as Arrow record batches of at most ``batch_size`` rows."""
    rel = con.sql(query)
    if hasattr(rel, "to_arrow_reader"):
        return rel.to_arrow_reader(batch_size)
    return rel.fetch_arrow_reader(batch_size)


def fetch_one(con: Any, query: str) -> tuple:
    """First row of a query, reading the result to the end (DuckDB 2 refuses new work on a
    connection with a partly fetched result)."""
    rows = con.sql(query).fetchall()
    return rows[0] if rows else ()
