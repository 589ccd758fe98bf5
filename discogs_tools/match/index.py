"""Matching indexes over a reference (Discogs tracks or playlist tracks), built once and reused.

An index is three tables under ``tables/match/``:

- ``<source>_track_index``: one row per reference track with its normalised keys and a
  ``recording_id`` (Discogs: ``match/discogs_track_index``; playlists: ``match/playlist_track_index``);
- ``<source>_recordings``: the distinct (artist_key, anv_key, title_key) groups;
- ``<source>_blocks``: blocking keys per recording with the key's frequency.

Keys are computed by :mod:`.keying`: DuckDB flattens the input into track rows, and the
functions of :mod:`.normalize` (the same the collection side uses) key every distinct artist
credit, title and album title once; the grouping, ids and blocking keys are computed in DuckDB
by :mod:`.blocking`, also shared by both sides. A small ``<source>_index.json`` holds a
fingerprint of the input table and the code version: while it matches, the index is reused.
Reference tracks are streamed batch by batch, and above a few million rows the grouping and
blocking run one range of keys at a time (:func:`.blocking.build_index_tables`), so building
needs memory for one batch and one range, not for the reference, and its time grows with the rows. The keyed rows of each input part file are
kept, so after a change to some dump parts only those are keyed again (:func:`build`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

from ..io import atomic_path, iter_batches, table_files, write_json_atomic
from ..manifest import Timer
from ..progress import Progress
from ..workspace import Workspace
from . import blocking, keying, text_reference
from .normalize import album_key, artist_key, credit_string, title_key

INDEX_VERSION = 6
"""Bump when normalisation or blocking changes, so stored indexes are rebuilt."""

KEYING = "vectorised"
"""How input rows are keyed: "vectorised" (:mod:`.keying`) or "rows" (:func:`discogs_track_rows` and
:func:`_keyed`, row by row in Python, ~5x slower; kept as the reference the tests compare with)."""


@dataclass(frozen=True)
class IndexSource:
    """One kind of reference: where its rows come from and which columns identify a row."""

    name: str  # "discogs" | "playlists"
    input_table: str  # e.g. "discogs/releases"
    produced_by: str  # command that makes the input table
    index_table: str  # schema name of the rows table
    id_columns: tuple[str, ...]
    rows: Callable[[Path, int], Iterator[list[dict[str, Any]]]]  # input folder -> batches of row dicts
    flat_sql: Callable[[str], str]  # SQL of the same rows from a read_parquet(...) call
    input_columns: tuple[str, ...]  # the input columns flat_sql reads
    slice_rows: int  # input rows per keying task (see _slices)

    def tables(self, ws: Workspace) -> dict[str, Path]:
        prefix = "playlist" if self.name == "playlists" else self.name
        paths = {
            "rows": ws.table(f"match/{prefix}_track_index"),
            "recordings": ws.table(f"match/{prefix}_recordings"),
            "blocks": ws.table(f"match/{prefix}_blocks"),
            "meta": ws.tables / "match" / f"{prefix}_index.json",
        }
        if self.name == "playlists":  # tracks without an artist, matched as text (:mod:`.text_reference`)
            paths.update(text_rows=ws.table("match/playlist_text_rows"), text_words=ws.table("match/playlist_text_words"))
        return paths


def _credit(artists: list[dict[str, Any]] | None, use_anv: bool) -> str:
    if not artists:
        return ""
    names = [(a.get("anv") or a.get("name")) if use_anv else a.get("name") for a in artists]
    return credit_string(names, [a.get("join") for a in artists])


def discogs_track_rows(release: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Index rows (without keys) of one release: tracks and sub-tracks, headings skipped.

    A track without its own artists takes its parent's (for sub-tracks), else the release's.
    """
    release_artists = release.get("artists") or []

    def emit(track: dict[str, Any], inherited: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        artists = track.get("artists") or inherited
        kind = (track.get("type_") or "track").lower()
        subs = track.get("sub_tracks") or []
        if subs:
            for sub in subs:
                yield from emit(sub, artists)
            return
        if kind != "track" or not (track.get("title") or "").strip():
            return
        canonical = _credit(artists, use_anv=False)
        with_anv = _credit(artists, use_anv=True)
        yield {
            "release_id": release["release_id"],
            "master_id": release.get("master_id"),
            "position": (track.get("position") or "").strip() or None,
            "artist": canonical,
            "artist_anv": with_anv if with_anv != canonical else None,
            "title": track.get("title"),
            "album": release.get("title"),
            "duration_s": track.get("duration_s"),
        }

    for track in release.get("tracklist") or []:
        yield from emit(track, release_artists)


def _discogs_rows(folder: Path, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    columns = ["release_id", "master_id", "title", "artists", "tracklist"]
    for batch in iter_batches(folder, columns=columns, batch_size=batch_size):
        yield [row for release in batch.to_pylist() for row in discogs_track_rows(release)]


def _playlist_rows(folder: Path, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    columns = ["track_key", "track_name", "artist_name", "album_name", "duration_ms"]
    for batch in iter_batches(folder, columns=columns, batch_size=batch_size * 10):
        rows = []
        for r in batch.to_pylist():
            artist, title = keying.split_artist_title(r["artist_name"], r["track_name"])
            rows.append({"track_key": r["track_key"], "artist": artist, "artist_anv": None, "title": title,
                         "album": r["album_name"],
                         "duration_s": (r["duration_ms"] / 1000.0) if r["duration_ms"] is not None else None})
        yield rows


DISCOGS = IndexSource("discogs", "discogs/releases", "discogs-tools ingest discogs", "match/discogs_track_index",
                      ("release_id", "master_id", "position"), _discogs_rows, keying.discogs_flat_sql,
                      ("release_id", "master_id", "title", "artists", "tracklist"), 5_000)
PLAYLISTS = IndexSource("playlists", "playlists/tracks", "discogs-tools ingest playlists",
                        "match/playlist_track_index", ("track_key",), _playlist_rows, keying.playlist_flat_sql,
                        ("track_key", "track_name", "artist_name", "album_name", "duration_ms"), 50_000)
SOURCES = {"discogs": DISCOGS, "playlists": PLAYLISTS}


def _keyed(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Rows with keys (anv_key only when it differs from artist_key); returns (rows, dropped)."""
    out = []
    for row in rows:
        a_key = artist_key(row["artist"])
        t_key = title_key(row["title"])
        anv = row.pop("artist_anv", None)
        if not a_key or not t_key:
            continue
        anv_key = artist_key(anv) if anv else None
        row.update(artist_key=a_key, anv_key=anv_key if anv_key and anv_key != a_key else None,
                   title_key=t_key, album_key=album_key(row.get("album")) or None)
        out.append(row)
    return out, len(rows) - len(out)


def fingerprint(folder: Path) -> dict[str, Any]:
    """What the index was built from: the input's part files (name, size, mtime) and the code version."""
    files = [{"name": f.name, "bytes": f.stat().st_size, "mtime_ns": f.stat().st_mtime_ns} for f in table_files(folder)]
    return {"version": INDEX_VERSION, "input": str(folder), "files": files}


def is_current(source: IndexSource, ws: Workspace) -> bool:
    """True when a stored index exists and was built from the current input table."""
    paths = source.tables(ws)
    if not paths["meta"].exists() or not all(ws.has_table(str(p.relative_to(ws.tables))) for k, p in paths.items()
                                              if k != "meta"):
        return False
    try:
        meta = json.loads(paths["meta"].read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("fingerprint") == fingerprint(ws.table(source.input_table))


def _part_tag(f: Path, slice_rows: int) -> str:
    """What a keyed part was made from: the input part's name, size, mtime, the slicing and the code version."""
    st = f.stat()
    return hashlib.sha1(f"{INDEX_VERSION}:{f.name}:{st.st_size}:{st.st_mtime_ns}:{slice_rows}".encode()
                        ).hexdigest()[:16]


def _slices(part: Path, slice_rows: int) -> list[list[int]]:
    """The row groups of ``part`` in runs of consecutive groups holding at least ``slice_rows`` rows
    (the last run may hold fewer): the keying tasks of one part.

    A build keys its parts in ``workers`` processes; with a few large parts (the 50,000-release
    parts of the benchmark) the last part kept one core idle for seconds, so parts are cut into
    slices of a few seconds each. A part of one row group is one slice.
    """
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(part).metadata
    runs: list[list[int]] = []
    rows = slice_rows
    for g in range(meta.num_row_groups):
        if rows >= slice_rows:
            runs.append([])
            rows = 0
        runs[-1].append(g)
        rows += meta.row_group(g).num_rows
    return runs or [[]]


def _key_part(source_name: str, part: Path, out: Path, batch_size: int, way: str = "vectorised",
              threads: int = 1, row_groups: list[int] | None = None) -> tuple[int, int]:
    """Key the rows of one input part file (or of its ``row_groups``) into ``out`` (one Parquet file,
    written atomically).

    ``way``: see :data:`KEYING` (the row-by-row way keys whole parts); ``threads``: DuckDB's for the
    vectorised way. Returns (rows kept, rows dropped). Runs in a worker process when the build has several.
    """
    import pyarrow.parquet as pq

    source = SOURCES[source_name]
    schema = _staging_schema(source)
    if way == "vectorised":
        table, dropped = keying.key_part(source.flat_sql, source.id_columns, part, schema, threads=threads,
                                         row_groups=row_groups, columns=list(source.input_columns))
        with atomic_path(out) as tmp:
            pq.write_table(table, tmp)
        return table.num_rows, dropped
    kept = dropped_total = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for rows in source.rows(part, batch_size):
            keyed, dropped = _keyed(rows)
            kept += len(keyed)
            dropped_total += dropped
            if keyed:
                writer.write_table(pa.Table.from_pylist(keyed, schema=schema))
    return kept, dropped_total


def _init_key_worker(parent_pid: int) -> None:
    from ..processes import init_worker

    init_worker(parent_pid)


def build(source: IndexSource, ws: Workspace, *, batch_size: int = 2_000, threads: int | None = None,
          memory_limit: str | None = None, workers: int = 1) -> dict[str, Any]:
    """Build (or rebuild) the index of ``source``; returns counts and timing.

    Incremental: the keyed rows of every input part file are kept in ``tables/match/.<source>_keys``
    under a tag of the part's name, size and mtime (and the code version), so a rebuild after a
    change to some dump parts keys only those parts again (the Python half of the build); the
    grouping and blocking in DuckDB run over all keyed parts. With ``workers`` > 1 the parts are
    keyed in that many processes, one slice of a part per task (:func:`_slices`, one file each),
    so that every worker stays busy and memory stays one slice per worker.
    """
    folder = ws.require_table(source.input_table, source.produced_by)
    paths = source.tables(ws)
    stats = {"reference_rows": 0, "dropped_no_artist_or_title": 0, "parts_keyed": 0, "parts_reused": 0}
    with Timer() as timer:
        cache = paths["rows"].parent / f".{paths['rows'].name.replace('_track_index', '')}_keys"
        cache.mkdir(parents=True, exist_ok=True)
        wanted = set()
        todo: list[tuple[Path, Path, list[int] | None]] = []
        slice_rows = source.slice_rows if KEYING == "vectorised" else 0
        for part in table_files(folder):
            tag = _part_tag(part, slice_rows)
            runs: list[list[int] | None] = list(_slices(part, slice_rows)) if slice_rows else [None]
            outs = [cache / f"{part.stem}-{tag}-{i:04d}.parquet" for i in range(len(runs))]
            wanted.update(o.name for o in outs)
            if all(o.exists() for o in outs):
                stats["parts_reused"] += 1
                stats["reference_rows"] += sum(_part_meta(o) for o in outs)
            else:
                stats["parts_keyed"] += 1
                todo += [(part, o, r) for o, r in zip(outs, runs)]
        with Progress(f"index {source.name}") as bar:
            def done(result: tuple[int, int]) -> None:
                stats["reference_rows"] += result[0]
                stats["dropped_no_artist_or_title"] += result[1]
                bar.update(records=stats["reference_rows"])

            if workers > 1 and len(todo) > 1:
                from concurrent.futures import ProcessPoolExecutor

                from ..processes import stop_pool

                pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), initializer=_init_key_worker,
                                           initargs=(os.getpid(),))
                try:
                    for result in pool.map(_key_part, [source.name] * len(todo), [t[0] for t in todo],
                                           [t[1] for t in todo], [batch_size] * len(todo), [KEYING] * len(todo),
                                           [1] * len(todo), [t[2] for t in todo]):
                        done(result)
                except BaseException:
                    stop_pool(pool, interrupted=True)
                    raise
                stop_pool(pool, interrupted=False)
            else:
                for part, out, groups in todo:
                    done(_key_part(source.name, part, out, batch_size, KEYING, threads or min(4, os.cpu_count() or 1),
                                   groups))
        for stale in cache.glob("*.parquet"):
            if stale.name not in wanted:
                stale.unlink()
        keyed_at = time.perf_counter() - timer.start
        counts = blocking.build_index_tables(cache, paths, source.index_table, source.id_columns,
                                             threads=threads, memory_limit=memory_limit)
        if "text_rows" in paths:
            con = blocking.connect(threads, memory_limit, temp_dir=paths["rows"].parent / ".duckdb_tmp")
            try:
                files = [str(f) for f in table_files(folder)]
                counts.update(text_reference.build(con, source.flat_sql(f"read_parquet({files!r})"), paths))
            finally:
                con.close()
    stats.update(counts)
    if "text_rows" in stats:  # kept as text rows, not dropped
        stats["dropped_no_artist_or_title"] = max(0, stats["dropped_no_artist_or_title"] - stats["text_rows"])
    stats["keying_seconds"] = round(keyed_at, 3)
    stats["seconds"] = round(timer.seconds, 3)
    write_json_atomic(paths["meta"], {"fingerprint": fingerprint(folder), "stats": stats})
    return stats


def _part_meta(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _staging_schema(source: IndexSource) -> pa.Schema:
    from ..schemas import load_schema

    full = load_schema(source.index_table)
    return pa.schema([f for f in full if f.name != "recording_id"])


def ensure(source: IndexSource, ws: Workspace, *, rebuild: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Reuse the stored index when current, else build it. Returns {'built': bool, ...stats}."""
    ws.require_table(source.input_table, source.produced_by)
    if not rebuild and is_current(source, ws):
        meta = json.loads(source.tables(ws)["meta"].read_text(encoding="utf-8"))
        return {"built": False, **meta.get("stats", {})}
    return {"built": True, **build(source, ws, **kwargs)}

