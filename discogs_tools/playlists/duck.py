"""DuckDB helpers of the playlist stages, on top of :mod:`discogs_tools.duck`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import duck as core


def connect(tmp_dir: Path, memory_limit: str | None = None, *, keep_order: bool = True) -> Any:
    """In-memory DuckDB connection spilling to ``tmp_dir``, optionally capped to ``memory_limit``."""
    return core.connect(memory_limit=memory_limit, temp_dir=tmp_dir, keep_order=keep_order)


arrow_table = core.arrow_table
arrow_batches = core.arrow_reader


def fetch_one(con: Any, query: str) -> tuple:
    """First row of a query, reading the result to the end (DuckDB 2 refuses new work on a
    connection with a partly fetched result)."""
    rows = con.sql(query).fetchall()
    return rows[0] if rows else ()
