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

Values are never coerced silently; per column:

* playlist id, track key, names and keys (string columns) keep the exact source text: CSV
  ``"+12"`` and ``" 12 "`` stay ``+12`` and `` 12 `` (spaces included), a JSON integer ``-5``
  becomes ``-5``. A JSON value without one exact text form (float, true/false, list, object)
  rejects the row (``field 'x' is not a string: ...``);
* position: decimal digits ``0-9`` only (CSV text, a JSON string, or a JSON integer) in
  0..2^31-1; ``+1``, `` 2 ``, ``-5``, ``1_0``, ``2.0``, true or non-ASCII digits reject the row;
* duration: a non-negative finite number (JSON number, or text of digits with an optional
  fraction) in ``duration_unit``, or ``[h:]m:ss[.fff]`` text; anything else (signs, spaces,
  ``inf``, ``nan``, exponents) rejects the row.

Text is decoded strictly with ``encoding`` (default UTF-8; a UTF-8 byte-order mark is skipped):
an undecodable byte is a :class:`~.textio.DecodeError` naming file, line and byte offset (see
:mod:`.textio`). A CSV field may hold up to :data:`CSV_FIELD_LIMIT` characters (Python's default
is 128 KB); a longer one (usually an unterminated quote) makes the file unreadable, reported in
one line with its line number.
"""

from __future__ import annotations

import csv
import math
import re
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
from .textio import DecodeError, decode_error, open_text

__all__ = ["ColumnSpec", "DecodeError", "MissingColumnError", "parse_duration_ms", "read_tabular"]

ROWS_PER_CHUNK = 100_000
DURATION_UNITS = {"ms": 1.0, "s": 1000.0}
_STAGING_SCHEMA = pa.schema([("playlist_seq", pa.int64()), ("pos", pa.int32()), ("row", pa.int64()),
                             ("playlist_id", pa.string()), ("track_key", pa.string())])
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
CSV_FIELD_LIMIT = 64 * 1024 * 1024
_DIGITS = re.compile(r"[0-9]+\Z")
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
_CLOCK = re.compile(r"(?:[0-9]+:)?[0-9]+:[0-9]+(?:\.[0-9]*)?\Z")


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
    """Duration in ms from a non-negative number in ``unit`` or a ``[h:]m:ss[.fff]`` string;
    None when empty. Anything else (signs, spaces, exponents, inf, nan, booleans) is a ValueError."""
    if value is None or value == "":
        return None
    if type(value) is int or type(value) is float:
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"not a duration: {value!r}")
        ms = int(round(number * DURATION_UNITS[unit]))
    elif type(value) is str and _CLOCK.match(value):
        seconds = 0.0
        for part in value.split(":"):
            seconds = seconds * 60 + float(part)
        ms = int(round(seconds * 1000))
    elif type(value) is str and _DECIMAL.match(value):
        ms = int(round(float(value) * DURATION_UNITS[unit]))
    else:
        raise ValueError(f"not a duration: {value!r}")
    if ms > _INT64_MAX:
        raise ValueError(f"duration out of range: {value!r}")
    return ms


def parse_position(value: Any) -> int:
    """Position from decimal digits (text) or a JSON integer, in 0..2^31-1; else ValueError."""
    if type(value) is int:
        pos = value
    elif type(value) is str and _DIGITS.match(value):
        pos = int(value)
    else:
        raise ValueError(f"not a position: {value!r}")
    if not 0 <= pos <= _INT32_MAX:
        raise ValueError(f"position out of range: {value!r}")
    return pos


class _BadValue(Exception):
    """Internal: a value has the wrong JSON type for its column (reason in args[0])."""


def _text(value: Any, column: str | None = None) -> str | None:
    """The exact text of a string column's value (None when empty). A JSON integer has one
    exact text; any other non-string (float, bool, list, object) raises :class:`_BadValue`."""
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise _BadValue(f"field {column!r} is not a string: {value!r:.60}")


class _FileState:
    """Per-file state: playlists seen (in first-appearance order), staging writer, counters."""

    def __init__(self, path: Path, fmt: str, known_ids: dict[str, str], id_prefix: str, staging: Path,
                 unit: str, columns: dict[str, str | None]) -> None:
        self.path = path
        self.columns = columns
        self.name = str(path)
        self.fmt = fmt
        self.known_ids = known_ids
        self.id_prefix = id_prefix
        self.unit = unit
        self.has_position = columns["position"] is not None
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
        columns = self.columns
        try:
            source_id = _text(values.get("playlist"), columns["playlist"])
        except _BadValue as exc:
            self.reject(f"line {line}", exc.args[0], raw)
            return
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
        try:
            if state[1] is None:
                state[1] = _text(values.get("name"), columns["name"])
            key = _text(values.get("track"), columns["track"])
            if key is not None:
                meta = (_text(values.get("title"), columns["title"]), _text(values.get("artist"), columns["artist"]),
                        _text(values.get("artist_key"), columns["artist_key"]),
                        _text(values.get("album"), columns["album"]),
                        _text(values.get("album_key"), columns["album_key"]))
        except _BadValue as exc:
            self.reject(record, exc.args[0], raw)
            return
        if key is None:
            self.reject(record, "track entry without key (empty track column)", raw)
            return
        if self.has_position:
            try:
                pos = parse_position(values.get("position"))
            except ValueError:
                self.reject(record, f"position is not a non-negative integer: {values.get('position')!r:.40}", raw)
                return
        else:
            pos = auto_pos
        try:
            duration = parse_duration_ms(values.get("duration"), self.unit)
        except ValueError:
            self.reject(record, f"duration is not a non-negative number or [h:]m:ss: {values.get('duration')!r:.40}",
                        raw)
            return
        state[3] += 1
        staged = self.staged
        staged["playlist_seq"].append(state[0])
        staged["pos"].append(pos)
        staged["row"].append(row)
        staged["playlist_id"].append(playlist_id)
        staged["track_key"].append(key)
        self.tracks.add(key, (*meta, duration))

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
                 id_prefix: str = "", delimiter: str | None = None, encoding: str = "utf-8") -> Iterator[Chunk]:
    """Stream one CSV/TSV/JSONL file as chunks: tracks and rejects while reading, then the
    entries in output order, then one chunk with the playlists table.

    Raises :class:`~.textio.DecodeError` for a byte that does not decode with ``encoding``,
    :class:`MissingColumnError` for a named column that is absent, :class:`InputError` for an
    unreadable file (empty, no header, malformed CSV such as a field over the limit)."""
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ConfigError(f"read_tabular cannot read format {fmt!r}")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    staging = tmp_dir / f"staging-{path.name}.parquet"
    state: _FileState | None = None
    try:
        if fmt == "jsonl":
            rows = _jsonl_rows(path, spec, encoding)
        else:
            rows = _delimited_rows(path, spec, delimiter or ("," if fmt == "csv" else "\t"), encoding)
        for item in rows:
            if isinstance(item, _Columns):
                state = _FileState(path, fmt, known_ids, id_prefix, staging, spec.duration_unit, item.resolved)
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
            try:
                state.writer.close()
            except Exception:  # already failing (e.g. a full disk): do not mask that error
                pass
        staging.unlink(missing_ok=True)


@dataclass
class _Columns:
    resolved: dict[str, str | None]


@dataclass
class _Rejected:
    line: int | None
    reason: str
    raw: str | None


def _delimited_rows(path: Path, spec: ColumnSpec, delimiter: str, encoding: str = "utf-8") -> Iterator[Any]:
    """Rows of a CSV/TSV file (Python's C csv reader: exact line numbers, quoted newlines)."""
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    line = 0
    try:
        with open_text(path, encoding, newline="") as fh:
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
    except UnicodeDecodeError as exc:
        raise decode_error(path, encoding, exc) from None
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = (f"field larger than {CSV_FIELD_LIMIT:,} characters (the field limit; "
                      "an unterminated quote?)")
        raise InputError(path, f"malformed CSV: {reason}", line=line + 1) from None
    finally:
        csv.field_size_limit(previous_limit)


def _jsonl_rows(path: Path, spec: ColumnSpec, encoding: str = "utf-8") -> Iterator[Any]:
    try:
        yield from _jsonl_lines(path, spec, encoding)
    except UnicodeDecodeError as exc:
        raise decode_error(path, encoding, exc) from None


def _jsonl_lines(path: Path, spec: ColumnSpec, encoding: str) -> Iterator[Any]:
    resolved: dict[str, str | None] | None = None
    with open_text(path, encoding, newline="\n") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if resolved is None:
                    raise InputError(path, f"malformed JSON: {exc}", line=line_no) from None
                yield _Rejected(line_no, f"malformed JSON: {exc}", line[:2000])
                continue
            if not isinstance(obj, dict):
                if resolved is not None:
                    yield _Rejected(line_no, "line is not a JSON object", line[:2000])
                    continue
                raise InputError(path, "line is not a JSON object", line=line_no)
            if resolved is None:
                # Columns are resolved against the first object; later objects may omit optional keys.
                resolved = spec.resolve(list(obj), path)
                yield _Columns(resolved)
                used = [(attr, col) for attr, col in resolved.items() if col is not None]
            yield ({attr: obj.get(col) for attr, col in used}, line[:2000], line_no)


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
