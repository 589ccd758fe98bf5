"""Find every Parquet table of a workspace and give it a SQL view name.

The warehouse has one view per table, found by walking ``tables/``, ``datasets/`` and
``features/``, so tables written by later stages appear without any registration:

* a folder of part files (``part-*.parquet``, what :class:`~discogs_tools.io.TableWriter`
  writes) is one table: ``tables/discogs/releases/`` -> ``discogs_releases``;
* so is a folder named like a Parquet file, named without the suffix: the pairs' epoch files
  ``datasets/d20/pairs/artist/train.parquet/epoch-*.parquet`` -> ``dataset_d20_pairs_artist_train``;
* any other Parquet file is a table of its own, named by its path without ``.parquet``:
  ``datasets/d20/word2vec/vectors.parquet`` -> ``dataset_d20_word2vec_vectors``;
* a folder whose child tables all have the same columns (at least two of them, e.g. the
  split files of ``datasets/<name>/pairs/<association>/{train,validation,test}.parquet``) also
  gets a *union* view named by the folder: ``dataset_<name>_pairs_<association>``.

Names: ``tables/<a>/<b>`` -> ``a_b``; ``datasets/<name>/<rest>`` -> ``dataset_<name>_<rest>``;
``features/<name>/<rest>`` -> ``features_<name>_<rest>``; path parts joined by ``_``, lower
case, anything but ``[a-z0-9_]`` replaced by ``_``. Hidden files and folders (staging folders
of writes in progress start with ``.``) are ignored.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..workspace import Workspace

#: Workspace sub-folders scanned for tables, with the prefix their view names get.
SCANNED_ROOTS: tuple[tuple[str, str], ...] = (("tables", ""), ("datasets", "dataset"), ("features", "features"))

PART_FILE = re.compile(r"^part-.*\.parquet$")


@dataclass(frozen=True)
class SourceTable:
    """One Parquet table (or union of same-shaped tables) that becomes a warehouse view.

    ``paths`` are DuckDB ``read_parquet`` patterns (a folder glob or a file) relative to the
    workspace root, so a copied or moved workspace's views read its own files (connections
    resolve them with DuckDB's ``file_search_path`` set to the workspace, see :func:`search_path`);
    ``relpath`` is the table's place relative to the workspace root, for messages;
    ``kind`` is ``"folder"``, ``"file"`` or ``"union"``; ``schema`` is the Arrow schema
    text of its first file (used to notice when a table changed shape).
    """

    name: str
    kind: str
    relpath: str
    paths: tuple[str, ...]
    files: int
    schema: str = field(repr=False, default="")

    def select_sql(self) -> str:
        """``SELECT`` over the table's Parquet files (paths relative to the workspace root)."""
        patterns = ", ".join(_sql_string(p) for p in self.paths)
        if len(self.paths) == 1:
            return f"SELECT * FROM read_parquet({patterns})"
        return f"SELECT * FROM read_parquet([{patterns}], union_by_name = true)"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def search_path(root: Path) -> str:
    """DuckDB ``file_search_path`` that resolves the views' relative paths in workspace ``root``
    first, then in the current folder (where a user's own relative paths in a query point)."""
    return ",".join(dict.fromkeys([str(Path(root).resolve()), os.getcwd()]))


def view_name(parts: list[str]) -> str:
    """SQL identifier from path parts: joined by ``_``, lower case, ``[a-z0-9_]`` only."""
    name = "_".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name or name[0].isdigit():
        name = "t_" + name
    return name


def _schema_text(path: Path) -> str:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).remove_metadata().to_string(show_field_metadata=False)
    except Exception as exc:  # unreadable footer: still listed, the query will report it
        return f"unreadable: {exc}"


def _visible(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


class _Scanner:
    """Walks the scanned roots, collecting tables and name clashes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tables: list[SourceTable] = []
        self.clashes: list[str] = []
        self._by_name: dict[str, SourceTable] = {}

    def add(self, table: SourceTable) -> SourceTable | None:
        """Register ``table`` unless its view name is taken (the first path in order wins)."""
        if table.name in self._by_name:
            other = self._by_name[table.name]
            self.clashes.append(f"{table.relpath} would be view {table.name}, already used by {other.relpath}")
            return None
        self._by_name[table.name] = table
        self.tables.append(table)
        return table

    def scan(self, folder: Path, parts: list[str]) -> SourceTable | None:
        """Collect the tables in ``folder`` recursively; return the folder's own table, if any."""
        entries = _visible(folder)
        files = [e for e in entries if e.is_file() and e.name.endswith(".parquet")]
        relpath = str(folder.relative_to(self.root))

        if files and (all(PART_FILE.match(e.name) for e in files) or folder.name.endswith(".parquet")):
            # A table folder of part files, or a folder named like a Parquet file holding the
            # table's pieces (the pairs' <split>.parquet/epoch-*.parquet): one table, named
            # without the suffix; anything nested in it belongs to it.
            if parts and parts[-1].endswith(".parquet"):
                parts = parts[:-1] + [parts[-1][: -len(".parquet")]]
            return self.add(SourceTable(view_name(parts), "folder", relpath, (f"{relpath}/*.parquet",),
                                        len(files), _schema_text(Path(files[0].path))))

        children: list[SourceTable | None] = []
        for entry in files:
            stem = entry.name[: -len(".parquet")]
            rel = str(Path(entry.path).relative_to(self.root))
            children.append(self.add(SourceTable(
                view_name(parts + [stem]), "file", rel, (rel,), 1, _schema_text(Path(entry.path)))))
        for entry in entries:
            if entry.is_dir():
                children.append(self.scan(Path(entry.path), parts + [entry.name]))

        direct = [c for c in children if c is not None]
        if len(direct) >= 2 and len({c.schema for c in direct}) == 1:
            return self.add(SourceTable(view_name(parts), "union", relpath,
                                        tuple(p for c in direct for p in c.paths),
                                        sum(c.files for c in direct), direct[0].schema))
        return None


def discover_tables(ws: Workspace) -> tuple[list[SourceTable], list[str]]:
    """Every table of the workspace in path order, and the paths skipped for a name clash."""
    scanner = _Scanner(ws.root)
    for sub, prefix in SCANNED_ROOTS:
        top = ws.root / sub
        if not top.is_dir():
            continue
        for entry in _visible(top):
            if entry.is_dir():
                scanner.scan(Path(entry.path), ([prefix] if prefix else []) + [entry.name])
    return scanner.tables, scanner.clashes


def fingerprint(tables: list[SourceTable], view_sql: dict[str, str]) -> str:
    """Digest of what the warehouse is built from: table names, paths and shapes, view SQL.

    When it differs from the one stored in the warehouse, the warehouse is out of date.
    """
    h = hashlib.sha256()
    for t in tables:
        h.update(f"{t.name}\0{t.kind}\0{'|'.join(t.paths)}\0{t.schema}\n".encode())
    for name in sorted(view_sql):
        h.update(f"{name}\0{view_sql[name]}\n".encode())
    return h.hexdigest()
