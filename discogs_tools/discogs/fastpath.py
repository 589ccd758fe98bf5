"""The optional fast path: the compiled walker (:mod:`._walk`) -> Arrow columns of a chunk.

The walker reads the parsed records at C speed and declines any record it cannot convert
exactly as the Python converters do (see its docstring); the caller converts those with the
converters. By default the records are not parsed into lxml trees at all: :func:`walk_batch`
builds them one at a time from libxml2's SAX events (see ``_walk.walk_bytes``). This module wraps the walker's column buffers as the schema's Arrow arrays. The fast path
is used when the extension was compiled (``pip install -e .`` builds it when a C compiler is
present), was compiled against the lxml that is installed, and is not switched off with the
environment variable ``DISCOGS_TOOLS_NO_FAST_PATH=1``; otherwise everything goes through the
converters, with the same result, about 3.5x slower.
"""

from __future__ import annotations

import os
from typing import Any

import lxml
import pyarrow as pa
import pyarrow.compute as pc

try:
    from . import _walk
except ImportError:  # not compiled: pure-Python path
    _walk = None  # type: ignore[assignment]


def unavailable_reason() -> str | None:
    """Why the fast path is off in this process (None when it is on)."""
    if _walk is None:
        return "the compiled walker was not built (no C compiler or Cython at install time)"
    if os.environ.get("DISCOGS_TOOLS_NO_FAST_PATH", "") not in ("", "0"):
        return "switched off by DISCOGS_TOOLS_NO_FAST_PATH"
    if _walk.LXML_VERSION != lxml.__version__:  # struct layouts must match the lxml it was built for
        return (f"the compiled walker was built for lxml {_walk.LXML_VERSION}, lxml {lxml.__version__} is installed "
                "(reinstall discogs-tools to rebuild it)")
    return None


def enabled(entity: str) -> bool:
    """Whether ``entity`` chunks take the fast path in this process."""
    return entity in _COLUMNS and unavailable_reason() is None


def new_walker(entity: str) -> Any:
    """An empty walker of ``entity``. Each ``walker.walk(records)`` call appends the accepted
    records of ``records`` ((index, lxml element) pairs, in order) to its column buffers and
    lists them in ``walker.index``, the others in ``walker.declined``. It keeps no reference
    to the elements, so a tree can be freed once it was walked (a chunk is parsed and walked
    a batch of records at a time)."""
    return _WALKERS[entity]()


def tree_free(entity: str, declaration: bytes) -> bool:
    """Whether ``entity`` chunks are parsed without building trees (:func:`walk_batch`): the
    fast path is on, libxml2's push parser was found in lxml, the chunk is UTF-8 (no XML
    declaration to pass on) and ``DISCOGS_TOOLS_NO_TREE_FREE=1`` is not set (for comparisons)."""
    return (enabled(entity) and not declaration and getattr(_walk, "sax_available", lambda: False)()
            and os.environ.get("DISCOGS_TOOLS_NO_TREE_FREE", "") in ("", "0"))


def walk_batch(walker: Any, data: bytes, spans: list[tuple[int, int]], batch: range, entity: Any) -> bool:
    """Walk the records ``batch`` of a chunk (``spans`` of ``data``) straight from libxml2's
    SAX events, without an lxml tree (see ``_walk.walk_bytes``). False, with nothing added to
    the walker, when the batch is not plain well-formed records: then parse it into a tree."""
    return _walk.walk_bytes(walker, data, spans[batch.start][0], spans[batch.stop - 1][1], batch.start, len(batch),
                            entity.root_tag, entity.record_tag)


def columns(entity: str, walker: Any, schema: pa.Schema) -> dict[str, pa.Array]:
    """The Arrow columns (all but provenance) of what ``walker`` accepted. Raises
    ``pa.ArrowInvalid`` when a value does not fit its column (e.g. int32 overflow)."""
    return _COLUMNS[entity](walker, schema)


def walk(entity: str, records: list[tuple[int, Any]], schema: pa.Schema) -> tuple[dict[str, pa.Array], list[int], list[int]]:
    """Columns (all but provenance) of the records the walker accepts, their indices, and the
    indices of the declined ones, in one call (see :func:`new_walker`, :func:`columns`)."""
    walker = new_walker(entity)
    walker.walk(records)
    return columns(entity, walker, schema), walker.index, walker.declined


# ---------------------------------------------------------------------------------------------
# Arrow arrays from the walker's columns (each column's ``to_arrow()`` wraps its buffers)


def _int(col: Any, type_: pa.DataType) -> pa.Array:
    arr = col.to_arrow()
    return arr if type_ == pa.int64() else arr.cast(type_)  # safe cast: overflow raises ArrowInvalid


def _list(counts: Any, values: pa.Array, type_: pa.ListType) -> pa.Array:
    return counts.to_arrow(values, type_)


def _struct(arrays: list[pa.Array], type_: pa.StructType) -> pa.StructArray:
    return pa.StructArray.from_arrays(arrays, fields=list(type_))


def _credits(counts: Any, c: Any, type_: pa.ListType) -> pa.Array:
    values = _struct([c.id.to_arrow(), c.name.to_arrow(), c.anv.to_arrow(), c.join.to_arrow(), c.role.to_arrow(),
                      c.tracks.to_arrow()], type_.value_type)
    return _list(counts, values, type_)


def _images(counts: Any, im: Any, type_: pa.ListType) -> pa.Array:
    st = type_.value_type
    values = _struct([im.type.to_arrow(), im.uri.to_arrow(), im.uri150.to_arrow(), _int(im.width, st.field("width").type),
                      _int(im.height, st.field("height").type)], st)
    return _list(counts, values, type_)


def _videos(counts: Any, v: Any, type_: pa.ListType) -> pa.Array:
    st = type_.value_type
    values = _struct([v.src.to_arrow(), _int(v.duration, st.field("duration").type), v.embed.to_arrow(),
                      v.title.to_arrow(), v.description.to_arrow()], st)
    return _list(counts, values, type_)


def _strings(counts: Any, s: Any, type_: pa.ListType) -> pa.Array:
    return _list(counts, s.value.to_arrow(), type_)


def _tracks(t: Any, type_: pa.StructType) -> pa.StructArray:
    arrays = [t.position.to_arrow(), t.type_.to_arrow(), t.title.to_arrow(), t.duration.to_arrow(),
              t.duration_s.to_arrow(), _credits(t.artists_n, t.artists, type_.field("artists").type),
              _credits(t.extraartists_n, t.extraartists, type_.field("extraartists").type)]
    if t.sub is not None:
        sub_type = type_.field("sub_tracks").type
        arrays.append(_list(t.sub_tracks_n, _tracks(t.sub, sub_type.value_type), sub_type))
    return _struct(arrays, type_)


def _label_refs(counts: Any, refs: Any, type_: pa.ListType) -> pa.Array:
    values = _struct([refs.id.to_arrow(), refs.name.to_arrow(), refs.catno.to_arrow()], type_.value_type)
    return _list(counts, values, type_)


def _release_columns(w: Any, schema: pa.Schema) -> dict[str, pa.Array]:
    t = {f.name: f.type for f in schema}
    fmt = w.formats
    fmt_type = t["formats"].value_type
    formats = _struct([fmt.name.to_arrow(), fmt.qty.to_arrow(), fmt.text.to_arrow(),
                       _strings(fmt.descriptions_n, fmt.descriptions, fmt_type.field("descriptions").type)], fmt_type)
    idf = w.identifiers
    co = w.companies
    co_type = t["companies"].value_type
    return {
        "release_id": w.release_id.to_arrow(),
        "status": w.status.to_arrow(), "title": w.title.to_arrow(), "country": w.country.to_arrow(),
        "released": w.released.to_arrow(), "year": _int(w.year, t["year"]),
        "master_id": w.master_id.to_arrow(), "is_main_release": w.is_main_release.to_arrow(),
        "data_quality": w.data_quality.to_arrow(), "notes": w.notes.to_arrow(),
        "artists": _credits(w.artists_n, w.artists, t["artists"]),
        "extraartists": _credits(w.extraartists_n, w.extraartists, t["extraartists"]),
        "labels": _label_refs(w.labels_n, w.labels, t["labels"]),
        "series": _label_refs(w.series_n, w.series, t["series"]),
        "formats": _list(w.formats_n, formats, t["formats"]),
        "genres": _strings(w.genres_n, w.genres, t["genres"]),
        "styles": _strings(w.styles_n, w.styles, t["styles"]),
        "tracklist": _list(w.tracklist_n, _tracks(w.tracklist, t["tracklist"].value_type), t["tracklist"]),
        "identifiers": _list(w.identifiers_n, _struct([idf.type.to_arrow(), idf.description.to_arrow(),
                                                       idf.value.to_arrow()], t["identifiers"].value_type),
                             t["identifiers"]),
        "companies": _list(w.companies_n, _struct(
            [co.id.to_arrow(), co.name.to_arrow(), co.catno.to_arrow(), _int(co.entity_type, co_type.field("entity_type").type),
             co.entity_type_name.to_arrow(), co.resource_url.to_arrow()], co_type), t["companies"]),
        "videos": _videos(w.videos_n, w.videos, t["videos"]),
        "images": _images(w.images_n, w.images, t["images"]),
        "extra": w.extra.to_arrow(),
    }


def _master_columns(w: Any, schema: pa.Schema) -> dict[str, pa.Array]:
    t = {f.name: f.type for f in schema}
    return {
        "master_id": w.master_id.to_arrow(),
        "main_release": w.main_release.to_arrow(),
        "title": w.title.to_arrow(),
        "year": _int(w.year, t["year"]),
        "data_quality": w.data_quality.to_arrow(), "notes": w.notes.to_arrow(),
        "artists": _credits(w.artists_n, w.artists, t["artists"]),
        "genres": _strings(w.genres_n, w.genres, t["genres"]),
        "styles": _strings(w.styles_n, w.styles, t["styles"]),
        "videos": _videos(w.videos_n, w.videos, t["videos"]),
        "images": _images(w.images_n, w.images, t["images"]),
        "extra": w.extra.to_arrow(),
    }


def _id_names(counts: Any, g: Any, type_: pa.ListType) -> pa.Array:
    return _list(counts, _struct([g.id.to_arrow(), g.name.to_arrow()], type_.value_type), type_)


def _artist_columns(w: Any, schema: pa.Schema) -> dict[str, pa.Array]:
    t = {f.name: f.type for f in schema}
    return {
        "artist_id": w.artist_id.to_arrow(),
        "name": w.name.to_arrow(), "realname": w.realname.to_arrow(), "profile": w.profile.to_arrow(),
        "data_quality": w.data_quality.to_arrow(),
        "urls": _strings(w.urls_n, w.urls, t["urls"]),
        "namevariations": _strings(w.namevariations_n, w.namevariations, t["namevariations"]),
        "aliases": _id_names(w.aliases_n, w.aliases, t["aliases"]),
        "members": _id_names(w.members_n, w.members, t["members"]),
        "groups": _id_names(w.groups_n, w.groups, t["groups"]),
        "images": _images(w.images_n, w.images, t["images"]),
        "extra": w.extra.to_arrow(),
    }


def _label_columns(w: Any, schema: pa.Schema) -> dict[str, pa.Array]:
    t = {f.name: f.type for f in schema}
    parent_mask = pc.invert(w.parent_present.to_arrow())
    parent = pa.StructArray.from_arrays([w.parent_id.to_arrow(), w.parent_name.to_arrow()],
                                        fields=list(t["parent_label"]), mask=parent_mask)
    return {
        "label_id": w.label_id.to_arrow(),
        "name": w.name.to_arrow(), "contactinfo": w.contactinfo.to_arrow(), "profile": w.profile.to_arrow(),
        "data_quality": w.data_quality.to_arrow(),
        "urls": _strings(w.urls_n, w.urls, t["urls"]),
        "parent_label": parent,
        "sublabels": _id_names(w.sublabels_n, w.sublabels, t["sublabels"]),
        "images": _images(w.images_n, w.images, t["images"]),
        "extra": w.extra.to_arrow(),
    }


_COLUMNS = {"releases": _release_columns, "masters": _master_columns, "artists": _artist_columns,
            "labels": _label_columns}
_WALKERS = {"releases": lambda: _walk.Releases(), "masters": lambda: _walk.Masters(),
            "artists": lambda: _walk.Artists(), "labels": lambda: _walk.Labels()}
