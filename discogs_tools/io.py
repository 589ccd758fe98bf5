"""Atomic writes of files and Parquet tables, and table reads.

Every output is first written under a hidden temporary name next to its final place
and renamed into place only when complete, so an interrupted stage leaves either the
previous output or nothing, never a half-written table. Rerunning a stage replaces its
output as a whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .schemas import conform, load_schema

DEFAULT_COMPRESSION = "zstd"


STAGING_TAGS = ("tmp", "old")
_STAGING_RE = re.compile(r"^\.(?P<name>.+)\.(?P<tag>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}(?P<suffix>.*)$")
TABLE_INFO = "_table.json"


def _temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """Hidden staging name next to ``path``: ``.<name>.<tag>-<pid>-<random>``.

    The owner's pid is part of the name so that a later run can tell a live staging
    folder (another process is writing it) from a dead one (the owner was killed).
    """
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (signal 0 probes without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_dead_staging(path: str | os.PathLike[str]) -> list[Path]:
    """Remove staging leftovers of ``path`` whose owner process is gone; returns what was removed.

    Staging names are ``.<name>.tmp-<pid>-<random>[suffix]`` (see :func:`_temp_sibling`;
    a suffix covers side files such as DuckDB's ``.wal``). Leftovers of live processes
    (a concurrent run) are left alone. Called by every writer before it stages, so the
    next run of a stage collects what a ``kill -9`` or a power cut left behind.
    """
    path = Path(path)
    removed: list[Path] = []
    parent = path.parent
    if not parent.is_dir():
        return removed
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = _STAGING_RE.match(entry.name)
        if not m or m.group("name") != path.name or pid_alive(int(m.group("pid"))):
            continue
        target = Path(entry.path)
        try:
            if m.group("tag") == "old" and not m.group("suffix") and not os.path.lexists(path):
                # Killed between moving the old output aside and renaming the new one in:
                # the old output is the last complete one, so it goes back into place.
                os.replace(target, path)
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(target)
            else:
                target.unlink()
            removed.append(target)
        except FileNotFoundError:
            pass
        except OSError:
            continue
    return removed


def _discard(path: Path) -> None:
    """Remove a staging file or folder, whatever happens (never raises)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def replace_path(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst`` (file or folder), replacing what was there.

    For folders the old one is first moved aside, then the new one renamed in, then the
    old one removed: at every instant ``dst`` is either the complete old or new output.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and dst.exists():
        old = _temp_sibling(dst, "old")
        os.replace(dst, old)
        os.replace(src, dst)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(src, dst)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``, on error it is removed.

    >>> with atomic_path("out/report.json") as tmp:
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(path)
    tmp = _temp_sibling(path)
    if is_dir:
        tmp.mkdir()
    try:
        yield tmp
        replace_path(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


class TableWriter:
    """Write one Parquet table (a folder of part files) atomically, validated against its schema.

    ``table`` names the declared schema (``schemas/<table>.json``) unless ``schema`` is given.
    Batches are conformed to the schema and appended; a new part file starts every
    ``rows_per_part`` rows, so memory stays bounded by the batch size. :meth:`commit` renames
    the staging folder into place; leaving the ``with`` block by an exception discards it.

    Workers in other processes may write their own part files into :attr:`staging_dir`
    (use :meth:`new_part_path`), as long as they conform to the same schema.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        table: str | None = None,
        *,
        schema: pa.Schema | None = None,
        rows_per_part: int = 1_000_000,
        compression: str = DEFAULT_COMPRESSION,
        row_group_size: int = 100_000,
    ) -> None:
        if schema is None:
            if table is None:
                raise ValueError("TableWriter needs a table name or a schema")
            schema = load_schema(table)
        self.path = Path(path)
        self.table = table or ""
        self.schema = schema
        self.rows_per_part = rows_per_part
        self.compression = compression
        self.row_group_size = row_group_size
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_staging(self.path)
        self.staging_dir = _temp_sibling(self.path)
        self.staging_dir.mkdir()
        self.info: dict[str, Any] = {}
        self._parts = 0
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_part = 0
        self._done = False

    def new_part_path(self) -> Path:
        """Path of the next part file in the staging folder (names sort in write order)."""
        path = self.staging_dir / f"part-{self._parts:05d}.parquet"
        self._parts += 1
        return path

    def write(self, data: pa.Table | pa.RecordBatch | list[dict[str, Any]]) -> None:
        """Append rows (a table, a record batch or a list of row dicts)."""
        if isinstance(data, list):
            data = pa.Table.from_pylist(data, schema=self.schema)
        data = conform(data, self.schema, table=self.table)
        if data.num_rows == 0:
            return
        if self._writer is None or self._rows_in_part >= self.rows_per_part:
            self._close_part()
            self._writer = pq.ParquetWriter(self.new_part_path(), self.schema, compression=self.compression)
            self._rows_in_part = 0
        self._writer.write_table(data, row_group_size=self.row_group_size)
        self._rows_in_part += data.num_rows
        self.rows += data.num_rows

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> int:
        """Finish the table and move it into place; returns the number of rows written here.

        The folder also gets ``_table.json`` (see :func:`table_info`): rows, parts, a fresh
        version id and :attr:`info` (what the stage says it was made from). It is written
        inside the staging folder, so table and description are replaced in one rename and
        can never disagree, whatever happens to the manifest afterwards.
        """
        if self._done:
            return self.rows
        try:
            self._close_part()
            if not any(self.staging_dir.glob("*.parquet")):
                # An empty table still gets one (empty) part so that readers see its schema.
                pq.write_table(self.schema.empty_table(), self.new_part_path(), compression=self.compression)
            parts = sorted(p.name for p in self.staging_dir.glob("*.parquet"))
            rows = sum(pq.ParquetFile(self.staging_dir / p).metadata.num_rows for p in parts)
            description = {"table": self.table or None, "rows": rows, "parts": len(parts),
                           "version": uuid.uuid4().hex,
                           "committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           **self.info}
            (self.staging_dir / TABLE_INFO).write_text(json.dumps(description, indent=2, default=str) + "\n",
                                                       encoding="utf-8")
            replace_path(self.staging_dir, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.rows

    def abort(self) -> None:
        """Discard the staging folder. Never raises: closing a part on a full disk can fail,
        and that must not leave the staging folder behind."""
        try:
            self._close_part()
        except Exception:
            self._writer = None
        _discard(self.staging_dir)
        self._done = True

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_table(path: str | os.PathLike[str], data: pa.Table | Iterable[pa.RecordBatch], table: str | None = None,
                *, schema: pa.Schema | None = None, **kwargs: Any) -> int:
    """Write a whole table (or an iterable of batches) atomically; returns rows written."""
    with TableWriter(path, table, schema=schema, **kwargs) as writer:
        if isinstance(data, (pa.Table, pa.RecordBatch)):
            writer.write(data)
        else:
            for batch in data:
                writer.write(batch)
    return writer.rows


def table_info(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``_table.json`` a :class:`TableWriter` committed with the table (rows, parts,
    version, and what the stage recorded in :attr:`TableWriter.info`), or None for a table
    written before the toolkit kept one."""
    p = Path(path) / TABLE_INFO
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None


def table_version(path: str | os.PathLike[str]) -> str | None:
    """Version id of a committed table folder (new at every commit), or None if unknown."""
    info = table_info(path)
    return info.get("version") if info else None


def table_rows(path: str | os.PathLike[str]) -> int:
    """Rows of a table folder: from its ``_table.json`` when it has one, else the part footers
    (no data is read either way)."""
    info = table_info(path)
    if info and isinstance(info.get("rows"), int):
        return info["rows"]
    return sum(pq.ParquetFile(f).metadata.num_rows for f in table_files(path))


def table_files(path: str | os.PathLike[str]) -> list[Path]:
    """Sorted Parquet part files of a table folder (or the file itself)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(path.glob("*.parquet"))


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """Read a whole (small) table folder into memory. For large tables use DuckDB or
    :func:`iter_batches` instead."""
    files = table_files(path)
    if not files:
        raise FileNotFoundError(f"no Parquet files in {path}")
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])


def iter_batches(path: str | os.PathLike[str], columns: list[str] | None = None,
                 batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
    """Stream a table folder batch by batch (bounded memory)."""
    for f in table_files(path):
        yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)


def parquet_glob(path: str | os.PathLike[str]) -> str:
    """DuckDB ``read_parquet`` pattern for a table folder."""
    return str(Path(path) / "*.parquet")
