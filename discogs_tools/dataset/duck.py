"""A DuckDB connection for one stage run: on-disk scratch database, bounded memory.

The dataset stages join tables that can be far larger than RAM (3.3M tracks, 16M releases
with nested tracklists). DuckDB streams and spills them; this module fixes the memory limit
and the spill folder so a run stays within a known budget.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MEMORY_LIMIT = os.environ.get("DISCOGS_TOOLS_DUCKDB_MEMORY", "4GB")


def connect(scratch_dir: Path, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None):
    """Open a scratch DuckDB database in ``scratch_dir`` (created) with spilling enabled."""
    import duckdb

    scratch_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(scratch_dir / "scratch.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{scratch_dir / 'spill'}'")
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def sql_str(value: str | os.PathLike[str]) -> str:
    """A string literal for SQL text (paths of Parquet globs)."""
    return "'" + str(value).replace("'", "''") + "'"
