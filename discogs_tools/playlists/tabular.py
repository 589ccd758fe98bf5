"""Read playlists from CSV, TSV or JSON Lines files with configurable column names.

Each row (or JSON line) is one playlist entry: playlist id, track key and optionally position,
title, artist, artist key, album, album key, duration and playlist name. This brings listening
sessions, DJ sets or exports of other services in as playlists.

* Column names come from :class:`ColumnSpec`. Its defaults are the column names of our own
  tables (playlist_id, pos, track_key, track_name, artist_name, ...); an optional column whose
  default name is absent from the file is simply not used, but a column the user named
  explicitly (``required``) must exist.
* Without a position column, ``pos`` is the 0-based order of the playlist's rows in the file
  (rejected rows keep their number, leaving a gap).
* Rows of one playlist need not be contiguous. Entries are staged to a Parquet file and
  sorted out of core with DuckDB (by playlist first appearance, pos, file row), so the output
  follows the table contract (grouped by playlist, sorted by pos) with bounded memory. Rows
  sharing a position in one playlist are all kept (in file order) and counted in a warning.
* A row without playlist id or track key, with a non-integer position or an unreadable
  duration, or a malformed line, is rejected; a playlist id already used by an earlier input
  file rejects all its rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, InputError
from ..schemas import load_schema
from . import duck
from .chunk import Chunk, TrackCollector
from .inputs import open_binary

ROWS_PER_CHUNK = 100_000
DURATION_UNITS = {"ms": 1.0, "s": 1000.0}
_STAGING_SCHEMA = pa.schema([("playlist_seq", pa.int64()), ("pos", pa.int32()), ("row", pa.int64()),
                             ("playlist_id", pa.string()), ("track_key", pa.string())])
_INT32_MAX = 2**31 - 1


class MissingColumnError(InputError):
    """A column named for a field is not in the file: a setup mistake, always fatal (never a
    rejected file), since it would apply to every file of the input."""


@dataclass(frozen=True)
class ColumnSpec:
    """Which input column holds which field. ``None`` disables an optional field;
    ``required`` names the attributes the user set explicitly (they must exist in the file)."""

    playlist: str = "playlist_id"
    track: str = "track_key"
    position: str | None = "pos"
    title: str | None = "track_name"
    artist: str | None = "artist_name"
    artist_key: str | None = "artist_key"
    album: str | None = "album_name"
    album_key: str | None = "album_key"
    duration: str | None = "duration_ms"
    name: str | None = "name"
    duration_unit: str = "ms"
    required: tuple[str, ...] = field(default=())

    FIELDS = ("playlist", "track", "position", "title", "artist", "artist_key", "album", "album_key",
              "duration", "name")

    def __post_init__(self) -> None:
        if not self.playlist or not self.track or self.playlist.lower() == "none" or self.track.lower() == "none":
            raise ConfigError("tabular inputs need a playlist id column and a track key column")
        if self.duration_unit not in DURATION_UNITS:
            raise ConfigError(f"unknown duration unit {self.duration_unit!r}; choose ms or s")

    def resolve(self, available: list[str], path: Path) -> dict[str, str | None]:
        """Attribute -> column present in the file (None when not used)."""
        present = set(available)
        resolved: dict[str, str | None] = {}
        for attr in self.FIELDS:
            column = getattr(self, attr)
            must = attr in ("playlist", "track") or attr in self.required
            if column is None:
                resolved[attr] = None
            elif column in present:
                resolved[attr] = column
            elif must:
                raise MissingColumnError(path, f"no column {column!r} for the {attr} field "
                                       f"(columns: {', '.join(available) or 'none'})")
            else:
                resolved[attr] = None
        return resolved


def parse_duration_ms(value: Any, unit: str) -> int | None:
    """Duration in ms from a number in ``unit`` or a ``[h:]m:ss[.fff]`` string; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return int(round(value * DURATION_UNITS[unit]))
    text = str(value).strip()
    if ":" in text:
        seconds = 0.0
        for part in text.split(":"):
            seconds = seconds * 60 + float(part)
        return int(round(seconds * 1000))
    return int(round(float(text) * DURATION_UNITS[unit]))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if type(value) is str else str(value)


class _FileState:
    """Per-file state: playlists seen (in first-appearance order), staging writer, counters."""

    def __init__(self, path: Path, fmt: str, known_ids: dict[str, str], id_prefix: str, staging: Path,
                 unit: str, has_position: bool) -> None:
        self.path = path
        self.name = str(path)
        self.fmt = fmt
        self.known_ids = known_ids
        self.id_prefix = id_prefix
        self.unit = unit
        self.has_position = has_position
        # playlist_id -> [seq, name, rows, entries]
        self.playlists: dict[str, list[Any]] = {}
        self.rejected_ids: set[str] = set()
        self.tracks = TrackCollector()
        self.chunk = Chunk(file=self.name)
        self.writer = pq.ParquetWriter(staging, _STAGING_SCHEMA)
        self.staged: dict[str, list[Any]] = {n: [] for n in _STAGING_SCHEMA.names}
        self.rows = 0
        self.total_entries = 0
        self.total_rejected_entries = 0

    def reject(self, record: str, reason: str, raw: Any, *, entry: bool = True) -> None:
        if not (isinstance(raw, str) or raw is None):
            raw = orjson.dumps(raw, default=str).decode("utf-8", "replace")
        self.chunk.rejects.append({"file": self.name, "record": record, "reason": reason, "raw": raw})
        if entry:
            self.chunk.entries_rejected += 1

    def add_row(self, values: dict[str, Any], raw: Any, line: int) -> None:
        if raw is None:
            raw = values
        self.rows += 1
        row = self.rows
        self.chunk.entries_read += 1
        source_id = _text(values.get("playlist"))
        if source_id is None:
            self.reject(f"line {line}", "row without playlist id", raw)
            return
        playlist_id = self.id_prefix + source_id
        record = f"line {line} (playlist {source_id})"
        if playlist_id in self.rejected_ids:
            self.reject(record, "row of a rejected duplicate playlist", raw)
            return
        state = self.playlists.get(playlist_id)
        if state is None:
            if playlist_id in self.known_ids:
                self.rejected_ids.add(playlist_id)
                self.chunk.playlists_rejected += 1
                self.reject(record, f"duplicate playlist id {playlist_id!r} (already in {self.known_ids[playlist_id]})", raw)
                return
            state = self.playlists[playlist_id] = [len(self.playlists), None, 0, 0]
        auto_pos = state[2]
        state[2] += 1
        if state[1] is None:
            state[1] = _text(values.get("name"))
        key = _text(values.get("track"))
        if key is None:
            self.reject(record, "track entry without key (empty track column)", raw)
            return
        if self.has_position:
            try:
                pos = int(values.get("position"))
                if not 0 <= pos <= _INT32_MAX:
                    raise ValueError
            except (TypeError, ValueError):
                self.reject(record, f"position is not a non-negative integer: {values.get('position')!r:.40}", raw)
                return
        else:
            pos = auto_pos
        try:
            duration = parse_duration_ms(values.get("duration"), self.unit)
        except ValueError:
            self.reject(record, f"duration is not a number or [h:]m:ss: {values.get('duration')!r:.40}", raw)
            return
        state[3] += 1
        staged = self.staged
        staged["playlist_seq"].append(state[0])
        staged["pos"].append(pos)
        staged["row"].append(row)
        staged["playlist_id"].append(playlist_id)
        staged["track_key"].append(key)
        self.tracks.add(key, (_text(values.get("title")), _text(values.get("artist")),
                              _text(values.get("artist_key")), _text(values.get("album")),
                              _text(values.get("album_key")), duration))

    def flush(self) -> Chunk:
        """Stage the pending entries and hand back the chunk of new tracks and rejects."""
        if self.staged["row"]:
            self.writer.write_table(pa.Table.from_pydict(self.staged, schema=_STAGING_SCHEMA))
            for values in self.staged.values():
                values.clear()
        chunk = self.chunk
        chunk.tracks, chunk.track_hashes = self.tracks.table()
        chunk.variants = list(self.tracks.variants)
        self.tracks.clear()
        self.chunk = Chunk(file=self.name)
        return chunk


def read_tabular(path: Path, fmt: str, spec: ColumnSpec, *, known_ids: dict[str, str], tmp_dir: Path,
                 id_prefix: str = "", delimiter: str | None = None) -> Iterator[Chunk]:
    """Stream one CSV/TSV/JSONL file as chunks: tracks and rejects while reading, then the
    entries in output order, then one chunk with the playlists table."""
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ConfigError(f"read_tabular cannot read format {fmt!r}")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    staging = tmp_dir / f"staging-{path.name}.parquet"
    state: _FileState | None = None
    try:
        if fmt == "jsonl":
            rows = _jsonl_rows(path, spec)
        else:
            rows = _delimited_rows(path, spec, delimiter or ("," if fmt == "csv" else "\t"))
        for item in rows:
            if isinstance(item, _Columns):
                state = _FileState(path, fmt, known_ids, id_prefix, staging, spec.duration_unit,
                                   item.resolved["position"] is not None)
                continue
            assert state is not None
            if isinstance(item, _Rejected):
                state.rows += 1
                state.chunk.entries_read += 1
                state.reject(f"line {item.line}", item.reason, item.raw)
            else:
                state.add_row(*item)
            if len(state.staged["row"]) >= ROWS_PER_CHUNK or len(state.chunk.rejects) >= ROWS_PER_CHUNK:
                yield state.flush()
        if state is None:
            raise InputError(path, "empty file (no header)")
        yield state.flush()
        state.writer.close()
        yield from _sorted_entries(state, staging, tmp_dir)
        yield _playlists_chunk(state)
    finally:
        if state is not None:
            state.writer.close()
        staging.unlink(missing_ok=True)


@dataclass
class _Columns:
    resolved: dict[str, str | None]


@dataclass
class _Rejected:
    line: int | None
    reason: str
    raw: str | None


def _delimited_rows(path: Path, spec: ColumnSpec, delimiter: str) -> Iterator[Any]:
    """Rows of a CSV/TSV file (Python's C csv reader: exact line numbers, quoted newlines)."""
    with io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise InputError(path, "empty file (no header)")
        resolved = spec.resolve(header, path)
        yield _Columns(resolved)
        used = [(attr, header.index(col)) for attr, col in resolved.items() if col is not None]
        width = len(header)
        line = reader.line_num
        for row in reader:
            start_line, line = line + 1, reader.line_num
            if len(row) != width:
                if not row:
                    continue
                yield _Rejected(start_line, f"malformed row: expected {width} fields, got {len(row)}",
                                delimiter.join(row)[:2000])
                continue
            yield ({attr: row[i] for attr, i in used}, None, start_line)


def _jsonl_rows(path: Path, spec: ColumnSpec) -> Iterator[Any]:
    resolved: dict[str, str | None] | None = None
    with open_binary(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if resolved is None:
                    raise InputError(path, f"malformed JSON: {exc}", line=line_no) from None
                yield _Rejected(line_no, f"malformed JSON: {exc}", line.decode("utf-8", "replace")[:2000])
                continue
            if not isinstance(obj, dict):
                if resolved is not None:
                    yield _Rejected(line_no, "line is not a JSON object", line.decode("utf-8", "replace")[:2000])
                    continue
                raise InputError(path, "line is not a JSON object", line=line_no)
            if resolved is None:
                # Columns are resolved against the first object; later objects may omit optional keys.
                resolved = spec.resolve(list(obj), path)
                yield _Columns(resolved)
                used = [(attr, col) for attr, col in resolved.items() if col is not None]
            yield ({attr: obj.get(col) for attr, col in used}, line.decode("utf-8", "replace")[:2000], line_no)


def _sorted_entries(state: _FileState, staging: Path, tmp_dir: Path) -> Iterator[Chunk]:
    """Entries of the file ordered by playlist first appearance, pos and file row (out of core)."""
    con = duck.connect(tmp_dir / "duckdb")
    try:
        src = f"read_parquet('{staging.as_posix()}')"
        if state.has_position:
            dup_count, example = duck.fetch_one(
                con, f"SELECT count(*) - count(DISTINCT (playlist_seq, pos)), "
                     f"(SELECT playlist_id || ' pos ' || pos FROM {src} GROUP BY ALL HAVING count(*) > 1 "
                     f" ORDER BY min(row) LIMIT 1) FROM {src}")
            if dup_count:
                chunk = Chunk(file=state.name)
                chunk.warnings.append(f"{state.path.name}: {dup_count} entries share a position with an "
                                      f"earlier entry of the same playlist (first: playlist {example}); "
                                      "all are kept, in file order")
                chunk.source_info = {"duplicate_positions": int(dup_count)}
                yield chunk
        reader = duck.arrow_batches(con, f"SELECT playlist_id, pos, track_key FROM {src} "
                                         "ORDER BY playlist_seq, pos, row", ROWS_PER_CHUNK)
        schema = load_schema("playlists/playlist_tracks")
        for batch in reader:
            yield Chunk(file=state.name, entries=pa.Table.from_batches([batch]).cast(schema))
    finally:
        con.close()


def _playlists_chunk(state: _FileState) -> Chunk:
    schema = load_schema("playlists/playlists")
    n = len(state.playlists)
    ids = list(state.playlists)
    values = list(state.playlists.values())
    none = [None] * n
    columns = {f.name: none for f in schema}
    columns.update({
        "playlist_id": ids,
        "name": [v[1] for v in values],
        "num_tracks": [v[2] for v in values],
        "num_entries": [v[3] for v in values],
        "source_format": [state.fmt] * n,
        "source_file": [state.path.name] * n,
    })
    chunk = Chunk(file=state.name, playlists=pa.Table.from_pydict(columns, schema=schema))
    chunk.playlists_read = n + len(state.rejected_ids)
    return chunk
