"""Parse one chunk of whole records into one Parquet part file (runs in a worker process).

The chunk is parsed in one go with lxml (wrapped in its root element). If that fails, each
record is parsed on its own, so one malformed record (an undefined entity, a control
character, a broken tag) becomes a reject while the others are kept. Records that parse but
cannot be converted (an id that is not a number) are rejects too. Every reject carries the
record's id when it can be read, its byte offset and the parser's reason.

Anything the schema has no column for is kept by the converters in the record's ``extra``
column (see :mod:`.elements`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from ..io import DEFAULT_COMPRESSION
from ..schemas import conform, load_schema
from .detect import ENTITIES, Entity
from .elements import RecordError
from .stream import record_id, record_spans

PARSER_OPTIONS = dict(huge_tree=True, resolve_entities=False, no_network=True, collect_ids=False)


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


@dataclass
class ChunkResult:
    index: int
    records: int
    rows: int
    rejects: list[dict[str, Any]] = field(default_factory=list)
    part_path: str | None = None
    table: pa.Table | None = None


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
    records: list[Any] = []
    rejects: list[dict[str, Any]] = []
    ok_spans: list[tuple[int, int, int]] = []  # (ordinal offset in chunk, start, end) of parsed records
    root = None
    try:
        root = _parse(task, entity, task.data)
        children = [c for c in root if c.tag is not etree.Comment and c.tag is not etree.PI]
        if len(children) == len(spans) and all(c.tag == entity.record_tag for c in children):
            records = children
            ok_spans = [(i, s, e) for i, (s, e) in enumerate(spans)]
        else:
            root = None
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        # Slow path: parse record by record to isolate the malformed ones.
        for i, (s, e) in enumerate(spans):
            raw = task.data[s:e]
            try:
                # Parsed alone (not wrapped), so the parser's line/column count from the record start.
                one = etree.fromstring(task.declaration + raw, etree.XMLParser(**PARSER_OPTIONS))
            except etree.XMLSyntaxError as exc:
                rejects.append(_reject(task, entity, i, s, raw, _error_reason(exc)))
                continue
            if one.tag != entity.record_tag:
                rejects.append(_reject(task, entity, i, s, raw,
                                       f"expected a <{entity.record_tag}> element, found <{one.tag}>"))
                continue
            wrapper = etree.Element(entity.root_tag)
            wrapper.append(one)  # converters expect records inside their root (for extra paths)
            records.append(one)
            ok_spans.append((i, s, e))
    convert = converter(task.entity).convert
    rows: list[tuple] = []
    for j, rec in enumerate(records):
        i, s, e = ok_spans[j]
        try:
            row = convert(rec)
        except RecordError as exc:
            rejects.append(_reject(task, entity, i, s, task.data[s:e], str(exc)))
            continue
        rows.append(row + (task.source_file, task.first_ordinal + i, task.offset + s))
    records = []
    root = None
    table = _to_table(rows, task, entity, rejects)
    rejects.sort(key=lambda r: r["ordinal"])
    result = ChunkResult(task.index, len(spans), table.num_rows, rejects)
    if task.part_path is None:
        result.table = table
    elif table.num_rows:
        pq.write_table(table, task.part_path, compression=DEFAULT_COMPRESSION)
        result.part_path = task.part_path
    return result


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
