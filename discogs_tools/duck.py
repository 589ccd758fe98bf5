"""DuckDB connections and Arrow results, shared by every stage that queries Parquet tables.

One place for the settings that keep a stage within a memory budget (``memory_limit``, a spill
folder, thread count, insertion order) and for the Arrow fetch calls whose names changed between
DuckDB 1.x (``fetch_arrow_table`` / ``fetch_arrow_reader``) and 2.x (``to_arrow_table`` /
``to_arrow_reader``). DuckDB itself is imported lazily so that importing a stage stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa


def connect(database: str | os.PathLike[str] = ":memory:", *, memory_limit: str | None = None,
            temp_dir: str | os.PathLike[str] | None = None, threads: int | None = None,
            keep_order: bool = True) -> Any:
    """A DuckDB connection with the given limits; unset ones keep DuckDB's defaults.

    ``temp_dir`` is where DuckDB spills beyond ``memory_limit``; ``keep_order=False`` lets it
    stream results out of insertion order (less memory for large joins).
    """
    import duckdb

    con = duckdb.connect(str(database))
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = '{Path(temp_dir).as_posix()}'")
    con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")
    return con


def arrow_table(con: Any, query: str) -> pa.Table:
    """A query's whole result as an Arrow table (any DuckDB version)."""
    rel = con.sql(query)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()


def arrow_reader(con: Any, query: str, batch_size: int = 100_000) -> pa.RecordBatchReader:
    """Stream a query's result as Arrow record batches of at most ``batch_size`` rows."""
    rel = con.sql(query)
    if hasattr(rel, "to_arrow_reader"):
        return rel.to_arrow_reader(batch_size)
    return rel.fetch_arrow_reader(batch_size)


def sql_str(value: str | os.PathLike[str]) -> str:
    """A string literal for SQL text (e.g. paths of Parquet globs)."""
    return "'" + str(value).replace("'", "''") + "'"
