"""The stage ``ingest discogs``: Discogs XML dumps -> ``tables/discogs/<entity>`` Parquet tables.

Data flow: the main process reads each file (decompressing in-process), cuts it into chunks of
whole records (:mod:`.stream`) and hands the chunks to a pool of worker processes (:mod:`.pool`;
the chunks travel through shared memory), which parse
them and write one Parquet part each into the table's staging folder (:mod:`.chunk`). Part
names carry the file and chunk numbers, so the table is identical whatever the number of
workers. Results are taken back in chunk order: rejects go to
``rejects/ingest-discogs/<file>.jsonl`` and the per-file counts reconcile
(records = rows + rejects). The tables are committed (renamed into place) only when every
file of the run went through and every table got rows: an interrupted run, or one where a
table read nothing usable (every record rejected, or no record at all), leaves the previous
tables as they were. Ids found more than once in a table are counted (:mod:`.duplicates`).
The run holds the stage's output lock (:mod:`discogs_tools.locks`): a second concurrent ingest
into the same workspace stops at once, naming the first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import manifest
from ..errors import ConfigError, InputError, MissingInputError, NothingUsableError, RejectsWriter
from ..io import TableWriter
from ..locks import output_lock
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from . import fastpath
from .chunk import ChunkResult, ChunkTask
from .detect import ENTITIES, Entity, is_utf8_declaration
from .duplicates import DEDUP_ORDER, find_duplicates
from .pool import ChunkPool
from .stream import DEFAULT_CHUNK_BYTES, Chunk, Tail, iter_chunks, open_dump

STAGE = "ingest discogs"
REJECTS_DIR = "ingest-discogs"
DUMP_SUFFIXES = (".xml", ".xml.gz", ".gz")
# A chunk is its size in records plus the rest of the record it cut; bigger ones (a single
# huge record) go through the pipe instead of a shared slot.
SLOT_HEADROOM = 1 << 20
SPILL_DIR = ".duckdb-spill"  # in the workspace: where the duplicate count may spill


def find_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files to ingest: the files given, and the ``*.xml``/``*.xml.gz`` files of folders given
    (sorted by name). A path that does not exist is an error."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(DUMP_SUFFIXES))
            if not found:
                raise InputError(p, "folder holds no .xml or .xml.gz files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise MissingInputError("input", p)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _detect(path: Path) -> Entity:
    reader, prolog, _ = open_dump(path)
    reader.close()
    return prolog.entity


def _ingest_file(path: Path, file_no: int, entity: Entity, writer: TableWriter, pool: ChunkPool, ws: Workspace,
                 pending_rejects: list[RejectsWriter], *, strict: bool, allow_truncated: bool,
                 chunk_bytes: int) -> dict[str, Any]:
    """Stream one file through the pool into the table's staging folder; returns its summary.
    Its rejects writer is added to ``pending_rejects``: the caller puts it in place with the
    tables (or aside, or discards it)."""
    rejects_path = ws.rejects / REJECTS_DIR / f"{path.name}.jsonl"
    taken = {r.path for r in pending_rejects}
    k = 1
    while rejects_path in taken:  # two inputs of one name (from different folders)
        k += 1
        rejects_path = ws.rejects / REJECTS_DIR / f"{path.name}.{k}.jsonl"
    counts = {"records": 0, "rows": 0, "rejects": 0, "fields_unparsed": 0}
    warnings: list[str] = []
    rejects = RejectsWriter(rejects_path)
    pending_rejects.append(rejects)
    with manifest.Timer() as timer:
        reader, prolog, head = open_dump(path, allow_truncated=allow_truncated)
        if prolog.entity != entity:  # pragma: no cover - grouping guarantees it
            raise InputError(path, f"holds {prolog.entity.name}, expected {entity.name}")
        declaration = b"" if is_utf8_declaration(prolog.declaration) else prolog.declaration

        def collect(results: list[ChunkResult]) -> None:
            for res in results:
                counts["records"] += res.records
                counts["rows"] += res.rows
                counts["fields_unparsed"] += res.unparsed
                for r in res.rejects:
                    if r.get("fatal"):
                        raise InputError(path, r["reason"], offset=r["offset"])
                    if strict:
                        raise InputError(path, r["reason"] + " (--strict)", record=r["record"], offset=r["offset"])
                    rejects.add(file=str(path), record=r["record"], offset=r["offset"], reason=r["reason"],
                                raw=r["raw"])
                counts["rejects"] += len(res.rejects)
                bar.update(completed=reader.raw_pos, records=counts["records"])

        with reader, Progress(path.name, total=reader.size, unit="B") as bar:
            for item in _chunks(reader, prolog, head, chunk_bytes):
                if isinstance(item, Tail):
                    collect(pool.drain())
                    if not allow_truncated or item.kind == "trailing":
                        raise InputError(path, item.reason, record=item.record, offset=item.offset)
                    if item.kind == "cut":  # the cut record counts as read and rejected
                        counts["records"] += 1
                        counts["rejects"] += 1
                        rejects.add(file=str(path), record=item.record, offset=item.offset, reason=item.reason,
                                    raw=item.raw)
                    warnings.append(f"{path.name}: {item.reason} at XML byte offset {item.offset} "
                                    "(accepted with --allow-truncated)")
                    continue
                part = writer.staging_dir / f"part-{file_no:04d}-{item.index:06d}.parquet"
                task = ChunkTask(entity.name, str(path), path.name, item.index, item.data, item.offset,
                                 item.first_ordinal, item.records, str(part), declaration)
                collect(pool.submit(task))
            collect(pool.drain())
            reader.finish()
            bar.update(completed=reader.size, records=counts["records"])
            if reader.truncated:
                warnings.append(f"{path.name}: {reader.truncated} (accepted with --allow-truncated)")
        checksum = reader.checksum
        xml_bytes = reader.xml_bytes
    seconds = timer.seconds
    if counts["records"] != counts["rows"] + counts["rejects"]:  # pragma: no cover - invariant
        raise RuntimeError(f"{path}: records do not reconcile: {counts}")
    size = path.stat().st_size
    return {
        "file": str(path), "entity": entity.name, "table": entity.table, **counts,
        "seconds": round(seconds, 3),
        "records_per_s": round(counts["records"] / seconds, 1) if seconds else None,
        "mb_per_s": round(size / 1e6 / seconds, 2) if seconds else None,
        "xml_mb_per_s": round(xml_bytes / 1e6 / seconds, 2) if seconds else None,
        "bytes": size, "xml_bytes": xml_bytes, "compressed": xml_bytes != size or None,
        "checksum": checksum, "rejects_file": str(rejects_path) if counts["rejects"] else None,
        "duplicate_rows": 0, "warnings": warnings,
    }


def _chunks(reader: Any, prolog: Any, head: bytes, chunk_bytes: int) -> Iterable[Chunk | Tail]:
    return iter_chunks(reader, prolog, head, chunk_bytes=chunk_bytes)


def run(paths: Sequence[str | os.PathLike[str]], workspace: Workspace | str | os.PathLike[str], *,
        strict: bool = False, workers: int = 2, allow_truncated: bool = False,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES, record_manifest: bool = True) -> Report:
    """Ingest Discogs dumps (files or folders) into ``tables/discogs/<entity>``.

    Files of the same entity go into one table (replacing the previous one); the entity of
    each file comes from its root element. ``workers`` processes parse chunks (0: parse in this
    process). With ``strict`` the first malformed record stops the run (no table is written);
    otherwise malformed records go to the rejects file and are counted. A dump that ends
    early is an error unless ``allow_truncated`` (then the cut record is a reject).
    """
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if chunk_bytes < 1024:
        raise ConfigError(f"chunk size must be at least 1 KiB, got {chunk_bytes}")
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    ws.ensure()
    files = find_inputs(paths)
    if not files:
        raise ConfigError("no input files given")
    by_entity: dict[str, list[Path]] = {}
    for f in files:
        by_entity.setdefault(_detect(f).name, []).append(f)

    with output_lock(ws.root, STAGE):
        return _run(files, by_entity, ws, strict=strict, workers=workers, allow_truncated=allow_truncated,
                    chunk_bytes=chunk_bytes, record_manifest=record_manifest)


def _run(files: list[Path], by_entity: dict[str, list[Path]], ws: Workspace, *, strict: bool, workers: int,
         allow_truncated: bool, chunk_bytes: int, record_manifest: bool) -> Report:
    report = Report(STAGE)
    slow_reason = fastpath.unavailable_reason()
    if slow_reason:
        report.warnings.append(f"Python converters used ({slow_reason}); about 3.5x slower, same tables")
    pool = ChunkPool(workers, slot_bytes=chunk_bytes + SLOT_HEADROOM)
    staged: list[tuple[Entity, TableWriter, list[dict[str, Any]], float]] = []
    pending_rejects: list[RejectsWriter] = []
    try:
        for name in (n for n in ENTITIES if n in by_entity):
            entity = ENTITIES[name]
            details: list[dict[str, Any]] = []
            writer = TableWriter(ws.table(entity.table), entity.table)
            staged.append((entity, writer, details, 0.0))
            with manifest.Timer() as timer:
                for file_no, f in enumerate(by_entity[name]):  # part names depend only on this table's inputs
                    details.append(_ingest_file(f, file_no, entity, writer, pool, ws, pending_rejects, strict=strict,
                                                allow_truncated=allow_truncated, chunk_bytes=chunk_bytes))
            staged[-1] = (entity, writer, details, timer.seconds)
            _count_duplicates(entity, writer, details, ws, report)
        _check_usable(staged, pending_rejects)
    except BaseException:
        pool.close(cancel=True)
        for _, writer, _, _ in staged:
            writer.abort()
        for rejects in pending_rejects:
            rejects.abort()
        raise
    pool.close()
    for rejects in pending_rejects:  # the rejects files describe the tables now put in place
        rejects.close()
        _failed_rejects_path(rejects.path).unlink(missing_ok=True)
    for entity, writer, details, seconds in staged:
        name = entity.name
        rows = sum(d["rows"] for d in details)
        records = sum(d["records"] for d in details)
        report.outputs[entity.table] = str(ws.table(entity.table))
        report.counts[f"{name}_records"] = records
        report.counts[f"{name}_rows"] = rows
        report.counts[f"{name}_rejects"] = sum(d["rejects"] for d in details)
        report.counts[f"{name}_fields_unparsed"] = sum(d["fields_unparsed"] for d in details)
        report.counts[f"{name}_duplicate_ids"] = writer.info["duplicate_ids"]
        report.figures[f"{name}_per_s"] = round(records / seconds, 1) if seconds else 0.0
        report.details.extend(details)
        for d in details:
            report.warnings.extend(d.pop("warnings"))
            if d["rejects"]:
                report.warnings.append(f"{Path(d['file']).name}: {d['rejects']} malformed record(s) "
                                       f"rejected, see {d['rejects_file']}")
            if d["fields_unparsed"]:
                report.warnings.append(f"{Path(d['file']).name}: {d['fields_unparsed']} field value(s) did not parse "
                                       "(column null, text kept in `extra` with an \"error\")")
        writer.commit()
        if record_manifest:
            entry = {**_table_report(report, entity, details),
                     "inputs": [{**manifest.describe_input(d["file"], checksum=False), "checksum": d["checksum"]}
                                for d in details],
                     "params": {"strict": strict, "workers": workers, "allow_truncated": allow_truncated,
                                "chunk_bytes": chunk_bytes},
                     "compiled_walker": slow_reason is None}
            manifest.record(ws.manifest_path, f"{STAGE} {name}", entry)
    report.counts["files"] = len(files)
    for key in ("records", "rows", "rejects", "fields_unparsed"):
        report.counts[key] = sum(d[key] for d in report.details)
    report.figures["seconds"] = round(sum(d["seconds"] for d in report.details), 3)
    return report


def _count_duplicates(entity: Entity, writer: TableWriter, details: list[dict[str, Any]], ws: Workspace,
                      report: Report) -> None:
    """Count the ids of the staged table that occur more than once; warn with examples."""
    dup = find_duplicates(writer.staging_dir, entity.id_column, spill_dir=ws.root / SPILL_DIR)
    writer.info["duplicate_ids"] = dup.ids
    writer.info["duplicate_rows"] = dup.extra_rows
    for d in details:
        d["duplicate_rows"] = dup.by_file.get(Path(d["file"]).name, 0)
    if dup.ids:
        report.warnings.append(
            f"{entity.table}: {dup.ids:,} duplicate {entity.id_column}(s), {dup.extra_rows:,} row(s) beyond the "
            f"first, all kept: {dup.describe(entity.record_tag)}; for one row per id keep the first by "
            f"({DEDUP_ORDER}), see docs/ingest-discogs.md")


def _failed_rejects_path(path: Path) -> Path:
    """Where the rejects of a run that replaced no table go (``<file>.failed.jsonl``)."""
    return path.with_name(path.name[:-len(".jsonl")] + ".failed.jsonl")


def _check_usable(staged: list[tuple[Entity, TableWriter, list[dict[str, Any]], float]],
                  pending_rejects: list[RejectsWriter]) -> None:
    """Refuse to replace tables when one of them got no row (see :class:`NothingUsableError`).
    The rejects files of the kept tables stay; this run's rejects go to ``<file>.failed.jsonl``."""
    empty = [(entity, details) for entity, _, details, _ in staged if not any(d["rows"] for d in details)]
    if not empty:
        return
    for rejects in pending_rejects:
        failed = _failed_rejects_path(rejects.path)
        failed.unlink(missing_ok=True)
        if rejects.count:
            rejects.path = failed
            rejects.close()
    parts = []
    for entity, details in empty:
        files = "; ".join(
            f"{d['file']}: {d['records']:,} records, {d['rejects']:,} rejected"
            + (f" (see {_failed_rejects_path(Path(d['rejects_file']))})" if d["rejects_file"] else "")
            for d in details)
        parts.append(f"{entity.table}: {files}")
    raise NothingUsableError(f"{STAGE}: no usable record, previous tables kept: " + " | ".join(parts))


def _table_report(report: Report, entity: Entity, details: list[dict[str, Any]]) -> dict[str, Any]:
    """The part of the report about one table (what the manifest stores for it)."""
    return {"stage": STAGE, "table": entity.table, "output": report.outputs[entity.table],
            "counts": {k: v for k, v in report.counts.items() if k.startswith(entity.name + "_")},
            "files": details}


def summary_lines(report: Report) -> list[str]:
    """One line per file: records, rejects, seconds, MB/s (printed by the CLI)."""
    lines = []
    for d in report.details:
        lines.append(f"{Path(d['file']).name}: {d['entity']} {d['records']:,} records, {d['rows']:,} rows, "
                     f"{d['rejects']:,} rejects, {d['seconds']:.2f} s, {d['mb_per_s'] or 0:.1f} MB/s "
                     f"({d['xml_mb_per_s'] or 0:.1f} MB/s XML, {d['records_per_s'] or 0:,.0f} records/s)")
    return lines
