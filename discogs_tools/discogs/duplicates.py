"""Record ids that occur more than once in a table just written by ``ingest discogs``.

A monthly dump holds each id once, but inputs can overlap (an extract and a single-record file
of the same dump, two dumps of different months given together), and a damaged dump can
repeat a record. Every row is kept (nothing read is dropped); this module counts the ids that
repeat, so the report can warn and ``_table.json`` can record it, and gives a few examples.

It runs one DuckDB aggregate over the table's part files after they were written (the id
column only), with a memory limit and a spill folder, so memory stays bounded whatever the
number of ids; no Python set of ids is ever built.

The rule for readers that need one row per id (documented in docs/ingest-discogs.md) is
:data:`DEDUP_ORDER`: keep the row with the lowest (source_file, record_ordinal), the first in
file-name order, then in document order (it depends only on the rows themselves).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import duck

MEMORY_LIMIT = "512MB"
EXAMPLES = 3
# One row per id: the first occurrence in this order (see the module docstring).
DEDUP_ORDER = "source_file, record_ordinal"


@dataclass
class Duplicates:
    """Ids occurring more than once: how many ids, how many rows beyond the first of each."""

    ids: int = 0
    extra_rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)  # {id, rows, files}
    by_file: dict[str, int] = field(default_factory=dict)  # rows with a repeated id beyond the first, per file

    def describe(self, entity: str) -> str:
        """Short text for a warning: the examples with the files they are in."""
        shown = "; ".join(f"{entity} {e['id']} x{e['rows']} in {', '.join(e['files'])}" for e in self.examples)
        more = f" (and {self.ids - len(self.examples):,} more)" if self.ids > len(self.examples) else ""
        return shown + more


def find_duplicates(folder: str | os.PathLike[str], id_column: str, *, spill_dir: str | os.PathLike[str]) -> Duplicates:
    """Ids of ``id_column`` found more than once across the Parquet parts in ``folder``."""
    parts = sorted(Path(folder).glob("*.parquet"))
    if not parts:
        return Duplicates()
    Path(spill_dir).mkdir(parents=True, exist_ok=True)
    con = duck.connect(memory_limit=MEMORY_LIMIT, temp_dir=spill_dir, threads=2, keep_order=False)
    try:
        glob = duck.sql_str(Path(folder) / "*.parquet")
        col = '"' + id_column.replace('"', '""') + '"'
        con.execute(f"CREATE TEMP TABLE dup AS SELECT {col} AS id, count(*) AS n FROM read_parquet({glob}) "
                    f"GROUP BY {col} HAVING count(*) > 1")
        ids, extra_rows = con.execute("SELECT count(*), coalesce(sum(n - 1), 0) FROM dup").fetchone()
        if not ids:
            return Duplicates()
        rows = con.execute(
            f"SELECT p.{col}, p.source_file, p.record_ordinal FROM read_parquet({glob}) p "
            f"JOIN (SELECT id FROM dup ORDER BY id LIMIT {EXAMPLES}) d ON p.{col} = d.id "
            f"ORDER BY p.{col}, {DEDUP_ORDER}").fetchall()
        by_file = dict(con.execute(
            f"SELECT source_file, count(*) FROM (SELECT source_file, row_number() OVER (PARTITION BY {col} "
            f"ORDER BY {DEDUP_ORDER}) AS k FROM read_parquet({glob}) p SEMI JOIN dup d ON p.{col} = d.id) "
            "WHERE k > 1 GROUP BY source_file ORDER BY source_file").fetchall())
    finally:
        con.close()
    examples: dict[Any, dict[str, Any]] = {}
    for id_, source_file, _ in rows:
        e = examples.setdefault(id_, {"id": id_, "rows": 0, "files": []})
        e["rows"] += 1
        if source_file not in e["files"]:
            e["files"].append(source_file)
    return Duplicates(int(ids), int(extra_rows), list(examples.values()), {k: int(v) for k, v in by_file.items()})
