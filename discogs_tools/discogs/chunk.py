"""Parse one chunk of whole records into one Parquet part file (runs in a worker process).

A chunk (16 MB of records by default) is parsed with lxml a batch of records at a time
(:data:`PARSE_BATCH_BYTES`, each batch wrapped in its root element), so only one small tree
is alive at a time while the part file gets many rows (cheaper per row to write). If a batch
fails to parse, each of its records is parsed on its own, so one malformed record (an
undefined entity, a control character, a broken tag) becomes a reject while the others are
kept. Records that parse but cannot be converted (an id that is not a number) are rejects
too. Every reject carries the record's id when it can be read, its byte offset and the
parser's reason.

Conversion takes the fast path when the compiled walker is available (:mod:`.fastpath`): it
reads each batch at C speed straight into Arrow buffers, by default without building a tree
(libxml2's SAX events build one record at a time in an arena: :func:`.fastpath.walk_batch`;
a batch that is not plain records is parsed into a tree instead), and declines the few records
it cannot convert exactly as the Python converters do; those (and every record when the
walker is not available) go through the converters ``parse_<entity>.convert``, which keep
anything the schema has no column for in the record's ``extra`` column (see
:mod:`.elements`). The two paths give the same table; the tests check it on every era and
with several batches per chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from lxml import etree

from . import fastpath
from ..schemas import SchemaError, conform, load_schema
from .detect import ENTITIES, Entity
from .elements import RecordError, count_unparsed
from .stream import record_id, record_spans

PARSER_OPTIONS = dict(huge_tree=True, resolve_entities=False, no_network=True, collect_ids=False)
# Parquet settings of the part files. zstd without dictionary pages: as small as zstd with
# dictionaries here (zstd finds the repeats itself) and ~15% faster to write; statistics only
# for top-level scalar columns (what DuckDB uses to skip row groups).
PARQUET_OPTIONS: dict[str, Any] = dict(compression="zstd", use_dictionary=False)
# Records parsed into one lxml tree at a time. A chunk (16 MB by default, one part file: Parquet
# writes cost a third less per row in parts of 4,000 rows than of 1,000) is parsed in batches of
# this size, so the trees stay small; the batch size barely changes the parse speed.
PARSE_BATCH_BYTES = 2 << 20


@dataclass
class ChunkTask:
    """What a worker needs to turn one chunk into a part file."""

    entity: str
    path: str              # the dump file (for messages)
    source_file: str       # its name, stored in every row
    index: int
    data: bytes
    offset: int
    first_ordinal: int
    records: int
    part_path: str | None  # where to write the part; None -> return the table instead (tests)
    declaration: bytes = b""
    slot: int | None = None  # set by the pool when ``data`` travels in a shared-memory slot
    size: int = 0            # the chunk's length in that slot


@dataclass
class ChunkResult:
    index: int
    records: int
    rows: int
    rejects: list[dict[str, Any]] = field(default_factory=list)
    part_path: str | None = None
    table: pa.Table | None = None
    unparsed: int = 0  # values kept as raw text because they did not parse (see elements.int_value)


@lru_cache(maxsize=None)
def converter(entity: str) -> Any:
    """The parse module of an entity (parse_releases, ...)."""
    return import_module(f"{__package__}.parse_{entity}")


def _parse(task: ChunkTask, entity: Entity, data: bytes) -> Any:
    """Parse records wrapped in their root element (fed in pieces: no copy of the chunk)."""
    root = entity.root_tag.encode()
    parser = etree.XMLParser(**PARSER_OPTIONS)
    if task.declaration:
        parser.feed(task.declaration)
    parser.feed(b"<" + root + b">")
    parser.feed(data)
    parser.feed(b"</" + root + b">")
    return parser.close()


def _error_reason(exc: etree.XMLSyntaxError) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return f"malformed XML: {msg}"


def process_chunk(task: ChunkTask) -> ChunkResult:
    """Parse, convert and write one chunk. Never raises for bad records (they are rejects)."""
    entity = ENTITIES[task.entity]
    spans = record_spans(task.data, entity)
    rejects: list[dict[str, Any]] = []
    table = _fast_table(task, entity, spans, rejects) if fastpath.enabled(task.entity) else None
    if table is None:
        rejects = []
        rows = [row for records in _parsed_batches(task, entity, spans, rejects)
                for row in _convert(task, entity, spans, records, rejects)]
        table = _to_table(rows, task, entity, rejects)
    rejects.sort(key=lambda r: r["ordinal"])
    result = ChunkResult(task.index, len(spans), table.num_rows, rejects, unparsed=_unparsed(table))
    if task.part_path is None:
        result.table = table
    elif table.num_rows:
        write_part(table, task.part_path)
        result.part_path = task.part_path
    return result


def _unparsed(table: pa.Table) -> int:
    """Values of the chunk that did not parse: ``error`` entries in the ``extra`` column (rare,
    so only the rows with an ``extra`` are looked at)."""
    extra = table.column("extra")
    if extra.null_count == len(extra):
        return 0
    return sum(count_unparsed(e) for e in extra.drop_null().to_pylist())


def write_part(table: pa.Table, path: str) -> None:
    """One Parquet part file (settings: see :data:`PARQUET_OPTIONS`)."""
    stats = [f.name for f in table.schema if not pa.types.is_nested(f.type)]
    pq.write_table(table, path, write_statistics=stats, **PARQUET_OPTIONS)


def _fast_table(task: ChunkTask, entity: Entity, spans: list[tuple[int, int]],
                rejects: list[dict[str, Any]]) -> pa.Table | None:
    """The chunk's table through the compiled walker (:mod:`.fastpath`), the records it declines
    converted by the Python converters (while their batch's tree is alive); None when a value
    does not fit the schema (then the caller converts everything the slow way, which rejects
    exactly the offending records)."""
    schema = load_schema(entity.table)
    walker = fastpath.new_walker(task.entity)
    declined_rows: list[tuple] = []
    tree_free = fastpath.tree_free(task.entity, task.declaration)
    for batch in _batches(spans, PARSE_BATCH_BYTES):
        seen = len(walker.declined)
        if tree_free and fastpath.walk_batch(walker, task.data, spans, batch, entity):
            # declined records (rare): each parsed on its own for the converters
            if len(walker.declined) > seen:
                records = _parse_each(task, entity, spans, walker.declined[seen:], rejects)
                declined_rows += _convert(task, entity, spans, records, rejects)
            continue
        records = _parse_records(task, entity, spans, batch, rejects)
        walker.walk(records)
        if len(walker.declined) > seen:
            wanted = set(walker.declined[seen:])
            declined_rows += _convert(task, entity, spans, [r for r in records if r[0] in wanted], rejects)
    accepted = walker.index
    try:
        columns = fastpath.columns(task.entity, walker, schema)
        columns["source_file"] = pa.array([task.source_file] * len(accepted), pa.string())
        columns["record_ordinal"] = pa.array([task.first_ordinal + i for i in accepted], pa.int64())
        columns["source_offset"] = pa.array([task.offset + spans[i][0] for i in accepted], pa.int64())
        table = pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
        table.validate()  # offsets and lengths of the walker's buffers
        table = conform(table, schema, table=entity.table)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, SchemaError):
        return None
    if walker.declined:
        table = pa.concat_tables([table, _to_table(declined_rows, task, entity, rejects)])
        table = table.take(pc.sort_indices(table.column("record_ordinal")))
    return table


def _batches(spans: list[tuple[int, int]], limit: int) -> Iterator[range]:
    """Consecutive runs of record indices whose bytes add up to about ``limit`` (at least one
    record each)."""
    first = 0
    for i in range(len(spans)):
        if spans[i][1] - spans[first][0] >= limit:
            yield range(first, i + 1)
            first = i + 1
    if first < len(spans):
        yield range(first, len(spans))


def _parsed_batches(task: ChunkTask, entity: Entity, spans: list[tuple[int, int]],
                    rejects: list[dict[str, Any]]) -> Iterator[list[tuple[int, Any]]]:
    """The chunk's records parsed a batch (:data:`PARSE_BATCH_BYTES`) at a time: (index,
    element) of every record of the batch that parses. A batch's tree is freed once the caller
    lets go of its list (in a for loop: while the next batch is parsed, so at most two trees
    are alive)."""
    for batch in _batches(spans, PARSE_BATCH_BYTES):
        yield _parse_records(task, entity, spans, batch, rejects)


def _parse_records(task: ChunkTask, entity: Entity, spans: list[tuple[int, int]], batch: range,
                   rejects: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """(index, element) of every record of ``batch`` that parses: the batch as one tree, or,
    when that fails, record by record (the malformed ones become rejects)."""
    try:
        root = _parse(task, entity, task.data[spans[batch.start][0]:spans[batch.stop - 1][1]])
        children = [c for c in root if c.tag is not etree.Comment and c.tag is not etree.PI]
        if len(children) == len(batch) and all(c.tag == entity.record_tag for c in children):
            return list(zip(batch, children))
    except etree.XMLSyntaxError:
        pass
    return _parse_each(task, entity, spans, batch, rejects)


def _parse_each(task: ChunkTask, entity: Entity, spans: list[tuple[int, int]], indices: Iterable[int],
                rejects: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """Parse the given records one by one: (index, element) for each one that parses."""
    records = []
    for i in indices:
        s, e = spans[i]
        raw = task.data[s:e]
        try:
            # Parsed alone (not wrapped), so the parser's line/column count from the record start.
            one = etree.fromstring(task.declaration + raw, etree.XMLParser(**PARSER_OPTIONS))
        except etree.XMLSyntaxError as exc:
            if raw.startswith(b"</" + entity.root_tag.encode()):  # </releases><releases>...: two roots
                reject = _reject(task, entity, i, s, raw, f"a second root element after </{entity.root_tag}> "
                                                         "(an XML file has one root)")
                rejects.append({**reject, "fatal": True})
            else:
                rejects.append(_reject(task, entity, i, s, raw, _error_reason(exc)))
            continue
        if one.tag != entity.record_tag:
            rejects.append(_reject(task, entity, i, s, raw,
                                   f"expected a <{entity.record_tag}> element, found <{one.tag}>"))
            continue
        wrapper = etree.Element(entity.root_tag)
        wrapper.append(one)  # converters expect records inside their root (for extra paths)
        records.append((i, one))
    return records


def _convert(task: ChunkTask, entity: Entity, spans: list[tuple[int, int]], records: list[tuple[int, Any]],
             rejects: list[dict[str, Any]]) -> list[tuple]:
    """Rows (with provenance) of parsed records; records that do not convert are rejects."""
    convert = converter(task.entity).convert
    rows: list[tuple] = []
    for i, rec in records:
        s, e = spans[i]
        try:
            row = convert(rec)
        except RecordError as exc:
            rejects.append(_reject(task, entity, i, s, task.data[s:e], str(exc)))
            continue
        rows.append(row + (task.source_file, task.first_ordinal + i, task.offset + s))
    return rows


def _reject(task: ChunkTask, entity: Entity, i: int, start: int, raw: bytes, reason: str) -> dict[str, Any]:
    return {"file": task.path, "record": record_id(raw, entity), "offset": task.offset + start,
            "ordinal": task.first_ordinal + i, "reason": reason, "raw": raw[:2000]}


def _arrays(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    return pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, schema)], schema=schema)


def _to_table(rows: list[tuple], task: ChunkTask, entity: Entity, rejects: list[dict[str, Any]]) -> pa.Table:
    """Arrow table of the rows; a row whose values do not fit the schema (e.g. an int32
    overflow) becomes a reject instead of failing the chunk."""
    schema = load_schema(entity.table)
    try:
        return conform(_arrays(rows, schema), schema, table=entity.table)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError):
        pass
    good = []
    for row in rows:
        try:
            conform(_arrays([row], schema), schema, table=entity.table)
            good.append(row)
        except Exception as exc:  # noqa: BLE001 - reported as the reject's reason
            ordinal, offset = row[-2], row[-1]
            s = offset - task.offset
            i = ordinal - task.first_ordinal
            spans = record_spans(task.data, entity)
            raw = task.data[spans[i][0]:spans[i][1]] if 0 <= i < len(spans) else b""
            rejects.append(_reject(task, entity, i, s, raw, f"value does not fit the schema: {exc}"))
    return conform(_arrays(good, schema), schema, table=entity.table)
