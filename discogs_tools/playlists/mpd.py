"""Parse one Spotify Million Playlist Dataset slice (``mpd.slice.*.json``) or challenge set file.

A slice is ``{"info": {...}, "playlists": [...]}``; each playlist has pid, name, description
(optional), collaborative ("true"/"false"), modified_at, num_tracks, num_albums, num_followers,
num_edits, duration_ms, num_artists and tracks (pos, track_uri, track_name, artist_uri,
artist_name, album_uri, album_name, duration_ms). The challenge set (``challenge_set.json``)
uses the same layout with optional name, num_samples / num_holdouts and possibly no tracks.

:func:`parse_slice` reads a whole slice (one slice is ~33 MB, so this is bounded) and returns
a :class:`~.chunk.Chunk`. It runs in worker processes, so it never raises for bad input:
file-level problems come back as ``Chunk.error``, record-level problems as rejects.

Rules: a playlist without a valid pid or tracks list, with a wrongly typed field, or whose id
is a duplicate is rejected with all its entries; a track entry without track_uri, without an
integer pos, or with a repeated pos is rejected alone (its pos stays a gap).

Types are checked, never coerced into another text: ``pid`` is a JSON integer in 0..2^63-1
(``"+12"``, ``12.5`` or ``-5`` reject the playlist); ``pos`` a JSON integer in 0..2^31-1 (``-1``
rejects the entry); the track's names and uris (track_name, artist_name, artist_uri,
album_name, album_uri) are JSON strings, a JSON integer being kept as its decimal text; a list,
object, boolean or float there (``track_name: ["a"]``) rejects the entry instead of being
stored as ``"['a']"``. Integer playlist fields (num_tracks, ...) must fit int64.
"""

from __future__ import annotations

import gzip
import hashlib
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from ..schemas import load_schema
from .chunk import Chunk, TrackCollector

RAW_LIMIT = 2000
_INT32_MAX = 2**31 - 1
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1

# Playlist fields: source name -> (output column, kind). pid, tracks, name, description,
# collaborative and modified_at are handled explicitly.
_INT_FIELDS = ("num_tracks", "num_albums", "num_artists", "num_followers", "num_edits",
               "duration_ms", "num_samples", "num_holdouts")


# Entry fields in the order used below: key, pos, then the track metadata tuple.
_ENTRY_NAMES = ("track_uri", "pos", "track_name", "artist_name", "artist_uri", "album_name", "album_uri",
                "duration_ms")
_ENTRY_FIELDS = itemgetter(*_ENTRY_NAMES)


def _entry_values(entry: Any) -> tuple:
    """Entry fields with None for missing ones (the careful path of the hot loop)."""
    if type(entry) is not dict:
        return (None,) * len(_ENTRY_NAMES)
    return tuple(entry.get(name) for name in _ENTRY_NAMES)


def _entry_problem(entry: Any, key: Any, pos: Any, seen_pos: set[int]) -> str:
    """Why an entry is rejected (only called for bad entries)."""
    if type(entry) is not dict:
        return "track entry is not a JSON object"
    if type(key) is not str or not key:
        return "track entry without key (track_uri missing or empty)"
    if pos is None:
        return "track entry without integer pos"
    if type(pos) is not int:
        return f"track pos is not an integer: {pos!r:.40}"
    if not 0 <= pos <= _INT32_MAX:
        return f"track pos is not an integer in 0..{_INT32_MAX}: {pos!r:.40}"
    if pos in seen_pos:
        return f"duplicate track pos {pos}"
    return f"track duration_ms is not an integer: {entry.get('duration_ms')!r:.40}"


_META_NAMES = _ENTRY_NAMES[2:]


def _meta_problem(meta: tuple) -> str | None:
    """Why a track's metadata (names, uris, duration_ms) cannot be stored, or None. Only called
    for metadata not seen before for the key, so the hot loop pays nothing for repeats."""
    for name, value in zip(_META_NAMES[:-1], meta):
        if value is not None and type(value) is not str and type(value) is not int:
            return f"track field {name!r} is not a string: {value!r:.60}"
    duration = meta[-1]
    if duration is not None and not _INT64_MIN <= duration <= _INT64_MAX:
        return f"track duration_ms out of range: {duration!r:.40}"
    return None


class _BadRecord(Exception):
    """Internal: one playlist/entry field is invalid (reason in args[0])."""


def _int_field(obj: dict, name: str) -> int | None:
    value = obj.get(name)
    if type(value) is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _BadRecord(f"field {name!r} is out of range: {value!r:.60}")
        return value
    if value is None:
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    raise _BadRecord(f"field {name!r} is not an integer: {value!r:.60}")


def _str_field(obj: dict, name: str) -> str | None:
    value = obj.get(name)
    if value is None or type(value) is str:
        return value
    if type(value) is int:  # one exact text; a float's would not be the source text
        return str(value)
    raise _BadRecord(f"field {name!r} is not a string: {value!r:.60}")


def _bool_field(obj: dict, name: str) -> bool | None:
    value = obj.get(name)
    if value is None or type(value) is bool:
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise _BadRecord(f"field {name!r} is not \"true\" or \"false\": {value!r:.60}")


def _raw(obj: Any) -> str:
    text = orjson.dumps(obj).decode("utf-8", "replace")
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "..."


def parse_slice(path: str | Path, *, id_prefix: str = "",
                exclude_ids: dict[str, str] | None = None) -> Chunk:
    """Parse one MPD slice into a chunk (see module docstring for the rules).

    ``exclude_ids`` maps playlist ids already taken (by earlier files) to the file that took
    them; such playlists are rejected as duplicates.
    """
    path = Path(path)
    name = str(path)
    chunk = Chunk(file=name)
    try:
        data = path.read_bytes()
        chunk.input_info = {"path": str(path.resolve()), "bytes": len(data),
                            "checksum": "sha256:" + hashlib.sha256(data).hexdigest()}
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        chunk.error = f"cannot read file: {exc}"
        return chunk
    if not data.strip():
        chunk.error = "empty file"
        return chunk
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        chunk.error = f"malformed JSON: {exc}"
        return chunk
    del data
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        chunk.error = "not an MPD slice: expected a JSON object with a 'playlists' list"
        return chunk
    info = doc.get("info")
    chunk.source_info = info if isinstance(info, dict) else {
        k: v for k, v in doc.items() if k != "playlists" and not isinstance(v, (list, dict))} or None

    exclude = exclude_ids or {}
    columns: dict[str, list[Any]] = {f.name: [] for f in load_schema("playlists/playlists")}
    entry_ids: list[str] = []
    entry_pos: list[int] = []
    entry_keys: list[str] = []
    tracks = TrackCollector()
    track_meta = tracks.first
    first_meta = track_meta.get
    get_fields = _ENTRY_FIELDS
    max_pos = _INT32_MAX
    local_ids: set[str] = set()
    rejects = chunk.rejects
    file_name = path.name

    for index, playlist in enumerate(doc["playlists"]):
        chunk.playlists_read += 1
        record = f"playlists[{index}]"
        raw_tracks = playlist.get("tracks") if isinstance(playlist, dict) else None
        n_entries = len(raw_tracks) if isinstance(raw_tracks, list) else 0
        chunk.entries_read += n_entries
        try:
            if not isinstance(playlist, dict):
                raise _BadRecord("playlist is not a JSON object")
            pid = playlist.get("pid")
            if pid is None:
                raise _BadRecord("missing field 'pid'")
            if type(pid) is not int:
                raise _BadRecord(f"field 'pid' is not an integer: {pid!r:.60}")
            if not 0 <= pid <= _INT64_MAX:
                raise _BadRecord(f"field 'pid' is not a non-negative integer: {pid!r:.60}")
            record = f"playlist {pid}"
            playlist_id = f"{id_prefix}{pid}"
            if playlist_id in local_ids:
                raise _BadRecord(f"duplicate playlist id {playlist_id!r} (already earlier in this file)")
            if playlist_id in exclude:
                raise _BadRecord(f"duplicate playlist id {playlist_id!r} (already in {exclude[playlist_id]})")
            if "tracks" not in playlist:
                raise _BadRecord("missing field 'tracks'")
            if not isinstance(raw_tracks, list):
                raise _BadRecord("field 'tracks' is not a list")
            values = {
                "name": _str_field(playlist, "name"),
                "description": _str_field(playlist, "description"),
                "collaborative": _bool_field(playlist, "collaborative"),
                "modified_at": _int_field(playlist, "modified_at"),
            }
            for field_name in _INT_FIELDS:
                values[field_name] = _int_field(playlist, field_name)
        except _BadRecord as exc:
            chunk.playlists_rejected += 1
            chunk.entries_rejected += n_entries
            rejects.append({"file": name, "record": record, "reason": exc.args[0], "raw": _raw(playlist)})
            continue

        # Entries: the hot loop (66M iterations on the full MPD), kept lean: one C call fetches
        # all fields of a well-formed entry; anything unusual takes the careful path.
        n_before = len(entry_keys)
        last_pos = -1
        in_order = True
        seen_pos: set[int] = set()
        for j, t in enumerate(raw_tracks):
            try:
                fields = get_fields(t)
            except (KeyError, TypeError):
                fields = _entry_values(t)
            key = fields[0]
            pos = fields[1]
            if type(key) is not str or not key or type(pos) is not int or not 0 <= pos <= max_pos or \
                    pos in seen_pos or (fields[7] is not None and type(fields[7]) is not int):
                chunk.entries_rejected += 1
                rejects.append({"file": name, "record": f"playlist {pid} tracks[{j}]",
                                "reason": _entry_problem(t, key, pos, seen_pos), "raw": _raw(t)})
                continue
            meta = fields[2:]
            previous = first_meta(key)
            if previous != meta:
                # New key or a differing variant: check the metadata's types once.
                problem = _meta_problem(meta)
                if problem is not None:
                    chunk.entries_rejected += 1
                    rejects.append({"file": name, "record": f"playlist {pid} tracks[{j}]", "reason": problem,
                                    "raw": _raw(t)})
                    continue
                if previous is None:
                    track_meta[key] = meta
                else:
                    tracks.add(key, meta)
            seen_pos.add(pos)
            if pos < last_pos:
                in_order = False
            last_pos = pos
            entry_pos.append(pos)
            entry_keys.append(key)
        n_kept = len(entry_keys) - n_before
        if not in_order:
            ordered = sorted(zip(entry_pos[n_before:], entry_keys[n_before:]))
            entry_pos[n_before:] = [p for p, _ in ordered]
            entry_keys[n_before:] = [k for _, k in ordered]
        entry_ids.extend([playlist_id] * n_kept)

        local_ids.add(playlist_id)
        columns["playlist_id"].append(playlist_id)
        for field_name, value in values.items():
            columns[field_name].append(value)
        columns["num_entries"].append(n_kept)
        columns["pid"].append(pid)
        columns["source_format"].append("mpd")
        columns["source_file"].append(file_name)

    chunk.playlists = pa.Table.from_pydict(columns, schema=load_schema("playlists/playlists"))
    chunk.entries = pa.Table.from_pydict(
        {"playlist_id": entry_ids, "pos": entry_pos, "track_key": entry_keys},
        schema=load_schema("playlists/playlist_tracks"))
    chunk.tracks, chunk.track_hashes = tracks.table()
    chunk.variants = tracks.variants
    return chunk
