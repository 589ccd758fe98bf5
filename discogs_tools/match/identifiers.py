"""Identifiers first: releases named by a track's ISRC, barcode or catalogue number.

Where both sides carry an identifier, it is a stronger statement than any text similarity:
a tagged barcode or catalogue number names the release the file came from, an ISRC the
recording. Discogs keeps them per release: ``identifiers`` entries of type ``Barcode`` and
``ISRC`` and the ``catno`` of every label. :func:`release_matches` finds, in one scan of
``discogs/releases``, every release whose identifier equals one of the collection's (after
:func:`normal_code`: letters and digits, upper case; barcodes also without leading zeros, so
UPC-A and EAN-13 forms agree). The engine then links, in each such release, the track whose
title matches (:mod:`.engine`, step 4), with method ``isrc``, ``barcode`` or ``catno``.

Precedence when several name a release for one track: ISRC, barcode, catalogue number, then
the Discogs release id tag (method ``id``), then text. A catalogue number is reused across
labels ("CD 1"), so its release also needs the artist to agree.

The scan reads only the collection's identifiers into memory (a few per track) and streams the
releases' nested columns through DuckDB.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..io import iter_batches, parquet_glob

METHODS = ("isrc", "barcode", "catno")
"""Link methods of identifier links, strongest first."""

RANK = {"override": -1, "isrc": 0, "barcode": 1, "catno": 2, "id": 3}
"""Precedence of the methods that link whatever the text score (lower wins; a user's forced
link, :mod:`.overrides`, before everything)."""

_NOT_CODE = re.compile(r"[^0-9A-Z]+")


def normal_code(value: str | None, kind: str) -> str | None:
    """Comparable form of an identifier: ``"0 9362-47555-2 4"`` -> ``"936247555 24"`` minus spaces."""
    if not value:
        return None
    code = _NOT_CODE.sub("", str(value).upper())
    if kind == "barcode":
        code = code.lstrip("0")
        if not code.isdigit() or len(code) < 6:
            return None
    if kind == "catno" and (len(code) < 2 or code in ("NONE", "NA")):
        return None
    if kind == "isrc" and len(code) != 12:
        return None
    return code or None


def collection_codes(collection: Path) -> pa.Table:
    """(track_id, kind, code) of every identifier tagged in the collection."""
    rows: dict[str, list[str]] = {"track_id": [], "kind": [], "code": []}
    for batch in iter_batches(collection, columns=["track_id", "isrc", "barcode", "catalog_number"], batch_size=50_000):
        cols = batch.to_pydict()
        for kind, column in (("isrc", "isrc"), ("barcode", "barcode"), ("catno", "catalog_number")):
            for tid, value in zip(cols["track_id"], cols[column]):
                code = normal_code(value, kind)
                if code:
                    rows["track_id"].append(tid)
                    rows["kind"].append(kind)
                    rows["code"].append(code)
    return pa.table(rows, schema=pa.schema([("track_id", pa.string()), ("kind", pa.string()), ("code", pa.string())]))


_SQL_CODE = "regexp_replace(upper(coalesce({x}, '')), '[^0-9A-Z]+', '', 'g')"


def release_matches(con: Any, collection: Path, releases: Path) -> dict[str, list[tuple[int, str]]]:
    """track_id -> [(release_id, method), ...] of releases sharing an identifier, strongest first."""
    codes = collection_codes(collection)
    if codes.num_rows == 0:
        return {}
    con.register("collection_codes", codes)
    barcode = _SQL_CODE.format(x="i.value")
    try:
        rows = con.execute(f"""
            with ids as (
                select release_id, lower(i.type) as type, {barcode} as code
                from (select release_id, unnest(identifiers) as i from read_parquet('{parquet_glob(releases)}'))
                where lower(i.type) in ('barcode', 'isrc')
            ), rel as (
                select release_id, 'barcode' as kind, ltrim(code, '0') as code from ids where type = 'barcode'
                union all
                select release_id, 'isrc' as kind, code from ids where type = 'isrc'
                union all
                select release_id, 'catno' as kind, {_SQL_CODE.format(x="l.catno")} as code
                from (select release_id, unnest(labels) as l from read_parquet('{parquet_glob(releases)}'))
            )
            select distinct c.track_id, rel.release_id, c.kind
            from collection_codes c join rel on rel.kind = c.kind and rel.code = c.code
            order by c.track_id, rel.release_id, c.kind
        """).fetchall()
    finally:
        con.unregister("collection_codes")
    out: dict[str, dict[int, str]] = {}
    for tid, rid, kind in rows:
        best = out.setdefault(tid, {})
        if rid not in best or RANK[kind] < RANK[best[rid]]:
            best[rid] = kind
    return {tid: sorted(found.items(), key=lambda x: (RANK[x[1]], x[0])) for tid, found in out.items()}
