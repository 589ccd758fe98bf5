"""``ingest playlists``: playlist datasets -> tables playlists/{playlists, playlist_tracks, tracks}.

Inputs are MPD slices (parsed in parallel worker processes, one slice per task, results
consumed in file order) and CSV/TSV/JSONL files (streamed in the main process). Everything
flows through :class:`TableSink`, which writes the three tables with bounded memory:

* playlist ids must be unique over all inputs: a later duplicate is rejected (for MPD slices
  the slice is re-parsed with the taken ids excluded, so entries and tracks stay consistent);
* ``tracks`` gets one row per track key, the first seen; a dict key -> metadata fingerprint
  (a few hundred MB at MPD size: 2.26M keys) detects later conflicting metadata, which is
  counted (``track_metadata_conflicts``: distinct dropped variants) and not written;
* bad records are written to ``rejects/playlists/ingest.jsonl`` and counted, so that
  ``playlists_read = playlists + playlists_rejected`` and
  ``entries_read = entries + entries_rejected``; with ``strict`` the first one is an error.
  A whole unusable file (malformed JSON, empty, wrong layout) is rejected as a file.
* when nothing usable was read at all (no playlist over all inputs: every file rejected,
  empty, header-only, or every entry rejected) the run fails with
  :class:`~discogs_tools.errors.NothingUsableError` naming each file and its reject count, and the previous
  tables (and the rejects file describing them) stay as they were: an empty table never
  replaces a good one. That run's rejects go to ``rejects/playlists/ingest.failed.jsonl``
  (removed by the next successful run).

Rerunning replaces the tables as a whole (atomic TableWriter), giving identical output. The
run holds the output lock of the stage (a concurrent ingest fails at once, naming the holder),
and its scratch folder ``.ingest-playlists.tmp-<pid>-*`` is removed by the next run if a kill
left it behind.
"""

from __future__ import annotations

import codecs
import hashlib
from collections import Counter
from dataclasses import asdict
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator

from .. import manifest
from ..cores import available_cores
from ..errors import ConfigError, InputError, NothingUsableError, RejectsWriter
from ..io import TableWriter, table_rows
from ..locks import output_lock
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from .chunk import TRACK_META_FIELDS, Chunk
from .inputs import InputFile, discover
from .mpd import parse_slice
from .parallel import ordered_map
from .scratch import scratch_dir
from .stats import PlaylistStats
from .tabular import ColumnSpec, DecodeError, MissingColumnError, read_tabular

STAGE = "ingest playlists"
TABLES = ("playlists", "playlist_tracks", "tracks")
MAX_CONFLICT_EXAMPLES = 10


class TableSink:
    """Writes chunks into the three playlist tables, deduplicating across chunks."""

    def __init__(self, ws: Workspace, rejects: RejectsWriter, *, strict: bool = False) -> None:
        self.rejects = rejects
        self.strict = strict
        self.writers = {name: TableWriter(ws.table(f"playlists/{name}"), f"playlists/{name}") for name in TABLES}
        self.playlist_files: dict[str, str] = {}
        self.track_hashes: dict[str, int] = {}
        self.conflicts: set[tuple[str, int]] = set()
        self.conflict_examples: list[dict[str, Any]] = []
        self.stats = PlaylistStats()
        self.counts: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.source_info: list[dict[str, Any]] = []
        # file -> {"playlists": written, "rejects": records rejected, "first": first reason, "error": file reason}
        self.per_file: dict[str, dict[str, Any]] = {}

    def _file(self, file: str) -> dict[str, Any]:
        entry = self.per_file.get(file)
        if entry is None:
            entry = self.per_file[file] = {"playlists": 0, "rejects": 0, "first": None, "error": None}
        return entry

    def duplicates(self, playlist_ids: list[str]) -> dict[str, str]:
        """Ids among ``playlist_ids`` already written, mapped to the file that has them."""
        files = self.playlist_files
        return {pid: files[pid] for pid in playlist_ids if pid in files}

    def reject_file(self, file: str, reason: str) -> None:
        if self.strict:
            raise InputError(file, reason)
        self.rejects.add(file=file, record=None, reason=f"file rejected: {reason}")
        self._file(file)["error"] = reason
        self.counts["files_rejected"] += 1
        self.warnings.append(f"{file}: file rejected: {reason}")

    def add(self, chunk: Chunk) -> None:
        if chunk.error is not None:
            self.reject_file(chunk.file, chunk.error)
            return
        if chunk.rejects and self.strict:
            first = chunk.rejects[0]
            raise InputError(first["file"], first["reason"], record=first["record"])
        per_file = self._file(chunk.file)
        for reject in chunk.rejects:
            self.rejects.add(**reject)
        if chunk.rejects:
            per_file["rejects"] += len(chunk.rejects)
            if per_file["first"] is None:
                first = chunk.rejects[0]
                per_file["first"] = f"{first['record']}: {first['reason']}" if first.get("record") else first["reason"]
        self.counts["playlists_read"] += chunk.playlists_read
        self.counts["playlists_rejected"] += chunk.playlists_rejected
        self.counts["entries_read"] += chunk.entries_read
        self.counts["entries_rejected"] += chunk.entries_rejected
        self.warnings.extend(chunk.warnings)
        if chunk.source_info and len(self.source_info) < 10 and chunk.source_info not in self.source_info:
            self.source_info.append(chunk.source_info)
        if chunk.playlists is not None and chunk.playlists.num_rows:
            ids = chunk.playlists.column("playlist_id").to_pylist()
            file_name = Path(chunk.file).name
            for pid in ids:
                self.playlist_files[pid] = file_name
            self.stats.add_lengths(chunk.playlists.column("num_entries").to_pylist())
            per_file["playlists"] += chunk.playlists.num_rows
            self.writers["playlists"].write(chunk.playlists)
        if chunk.entries is not None and chunk.entries.num_rows:
            self.writers["playlist_tracks"].write(chunk.entries)
        if chunk.tracks is not None and chunk.tracks.num_rows:
            self._add_tracks(chunk)

    def _add_tracks(self, chunk: Chunk) -> None:
        seen = self.track_hashes
        keys = chunk.tracks.column("track_key").to_pylist()
        new_rows: list[int] = []
        for i, (key, fingerprint) in enumerate(zip(keys, chunk.track_hashes)):
            previous = seen.get(key)
            if previous is None:
                seen[key] = fingerprint
                new_rows.append(i)
            elif previous != fingerprint:
                self._conflict(key, fingerprint, chunk, i)
        for key, fingerprint, meta in chunk.variants:
            if seen[key] != fingerprint:
                self._conflict(key, fingerprint, chunk, meta)
        if not new_rows:
            return
        new = chunk.tracks if len(new_rows) == len(keys) else chunk.tracks.take(new_rows)
        self.stats.add_tracks(new.column("artist_key").to_pylist(), new.column("artist_name").to_pylist(),
                              new.column("album_key").to_pylist(), new.column("album_name").to_pylist())
        self.writers["tracks"].write(new)

    def _conflict(self, key: str, fingerprint: int, chunk: Chunk, row_or_meta: Any) -> None:
        if (key, fingerprint) in self.conflicts:
            return
        self.conflicts.add((key, fingerprint))
        if len(self.conflict_examples) < MAX_CONFLICT_EXAMPLES:
            if isinstance(row_or_meta, int):
                dropped = chunk.tracks.slice(row_or_meta, 1).to_pylist()[0]
            else:
                dropped = {"track_key": key, **dict(zip(TRACK_META_FIELDS, row_or_meta))}
            self.conflict_examples.append({"file": chunk.file, "dropped": dropped})

    def nothing_usable(self, files: list[InputFile]) -> str | None:
        """What was read, per file, when nothing usable was (else None): no playlist at all, or
        no playlist entry (every entry rejected, or only playlists without tracks). Playlists
        without tracks (the MPD challenge set has some) are kept when the run has entries too;
        a run with no entry at all would leave every later stage nothing to work on."""
        playlists = self.writers["playlists"].rows
        entries = self.writers["playlist_tracks"].rows
        if playlists and entries:
            return None
        described = []
        for f in files:
            entry = self._file(str(f.path))
            if entry["error"] is not None:
                described.append(f"{f.path}: file rejected ({entry['error']})")
            elif entry["rejects"]:
                described.append(f"{f.path}: {entry['rejects']} records rejected (first: {entry['first']})")
            else:
                described.append(f"{f.path}: no playlists" if not entry["playlists"] else f"{f.path}: no entries")
        if len(described) > 5:
            described[5:] = [f"and {len(described) - 5} more files"]
        what = "0 playlists" if not playlists else f"0 of {self.counts['entries_read']} entries"
        return f"nothing usable read ({what} from {len(files)} files): {'; '.join(described)}"

    def commit(self) -> dict[str, int]:
        return {name: writer.commit() for name, writer in self.writers.items()}

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


def _mpd_chunks(files: list[InputFile], sink: TableSink, workers: int, id_prefix: str,
                inputs_info: dict[Path, dict[str, Any]]) -> Iterator[Chunk]:
    parse = partial(parse_slice, id_prefix=id_prefix)
    for f, chunk in zip(files, ordered_map(parse, [str(f.path) for f in files], workers)):
        if chunk.input_info:
            inputs_info[f.path] = chunk.input_info
        if chunk.playlists is not None:
            taken = sink.duplicates(chunk.playlists.column("playlist_id").to_pylist())
            if taken:
                # Rare: ids already used by an earlier file. Parse again without them so that
                # entries and tracks of the rejected playlists do not reach the tables.
                chunk = parse_slice(f.path, id_prefix=id_prefix, exclude_ids=taken)
        yield chunk


def _tabular_chunks(f: InputFile, sink: TableSink, spec: ColumnSpec, id_prefix: str, delimiter: str | None,
                    tmp_dir: Path, encoding: str) -> Iterator[Chunk]:
    emitted = False
    try:
        for chunk in read_tabular(f.path, f.format, spec, known_ids=sink.playlist_files, tmp_dir=tmp_dir,
                                  id_prefix=id_prefix, delimiter=delimiter, encoding=encoding):
            emitted = True
            yield chunk
    except InputError as exc:
        # A missing column or an undecodable byte is a setup mistake (wrong option or
        # --encoding), never a rejected file: it is always an error.
        if emitted or isinstance(exc, (MissingColumnError, DecodeError)):
            raise
        yield Chunk(file=str(f.path), error=exc.reason if exc.line is None else f"line {exc.line}: {exc.reason}")


def _describe_inputs(paths: list[Path], files: list[InputFile], info: dict[Path, dict[str, Any]]) -> list[dict]:
    """Manifest entries per given path; folders are summarised (file count, bytes, combined checksum)."""
    out = []
    for given in paths:
        given = Path(given)
        if given.is_file() and given in info:
            out.append({**info[given], "formats": [f.format for f in files if f.path == given][:1]})
            continue
        members = [f for f in files if f.path == given or f.path.parent == given]
        described = [info[f.path] for f in members if f.path in info]
        entry: dict[str, Any] = {"path": str(given.resolve()), "files": len(members),
                                 "bytes": sum(d["bytes"] for d in described),
                                 "formats": sorted({f.format for f in members})}
        checksums = [d.get("checksum") for d in described]
        if checksums and all(checksums):
            entry["checksum"] = "sha256-of-files:" + hashlib.sha256("\n".join(checksums).encode()).hexdigest()
        if len(described) <= 50:
            entry["members"] = described
        out.append(entry)
    return out


def _nothing_usable(ws: Workspace, problem: str, rejects: RejectsWriter, failed_rejects: Path) -> NothingUsableError:
    """The error of a run that read nothing usable. Nothing is committed: the previous tables
    and the rejects file describing them stay; this run's rejects go to ``failed_rejects``."""
    table = ws.table("playlists/playlists")
    kept = (f"the previous playlist tables ({table_rows(table):,} playlists) are kept" if table.is_dir()
            else "no playlist tables were written")
    message = f"{STAGE}: {problem}; {kept}"
    if rejects.count:
        rejects.path = failed_rejects
        rejects.close()
        message += f"; rejects of this run in {failed_rejects}"
    else:
        failed_rejects.unlink(missing_ok=True)
    return NothingUsableError(message)


def check_encoding(encoding: str) -> str:
    """``encoding`` if Python knows it as a text encoding, else a :class:`ConfigError`."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise ConfigError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 "
                          "or cp1252") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ConfigError(f"{encoding!r} is not a text encoding")
    return encoding


def run(inputs: list[Path], workspace: Workspace, *, fmt: str = "auto", columns: ColumnSpec | None = None,
        id_prefix: str = "", delimiter: str | None = None, workers: int | None = None, strict: bool = False,
        checksum: bool = True, encoding: str = "utf-8") -> Report:
    """Ingest playlist files/folders into the playlist tables of ``workspace``.

    ``fmt``: auto (from file names), mpd, csv, tsv or jsonl. ``columns``: column names of
    tabular inputs. ``id_prefix`` is put before every playlist id (to combine datasets).
    ``workers``: processes parsing MPD slices (default: all cores). ``strict``: stop at the
    first bad record or file instead of rejecting it. ``encoding``: text encoding of the
    CSV/TSV/JSONL inputs (a byte that does not decode is an error naming file, line and byte
    offset; MPD slices are JSON, always UTF-8).

    Raises :class:`~discogs_tools.errors.NothingUsableError` (nothing replaced) when no playlist was read,
    and :class:`~discogs_tools.locks.OutputLockedError` while another ingest of the playlist
    tables runs.
    """
    check_encoding(encoding)
    ws = workspace.ensure()
    with output_lock(ws.root, STAGE):
        return _run_locked(inputs, ws, fmt=fmt, columns=columns, id_prefix=id_prefix, delimiter=delimiter,
                           workers=workers, strict=strict, checksum=checksum, encoding=encoding)


def _run_locked(inputs: list[Path], ws: Workspace, *, fmt: str, columns: ColumnSpec | None, id_prefix: str,
                delimiter: str | None, workers: int | None, strict: bool, checksum: bool, encoding: str) -> Report:
    from ..manifest import Timer, describe_input

    paths = [Path(p) for p in inputs]
    files = discover(paths, fmt)
    spec = columns or ColumnSpec()
    workers = workers or available_cores()
    total_bytes = sum(f.path.stat().st_size for f in files)
    rejects_path = ws.rejects / "playlists" / "ingest.jsonl"
    failed_rejects = rejects_path.with_name("ingest.failed.jsonl")
    inputs_info: dict[Path, dict[str, Any]] = {}

    with Timer() as timer, RejectsWriter(rejects_path) as rejects, \
            scratch_dir(ws.root, "ingest-playlists") as tmp, \
            Progress("ingest playlists", total=total_bytes, unit="B") as bar:
        sink = TableSink(ws, rejects, strict=strict)
        try:
            done_bytes = 0
            for is_mpd, group in groupby(files, key=lambda f: f.format == "mpd"):
                group = list(group)
                if is_mpd:
                    stream = _mpd_chunks(group, sink, workers, id_prefix, inputs_info)
                    for f, chunk in zip(group, stream):
                        sink.add(chunk)
                        done_bytes += f.path.stat().st_size
                        bar.update(completed=done_bytes, records=sink.counts["playlists_read"])
                else:
                    for f in group:
                        inputs_info[f.path] = describe_input(f.path, checksum=checksum)
                        for chunk in _tabular_chunks(f, sink, spec, id_prefix, delimiter, tmp, encoding):
                            sink.add(chunk)
                        done_bytes += f.path.stat().st_size
                        bar.update(completed=done_bytes, records=sink.counts["playlists_read"])
            problem = sink.nothing_usable(files)
            if problem is not None:
                raise _nothing_usable(ws, problem, rejects, failed_rejects)
            rows = sink.commit()
        except BaseException:
            sink.abort()
            raise

    failed_rejects.unlink(missing_ok=True)
    summary = sink.stats.summary()
    counts = {
        "files": len(files),
        "files_rejected": sink.counts["files_rejected"],
        "playlists_read": sink.counts["playlists_read"],
        "playlists": rows["playlists"],
        "playlists_rejected": sink.counts["playlists_rejected"],
        "entries_read": sink.counts["entries_read"],
        "entries": rows["playlist_tracks"],
        "entries_rejected": sink.counts["entries_rejected"],
        "tracks": rows["tracks"],
        "track_metadata_conflicts": len(sink.conflicts),
        "rejects": rejects.count,
    }
    figures: dict[str, Any] = {k: v for k, v in summary.items() if k not in ("playlists", "entries", "unique_tracks")}
    figures["seconds"] = round(timer.seconds, 3)
    figures["input_mb_per_s"] = round(total_bytes / 1e6 / timer.seconds, 2) if timer.seconds > 0 else 0.0
    warnings = list(sink.warnings)
    if sink.conflicts:
        warnings.append(f"{len(sink.conflicts)} conflicting metadata variants of already seen track keys were "
                        "dropped (first seen kept); examples in the manifest")
    if rejects.count:
        warnings.append(f"{rejects.count} rejected records written to {rejects_path}")
    report = Report(
        stage=STAGE,
        counts=counts,
        outputs={**{name: str(ws.table(f"playlists/{name}")) for name in TABLES},
                 **({"rejects": str(rejects_path)} if rejects.count else {})},
        figures=figures,
        details=[{"statistics": summary}, {"track_metadata_conflict_examples": sink.conflict_examples},
                 {"source_info": sink.source_info}],
        warnings=warnings,
    )
    params = {"format": fmt, "columns": asdict(spec), "id_prefix": id_prefix,
              "delimiter": delimiter, "encoding": encoding, "workers": workers, "strict": strict}
    manifest.record(ws.manifest_path, STAGE, {**report.to_dict(), "inputs": _describe_inputs(paths, files, inputs_info),
                                              "params": params})
    return report
