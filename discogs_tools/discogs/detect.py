"""Which Discogs entity a dump holds, decided from its root element (never from the file name).

A dump is ``<releases><release .../>...</releases>`` (likewise masters, artists, labels). A file
may also hold a single record as its root (``<release id="1">...</release>``), as some test
fixtures do. :func:`read_prolog` reads the start of a file up to the root start tag, checks it
and says where the first record starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Entity:
    """One kind of Discogs dump."""

    name: str          # "releases": also the table name under tables/discogs/
    record_tag: str    # "release": the element of one record
    id_column: str     # "release_id"
    nests: bool = False  # the record tag also occurs inside records (labels' <sublabels><label>)

    @property
    def table(self) -> str:
        return f"discogs/{self.name}"

    @property
    def root_tag(self) -> str:
        return self.name


ENTITIES: dict[str, Entity] = {
    "releases": Entity("releases", "release", "release_id"),
    "masters": Entity("masters", "master", "master_id"),
    "artists": Entity("artists", "artist", "artist_id"),
    "labels": Entity("labels", "label", "label_id", nests=True),
}
_BY_TAG: dict[str, tuple[Entity, bool]] = {}
for _e in ENTITIES.values():
    _BY_TAG[_e.root_tag] = (_e, False)
    _BY_TAG[_e.record_tag] = (_e, True)


@dataclass(frozen=True)
class Prolog:
    """What precedes the first record of a file."""

    entity: Entity
    single_record: bool   # the root element is itself the one record
    records_start: int    # byte offset where the records begin (after the root start tag)
    declaration: bytes    # the XML declaration (b"" if none); kept to parse chunks in its encoding
    empty_root: bool = False  # the root is self-closed (<releases/>): a dump without records


_BOM = b"\xef\xbb\xbf"
_DECL = re.compile(rb"<\?xml[^>]*\?>")
_NAME = re.compile(rb"<([A-Za-z_][\w.\-]*)")
PROLOG_LIMIT = 1 << 20  # the root start tag must appear within the first MiB


def read_prolog(head: bytes, path: str) -> Prolog:
    """Check the start of a file and find its root element.

    ``head`` is the first bytes of the (decompressed) XML, at least up to the root start
    tag when the file has one. Raises :class:`InputError` for an empty file, a file that is not
    XML, and an unknown root element.
    """
    if not head.strip():
        raise InputError(path, "file is empty (no XML root element)", offset=0)
    pos = len(_BOM) if head.startswith(_BOM) else 0
    declaration = b""
    while True:
        while pos < len(head) and head[pos] in b" \t\r\n":
            pos += 1
        if head.startswith(b"<?xml", pos):
            m = _DECL.match(head, pos)
            if not m:
                raise InputError(path, "not XML: unterminated XML declaration", offset=pos)
            declaration = m.group(0)
            pos = m.end()
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
            if end < 0:
                raise InputError(path, "not XML: unterminated comment before the root element", offset=pos)
            pos = end + 3
        elif head.startswith(b"<!DOCTYPE", pos) or head.startswith(b"<?", pos):
            end = head.find(b">", pos)
            if end < 0:
                raise InputError(path, "not XML: unterminated declaration before the root element", offset=pos)
            pos = end + 1
        else:
            break
    if pos >= len(head):
        raise InputError(path, "not XML: no root element found", offset=pos)
    m = _NAME.match(head, pos)
    if not m:
        snippet = head[pos:pos + 20].decode("utf-8", "replace")
        raise InputError(path, f"not XML: expected a root element, found {snippet!r}", offset=pos)
    tag = m.group(1).decode("ascii", "replace")
    found = _BY_TAG.get(tag)
    if found is None:
        known = ", ".join(f"<{e.root_tag}>" for e in ENTITIES.values())
        raise InputError(path, f"unknown root element <{tag}>: expected one of {known} "
                               "(or a single <release>/<master>/<artist>/<label>)", offset=pos)
    entity, single = found
    if single:
        return Prolog(entity, True, pos, declaration)
    end = head.find(b">", m.end())
    if end < 0:
        raise InputError(path, f"unterminated root start tag <{tag}", offset=pos)
    if head[end - 1:end] == b"/":
        return Prolog(entity, False, end + 1, declaration, empty_root=True)
    return Prolog(entity, False, end + 1, declaration)


def is_utf8_declaration(declaration: bytes) -> bool:
    """True when the declaration names no encoding or UTF-8 (then chunks parse without it)."""
    m = re.search(rb"encoding\s*=\s*[\"']([^\"']+)", declaration)
    return m is None or m.group(1).lower().replace(b"-", b"").replace(b"_", b"") == b"utf8"
