"""Read a collection manifest (CSV or Parquet) row by row, bounded memory.

A manifest lists tracks instead of audio files: columns ``artist`` and ``title`` and one of
``track_id`` / ``path`` are required (an empty title or artist is taken from the path when it
reads ``Artist - Title.ext`` or ``Artist/Album/NN - Title.ext``, :mod:`.filename`; a row with a
title but no artist is kept for matching's mixed-up-field fallback); ``album``, ``album_artist``, ``track_number``,
``disc_number``, ``year``, ``duration_s`` (or ``duration_ms``), ``isrc``, ``barcode``,
``catalog_number``, ``discogs_release_id`` and ``discogs_master_id`` are used when present;
any other column is kept in ``tags``.

CSV as spreadsheets write it: a UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped, a
UTF-16 file (Excel's "Unicode text") is a one-line error asking for UTF-8, and fields up to
:data:`MAX_FIELD_BYTES` are read (the csv module's default limit is 128 KB).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError
from .filename import fill_from_path
from .tags import discogs_id, leading_int

REQUIRED = ("artist", "title")
ID_COLUMNS = ("track_id", "path")
TEXT_FIELDS = ("artist", "title", "album", "album_artist", "isrc", "barcode", "catalog_number")
INT_FIELDS = ("track_number", "disc_number", "year")
ID_FIELDS = ("discogs_release_id", "discogs_master_id")
KNOWN = set(TEXT_FIELDS) | set(INT_FIELDS) | set(ID_FIELDS) | {"track_id", "path", "duration_s", "duration_ms"}


MAX_FIELD_BYTES = 64 * 1024 * 1024
"""Largest CSV field read (a notes or lyrics column can exceed the csv module's 128 KB default)."""

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class BadManifestRow(Exception):
    """One manifest row cannot be used (the message says why); it goes to the rejects file."""


def check_columns(path: Path, columns: list[str]) -> None:
    """Raise :class:`InputError` naming the missing required columns."""
    missing = [c for c in REQUIRED if c not in columns]
    if not any(c in columns for c in ID_COLUMNS):
        missing.append("track_id or path")
    if missing:
        raise InputError(path, f"manifest lacks required column(s): {', '.join(missing)} "
                               f"(has: {', '.join(columns) or 'none'})")


def iter_manifest(path: str | Path, batch_size: int = 10_000) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row number, raw row dict)``; row numbers count from 1 (CSV: the header is line 1)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq") or path.is_dir():
        import pyarrow.parquet as pq

        from ..io import table_files

        files = table_files(path)
        if not files:
            raise InputError(path, "no Parquet files in manifest folder")
        number = 0
        for f in files:
            pf = pq.ParquetFile(f)
            check_columns(path, pf.schema_arrow.names)
            for batch in pf.iter_batches(batch_size=batch_size):
                for row in batch.to_pylist():
                    number += 1
                    yield number, row
        return
    if suffix not in (".csv", ".tsv", ".txt"):
        raise InputError(path, "manifest must be a .csv/.tsv or .parquet file (or a folder of Parquet parts)")
    if csv.field_size_limit() < MAX_FIELD_BYTES:
        csv.field_size_limit(MAX_FIELD_BYTES)  # process-wide, only ever raised
    with open(path, "rb") as raw:
        if raw.read(2) in _UTF16_BOMS:
            raise InputError(path, "manifest is UTF-16 (a spreadsheet's \"Unicode text\"); "
                                   "re-save it as CSV UTF-8")
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        delimiter = "\t" if suffix == ".tsv" else ","
        reader = csv.DictReader(text, delimiter=delimiter)
        try:
            columns = reader.fieldnames or []
            check_columns(path, [c.strip() for c in columns])
            for row in reader:
                yield reader.line_num, {(k or "").strip(): v for k, v in row.items()}
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start} of a read block); "
                                   "re-save the manifest as UTF-8", line=reader.line_num + 1) from None
        except csv.Error as exc:
            # line_num counts the lines of the records read so far: the bad record starts after them.
            raise InputError(path, f"malformed CSV in the record starting at line {reader.line_num + 1}: {exc}"
                             ) from None


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def manifest_row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """Fields of a collection/tracks row from one manifest row (raises :class:`BadManifestRow`)."""
    out: dict[str, Any] = {name: _clean_text(row.get(name)) for name in TEXT_FIELDS}
    path = _clean_text(row.get("path"))
    guessed = {name: out.get(name) for name in ("artist", "title", "album")}
    if path and not (out["artist"] and out["title"]):
        guessed["track_number"] = None
        fill_from_path(guessed, path)
    if not out["title"] and not guessed["title"]:
        raise BadManifestRow("title is empty" + (" and the path gives none" if path else ""))
    # A row without an artist is kept: its title may hold the whole record (artist, title,
    # album, duration...), which matching reads as one text (the mixed-up-field fallback).
    from_path = [n for n in ("artist", "title", "album") if not out[n] and guessed.get(n)]
    for name in from_path:
        out[name] = guessed[name]
    for name in INT_FIELDS:
        text = _clean_text(row.get(name))
        out[name] = leading_int(text) if text else None
        if text and out[name] is None:
            raise BadManifestRow(f"{name} {text!r} is not a number")
    for name in ID_FIELDS:
        text = _clean_text(row.get(name))
        out[name] = discogs_id(text) if text else None
        if text and out[name] is None:
            raise BadManifestRow(f"{name} {text!r} is not a Discogs id")
    duration = None
    for name, scale in (("duration_s", 1.0), ("duration_ms", 0.001)):
        text = _clean_text(row.get(name))
        if text is None:
            continue
        try:
            duration = float(text) * scale
        except ValueError:
            raise BadManifestRow(f"{name} {text!r} is not a number") from None
        if not math.isfinite(duration) or duration < 0:
            raise BadManifestRow(f"{name} {text!r} is not a non-negative duration")
        break
    out["duration_s"] = duration
    out["format"] = out["sample_rate"] = out["channels"] = None
    if out["track_number"] is None and from_path and guessed.get("track_number") is not None:
        out["track_number"] = guessed["track_number"]
    out["tags"] = [{"key": str(k), "value": str(v)} for k, v in row.items()
                   if k not in KNOWN and k and _clean_text(v) is not None]
    if from_path:
        out["tags"].append({"key": "discogs_tools:from_path", "value": ",".join(from_path)})
    return out
