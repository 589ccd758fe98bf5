"""A DuckDB connection for one stage run: on-disk scratch database, bounded memory.

The dataset stages join tables that can be far larger than RAM (3.3M tracks, 16M releases
with nested tracklists). DuckDB streams and spills them; this module fixes the memory limit
and the spill folder so a run stays within a known budget.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import duck as core
from ..duck import sql_str

DEFAULT_MEMORY_LIMIT = os.environ.get("DISCOGS_TOOLS_DUCKDB_MEMORY", "4GB")


def connect(scratch_dir: Path, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None):
    """Open a scratch DuckDB database in ``scratch_dir`` (created) with spilling enabled."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    return core.connect(scratch_dir / "scratch.duckdb", memory_limit=memory_limit, temp_dir=scratch_dir / "spill",
                        threads=threads, keep_order=False)


__all__ = ["DEFAULT_MEMORY_LIMIT", "connect", "sql_str"]
