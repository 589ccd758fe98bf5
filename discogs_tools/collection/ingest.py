"""Stage ``ingest collection``: register the user's audio as the table collection/tracks.

The source is either a folder of audio files (tags and duration read with mutagen, files
visited in sorted order) or a manifest (CSV/TSV/Parquet, see :mod:`.manifest_input`). A file
whose tags lack an artist or a title gets them from its path (:mod:`.filename`:
``Artist - Title.ext``, ``Artist/Album/NN - Title.ext``); the tag ``discogs_tools:from_path``
says which fields came from there, and the figure ``from_filename`` how many
tracks.
Unreadable files, rows without artist or title, bad numbers and duplicate track ids go to
``rejects/collection/tracks.jsonl`` with their reason, so that
``files (or rows) read = tracks written + rejects``.

Track ids are stable: a manifest's ``track_id`` if it has one, else the first 16 hex digits
of the SHA-1 of the path (relative to the folder for folders, as written for manifests).

A run that yields no track (an empty folder, a header-only manifest, every file or row
rejected) is an error (:class:`~discogs_tools.errors.InputError`, exit 2) that names the
source, what was read and rejected, and keeps the previous table and its rejects file; the
failed run's rejects go to ``rejects/collection/tracks.failed.jsonl`` (removed by the next
successful run). The run holds the output lock ``ingest collection``/``tracks``, so a second
concurrent ingest is refused instead of racing.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from .. import manifest
from ..errors import InputError, MissingInputError, NothingUsableError, RejectsWriter
from ..io import TableWriter, table_rows
from ..locks import output_lock
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from .filename import fill_from_path
from .manifest_input import BadManifestRow, iter_manifest, manifest_row_fields
from .paths import root_record
from .tags import AUDIO_EXTENSIONS, UnreadableAudio, read_audio_file

TABLE = "collection/tracks"
STAGE = "ingest collection"
BATCH_ROWS = 5_000


def path_track_id(path: str) -> str:
    """Stable id of a track known only by its path (POSIX form, relative to the collection root)."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]


def iter_audio_files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` in a deterministic (sorted, depth-first) order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _row(track_id: str, path: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    return {"track_id": track_id, "path": path, **fields}


class NothingUsable(InputError, NothingUsableError):
    """The run read no usable track; the previous table is kept."""


def _nothing_usable(source: Path, is_folder: bool, counts: dict[str, int], reasons: Counter,
                    failed_rejects: Path, previous: int | None) -> NothingUsable:
    """The one-line error of a run that yields no track: what was read, why it was rejected."""
    if counts["read"] == 0:
        if is_folder:
            skipped = counts["skipped_not_audio"]
            what = "no audio files in this folder" + (
                f" ({skipped:,} other file{'s' if skipped != 1 else ''} skipped)" if skipped else " (it is empty)")
        else:
            what = "the manifest has no rows (only a header, or nothing)"
    else:
        unit = ("audio file" if is_folder else "manifest row") + ("s" if counts["read"] != 1 else "")
        top = ", ".join(f"{n:,}× {reason}" for reason, n in reasons.most_common(2))
        more = f", {len(reasons) - 2} other reason(s)" if len(reasons) > 2 else ""
        what = (f"{counts['read']:,} {unit} read, all {counts['rejected']:,} rejected ({top}{more}); "
                f"rejects of this run in {failed_rejects}")
    kept = f"the previous {TABLE} ({previous:,} tracks) is kept" if previous is not None else f"{TABLE} not written"
    return NothingUsable(source, f"nothing usable: {what}; {kept}")


def _reason_kind(reason: str) -> str:
    """A reason without its file-specific details, to count reasons by kind (`not readable audio (...)`)."""
    return reason.split(" (", 1)[0].split(": ", 1)[0] if reason else "?"


def _previous_rows(folder: Path) -> int | None:
    """Rows of the table being kept (for the error message), None if there is none."""
    if not folder.is_dir():
        return None
    try:
        return table_rows(folder)
    except Exception:  # noqa: BLE001 - only for the message
        return None


def run(source: str | os.PathLike[str], ws: Workspace | str | os.PathLike[str], *, batch_rows: int = BATCH_ROWS) -> Report:
    """Ingest a folder of audio files or a manifest into ``tables/collection/tracks``.

    Raises :class:`NothingUsable` (previous table kept) when no track could be read.
    """
    ws = Workspace.of(ws)
    source = Path(source)
    if not source.exists():
        raise MissingInputError("collection source", source)
    ws.ensure()
    with output_lock(ws.root, STAGE, "tracks"):
        return _run_locked(source, ws, batch_rows)


def _run_locked(source: Path, ws: Workspace, batch_rows: int) -> Report:
    report = Report(stage=STAGE)
    is_folder = source.is_dir() and not any(source.glob("*.parquet"))
    counts = {"read": 0, "tracks": 0, "rejected": 0, "skipped_not_audio": 0}
    from_path = 0
    reasons: Counter = Counter()
    seen: dict[str, str] = {}
    rejects_path = ws.rejects / "collection" / "tracks.jsonl"
    failed_rejects = rejects_path.with_name("tracks.failed.jsonl")
    with manifest.Timer() as timer, RejectsWriter(rejects_path) as rejects, \
            TableWriter(ws.table(TABLE), TABLE) as writer, Progress(f"collection {source.name}") as bar:
        # the root the stored paths hang from, for readers of a moved workspace or collection (.paths)
        writer.info.update(root_record(ws, source if is_folder else source.parent))
        batch: list[dict[str, Any]] = []
        add_reject = rejects.add

        def reject(**kw: Any) -> None:
            add_reject(**kw)
            reasons[_reason_kind(kw["reason"])] += 1
            counts["rejected"] += 1

        def emit(row: dict[str, Any], where: str, record: Any) -> None:
            first = seen.get(row["track_id"])
            if first is not None:
                reject(file=str(source), record=record,
                       reason=f"duplicate track_id {row['track_id']!r} (first seen at {first})", raw=where)
                return
            seen[row["track_id"]] = where
            batch.append(row)
            if len(batch) >= batch_rows:
                writer.write(batch)
                batch.clear()

        if is_folder:
            for file in iter_audio_files(source):
                if file.suffix.lower() not in AUDIO_EXTENSIONS:
                    counts["skipped_not_audio"] += 1
                    continue
                counts["read"] += 1
                rel = file.relative_to(source).as_posix()
                try:
                    fields = read_audio_file(file)
                except UnreadableAudio as exc:
                    reject(file=str(file), record=rel, reason=str(exc))
                    continue
                missing = [n for n in ("artist", "title", "album") if not fields.get(n)]
                if (not fields.get("artist") or not fields.get("title")) and fill_from_path(fields, rel):
                    from_path += 1
                    filled = [n for n in missing if fields.get(n)]
                    fields["tags"] = [*fields.get("tags", []),
                                      {"key": "discogs_tools:from_path", "value": ",".join(filled)}]
                emit(_row(path_track_id(rel), str(file.resolve()), fields), rel, rel)
                bar.update(records=counts["read"])
        else:
            for number, raw in iter_manifest(source):
                counts["read"] += 1
                where = f"row {number}"
                try:
                    fields = manifest_row_fields(raw)
                except BadManifestRow as exc:
                    reject(file=str(source), record=number, reason=str(exc), raw=repr(raw))
                    continue
                if any(t["key"] == "discogs_tools:from_path" for t in fields["tags"]):
                    from_path += 1
                path = raw.get("path")
                path = str(path).strip() if path not in (None, "") else None
                track_id = raw.get("track_id")
                track_id = str(track_id).strip() if track_id not in (None, "") else None
                if track_id is None and path is None:
                    reject(file=str(source), record=number, reason="both track_id and path are empty", raw=repr(raw))
                    continue
                # Stored absolute (relative paths are relative to the manifest's folder), so that
                # later stages (features) find the audio whatever their working directory.
                stored = str((source.parent / path).resolve()) if path is not None else None
                emit(_row(track_id or path_track_id(path), stored, fields), where, number)
                bar.update(records=counts["read"])
        if batch:
            writer.write(batch)
        counts["tracks"] = writer.rows
        if counts["tracks"] == 0:
            # Nothing usable: the table writer and the rejects writer abort (the exception leaves
            # their `with`), so the previous table and the rejects that describe it stay; this
            # run's rejects are kept aside for the user to read.
            rejects.path = failed_rejects
            rejects.close()
            raise _nothing_usable(source, is_folder, counts, reasons, failed_rejects,
                                  _previous_rows(ws.table(TABLE)))
    failed_rejects.unlink(missing_ok=True)
    if counts["read"] != counts["tracks"] + counts["rejected"]:  # pragma: no cover - invariant
        raise InputError(source, f"internal count mismatch {counts}")
    if counts["rejected"]:
        report.warnings.append(f"{counts['rejected']} rejected; see {rejects_path}")
        report.outputs["rejects"] = str(rejects_path)
    report.counts.update(counts)
    report.figures["from_filename"] = from_path
    report.outputs["tracks"] = str(ws.table(TABLE))
    report.figures["seconds"] = round(timer.seconds, 3)
    report.figures["tracks_per_s"] = round(counts["read"] / timer.seconds, 1) if timer.seconds else 0.0
    inputs = {"source": str(source.resolve()), "kind": "folder" if is_folder else "manifest"}
    if not is_folder and source.is_file():
        inputs.update(manifest.describe_input(source))
    manifest.record(ws.manifest_path, STAGE, {**report.to_dict(), "inputs": inputs})
    return report
