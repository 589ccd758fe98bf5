"""The unit readers hand to the ingest stage: a block of playlists, entries and first-seen tracks.

A reader (MPD slice parser, tabular reader) produces :class:`Chunk` objects in output order. A
chunk is self-contained and picklable (Arrow tables plus plain lists), so MPD slices can be parsed
in worker processes. Deduplication *inside* a chunk is done by the reader
(:class:`TrackCollector`); deduplication *across* chunks is done by the ingest stage.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..schemas import load_schema

TrackMeta = tuple  # (track_name, artist_name, artist_key, album_name, album_key, duration_ms)
TRACK_META_FIELDS = ("track_name", "artist_name", "artist_key", "album_name", "album_key", "duration_ms")


def meta_hash(meta: TrackMeta) -> int:
    """Stable 64-bit fingerprint of a track's metadata (same value in every process and run;
    Python's ``hash`` is salted per process, so it cannot be compared across workers)."""
    text = repr(meta).encode("utf-8", "surrogatepass")
    return (zlib.crc32(text) << 32) | zlib.adler32(text)


class TrackCollector:
    """First-seen metadata per track key within one chunk, plus the conflicting variants.

    ``add(key, meta)`` is called once per entry; the first metadata seen for a key is kept.
    A later, different metadata tuple for the same key is remembered once as a *variant*, so
    the ingest stage can count conflicts against the globally first-seen metadata.
    """

    __slots__ = ("first", "variants", "_variant_seen")

    def __init__(self) -> None:
        self.first: dict[str, TrackMeta] = {}
        self.variants: list[tuple[str, int, TrackMeta]] = []
        self._variant_seen: set[tuple[str, TrackMeta]] = set()

    def add(self, key: str, meta: TrackMeta) -> None:
        prev = self.first.get(key)
        if prev is None:
            self.first[key] = meta
        elif prev != meta and (key, meta) not in self._variant_seen:
            self._variant_seen.add((key, meta))
            self.variants.append((key, meta_hash(meta), meta))

    def table(self) -> tuple[pa.Table, list[int]]:
        """Tracks table (schema playlists/tracks) of the first-seen keys, and their fingerprints."""
        keys = list(self.first)
        metas = list(self.first.values())
        columns: dict[str, list[Any]] = {"track_key": keys}
        for i, name in enumerate(TRACK_META_FIELDS):
            columns[name] = [m[i] for m in metas]
        schema = load_schema("playlists/tracks")
        try:
            table = pa.Table.from_pydict(columns, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # A name given as a number (rare, hand-made inputs): keep it as text.
            for name in TRACK_META_FIELDS[:-1]:
                columns[name] = [v if v is None or type(v) is str else str(v) for v in columns[name]]
            table = pa.Table.from_pydict(columns, schema=schema)
        return table, [meta_hash(m) for m in metas]

    def clear(self) -> None:
        self.first.clear()
        self.variants.clear()
        self._variant_seen.clear()


@dataclass
class Chunk:
    """Output of a reader for one block of input (one MPD slice, or a batch of tabular rows).

    ``playlists``/``entries``/``tracks`` follow the schemas playlists/playlists,
    playlists/playlist_tracks and playlists/tracks (any of them may be None). ``track_hashes``
    is parallel to ``tracks``. ``rejects`` are dicts for :class:`~discogs_tools.errors.RejectsWriter`
    (file, record, offset, reason, raw). ``error`` is set when the whole file is unusable
    (malformed JSON, empty file, ...); the chunk then carries nothing else.
    """

    file: str
    playlists: pa.Table | None = None
    entries: pa.Table | None = None
    tracks: pa.Table | None = None
    track_hashes: list[int] = field(default_factory=list)
    variants: list[tuple[str, int, TrackMeta]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    playlists_read: int = 0
    entries_read: int = 0
    playlists_rejected: int = 0
    entries_rejected: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    input_info: dict[str, Any] | None = None
    source_info: dict[str, Any] | None = None
