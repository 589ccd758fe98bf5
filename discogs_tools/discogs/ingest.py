"""The stage ``ingest discogs``: Discogs XML dumps -> ``tables/discogs/<entity>`` Parquet tables.

Data flow: the main process reads each file (decompressing in-process), cuts it into chunks of
whole records (:mod:`.stream`) and hands the chunks to a pool of worker processes (:mod:`.pool`;
the chunks travel through shared memory), which parse
them and write one Parquet part each into the table's staging folder (:mod:`.chunk`). Part
names carry the file and chunk numbers, so the table is identical whatever the number of
workers. Results are taken back in chunk order: rejects go to
``rejects/ingest-discogs/<file>.jsonl`` and the per-file counts reconcile
(records = rows + rejects). Each entity's table is committed (renamed into place) only when
all its files went through, so an interrupted run leaves the previous table or none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import manifest
from ..errors import ConfigError, InputError, MissingInputError, RejectsWriter
from ..io import TableWriter
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from . import fastpath
from .chunk import ChunkResult, ChunkTask
from .detect import ENTITIES, Entity, is_utf8_declaration
from .pool import ChunkPool
from .stream import DEFAULT_CHUNK_BYTES, Chunk, Tail, iter_chunks, open_dump

STAGE = "ingest discogs"
REJECTS_DIR = "ingest-discogs"
DUMP_SUFFIXES = (".xml", ".xml.gz", ".gz")
# A chunk is its size in records plus the rest of the record it cut; bigger ones (a single
# huge record) go through the pipe instead of a shared slot.
SLOT_HEADROOM = 1 << 20


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


def _ingest_file(path: Path, file_no: int, entity: Entity, writer: TableWriter, pool: ChunkPool, ws: Workspace, *,
                 strict: bool, allow_truncated: bool, chunk_bytes: int) -> dict[str, Any]:
    """Stream one file through the pool into the table's staging folder; returns its summary."""
    rejects_path = ws.rejects / REJECTS_DIR / f"{path.name}.jsonl"
    counts = {"records": 0, "rows": 0, "rejects": 0}
    warnings: list[str] = []
    with manifest.Timer() as timer, RejectsWriter(rejects_path) as rejects:
        reader, prolog, head = open_dump(path)
        if prolog.entity != entity:  # pragma: no cover - grouping guarantees it
            raise InputError(path, f"holds {prolog.entity.name}, expected {entity.name}")
        declaration = b"" if is_utf8_declaration(prolog.declaration) else prolog.declaration

        def collect(results: list[ChunkResult]) -> None:
            for res in results:
                counts["records"] += res.records
                counts["rows"] += res.rows
                for r in res.rejects:
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
        "warnings": warnings,
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

    report = Report(STAGE)
    slow_reason = fastpath.unavailable_reason()
    if slow_reason:
        report.warnings.append(f"Python converters used ({slow_reason}); about 3.5x slower, same tables")
    pool = ChunkPool(workers, slot_bytes=chunk_bytes + SLOT_HEADROOM)
    try:
        for name in (n for n in ENTITIES if n in by_entity):
            entity = ENTITIES[name]
            table_files = by_entity[name]
            details = []
            file_no = 0  # part names depend only on this table's inputs
            with manifest.Timer() as timer, TableWriter(ws.table(entity.table), entity.table) as writer:
                for f in table_files:
                    details.append(_ingest_file(f, file_no, entity, writer, pool, ws, strict=strict,
                                                allow_truncated=allow_truncated, chunk_bytes=chunk_bytes))
                    file_no += 1
            rows = sum(d["rows"] for d in details)
            records = sum(d["records"] for d in details)
            rejected = sum(d["rejects"] for d in details)
            report.outputs[entity.table] = str(ws.table(entity.table))
            report.counts[f"{name}_records"] = records
            report.counts[f"{name}_rows"] = rows
            report.counts[f"{name}_rejects"] = rejected
            report.figures[f"{name}_per_s"] = round(records / timer.seconds, 1) if timer.seconds else 0.0
            report.details.extend(details)
            for d in details:
                report.warnings.extend(d.pop("warnings"))
                if d["rejects"]:
                    report.warnings.append(f"{Path(d['file']).name}: {d['rejects']} malformed record(s) "
                                           f"rejected, see {d['rejects_file']}")
            if record_manifest:
                entry = {**_table_report(report, entity, details),
                         "inputs": [{**manifest.describe_input(d["file"], checksum=False), "checksum": d["checksum"]}
                                    for d in details],
                         "params": {"strict": strict, "workers": workers, "allow_truncated": allow_truncated,
                                    "chunk_bytes": chunk_bytes},
                         "compiled_walker": slow_reason is None}
                manifest.record(ws.manifest_path, f"{STAGE} {name}", entry)
    except BaseException:
        pool.close(cancel=True)
        raise
    pool.close()
    report.counts["files"] = len(files)
    report.counts["records"] = sum(d["records"] for d in report.details)
    report.counts["rows"] = sum(d["rows"] for d in report.details)
    report.counts["rejects"] = sum(d["rejects"] for d in report.details)
    report.figures["seconds"] = round(sum(d["seconds"] for d in report.details), 3)
    return report


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
