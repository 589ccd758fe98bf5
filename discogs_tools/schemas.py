"""Arrow schemas of every table, declared once in ``schemas/<group>/<table>.json``.

A schema file looks like::

    {"table": "discogs/labels", "doc": "One row per label.",
     "fields": [
        {"name": "label_id", "type": "int64", "nullable": false, "doc": "Discogs label id"},
        {"name": "urls", "type": {"list": "string"}},
        {"name": "sublabels", "type": {"list": {"struct": [
            {"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]}}}
     ]}

Types are Arrow primitive names (``int8``..``int64``, ``uint*``, ``float16/32/64``, ``bool``,
``string``, ``large_string``, ``binary``, ``date32``, ``timestamp[us]``) or the objects
``{"list": T}``, ``{"fixed_list": T, "size": n}``, ``{"struct": [fields]}``,
``{"dictionary": "string"}``. Field docs feed the generated reference in docs/.

Writers call :func:`conform` on every batch: columns must match by name and order, and
values are cast to the declared types (a failing cast is an error, never a silent change).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from .errors import DiscogsToolsError
from .resources import resource_dir

_PRIMITIVES: dict[str, pa.DataType] = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "date32": pa.date32(),
    "timestamp[us]": pa.timestamp("us"),
    "timestamp[s]": pa.timestamp("s"),
}


class SchemaError(DiscogsToolsError):
    """A batch does not match its table's declared schema."""


def parse_type(spec: Any) -> pa.DataType:
    """Arrow type from its JSON description (see module docstring)."""
    if isinstance(spec, str):
        try:
            return _PRIMITIVES[spec]
        except KeyError:
            raise SchemaError(f"unknown type {spec!r}") from None
    if isinstance(spec, dict):
        if "list" in spec:
            return pa.list_(parse_type(spec["list"]))
        if "fixed_list" in spec:
            return pa.list_(parse_type(spec["fixed_list"]), int(spec["size"]))
        if "struct" in spec:
            return pa.struct([parse_field(f) for f in spec["struct"]])
        if "dictionary" in spec:
            return pa.dictionary(pa.int32(), parse_type(spec["dictionary"]))
    raise SchemaError(f"cannot parse type {spec!r}")


def parse_field(spec: dict[str, Any]) -> pa.Field:
    meta = {"doc": spec["doc"]} if spec.get("doc") else None
    return pa.field(spec["name"], parse_type(spec["type"]), nullable=spec.get("nullable", True), metadata=meta)


def schema_path(table: str) -> Path:
    return resource_dir("schemas") / f"{table}.json"


@lru_cache(maxsize=None)
def load_schema(table: str) -> pa.Schema:
    """Arrow schema of a table, e.g. ``load_schema("discogs/releases")``."""
    path = schema_path(table)
    if not path.exists():
        raise SchemaError(f"no schema declared for table {table!r} (expected {path})")
    spec = json.loads(path.read_text(encoding="utf-8"))
    meta = {"table": table}
    if spec.get("doc"):
        meta["doc"] = spec["doc"]
    return pa.schema([parse_field(f) for f in spec["fields"]], metadata=meta)


def list_tables() -> list[str]:
    """Names of every table with a declared schema (``group/table``)."""
    root = resource_dir("schemas")
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.json"))


def conform(data: pa.Table | pa.RecordBatch, schema: pa.Schema, *, table: str = "") -> pa.Table:
    """Return ``data`` as a table of exactly ``schema``, or raise :class:`SchemaError`.

    Column names and order must match; types are cast safely (no truncation or overflow);
    a non-nullable column must hold no nulls.
    """
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    name = table or (schema.metadata or {}).get(b"table", b"?").decode()
    if data.schema.names != schema.names:
        missing = [n for n in schema.names if n not in data.schema.names]
        extra = [n for n in data.schema.names if n not in schema.names]
        raise SchemaError(
            f"table {name}: columns do not match the declared schema "
            f"(missing {missing}, unexpected {extra}, order {data.schema.names})"
        )
    for field in schema:
        if not field.nullable and data.column(field.name).null_count:
            raise SchemaError(f"table {name}: column {field.name} is declared non-null but holds nulls")
    if not data.schema.equals(schema, check_metadata=False):
        try:
            data = data.cast(schema, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as exc:
            raise SchemaError(f"table {name}: cannot cast to the declared schema: {exc}") from exc
    return data.replace_schema_metadata(schema.metadata)
