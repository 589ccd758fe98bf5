"""One ``<artist>`` element -> one row of ``discogs/artists`` (a tuple in schema column order).

Members come in three shapes: 2013-era ``<name>`` only, 2020-era ``<id>26</id><name id="26">``
pairs, 2025-era ``<name id>`` only; all become ``{id, name}`` (a lone ``<id>`` becomes a member
without a name; an ``<id>`` that disagrees with the next name's id is kept in ``extra``, and one
that agrees keeps only its spelling there when that differs, e.g. ``<id>026</id>``).
"""

from __future__ import annotations

from typing import Any

from .elements import (RecordError, extra_json, id_names, id_value, images, leftovers, record_key, repeated, strings,
                       unknown)

RECORD_TAG = "artist"

# The attributes the converter reads, by (parent tag, tag); "" is the record element itself.
# Any other attribute (on any element) goes to ``extra`` (see elements.leftovers), and
# the compiled walker declines records that have one.
ATTRIBUTES: dict[tuple[str, str], frozenset[str]] = {
    ("aliases", "name"): frozenset({"id"}),
    ("members", "name"): frozenset({"id"}),
    ("groups", "name"): frozenset({"id"}),
    ("images", "image"): frozenset({"type", "uri", "uri150", "width", "height"}),
}
# Elements whose own text the converter does not read (containers, attribute-only elements):
# text other than whitespace directly inside them (or the record) goes to ``extra``.
NO_TEXT = frozenset({"images", "image", "urls", "namevariations", "aliases", "members", "groups"})


def members(container: Any, extra: list) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pending: Any = None  # an <id> element waiting for its <name>
    for c in container:
        tag = c.tag
        if tag == "id":
            if pending is not None:
                out.append({"id": id_value(extra, pending), "name": None})
            pending = c
        elif tag == "name":
            if pending is None:
                member_id = id_value(extra, c, "id")
            elif c.get("id") is None:
                member_id = id_value(extra, pending)
            else:  # both: the <id> repeats the name's id
                pending_notes: list = []
                name_notes: list = []
                id_elem = id_value(pending_notes, pending)
                member_id = id_value(name_notes, c, "id")
                if id_elem == member_id:
                    extra += pending_notes
                else:
                    unknown(extra, pending)
                extra += name_notes
            pending = None
            t = c.text
            out.append({"id": member_id, "name": "" if t is None else t})
        else:
            unknown(extra, c)
    if pending is not None:
        out.append({"id": id_value(extra, pending), "name": None})
    return out


def convert(rec: Any) -> tuple:
    """Row of ``discogs/artists`` (without the provenance columns) from an ``<artist>``."""
    extra: list[dict[str, Any]] = []
    s: dict[str, Any] = {"name": None, "realname": None, "profile": None, "data_quality": None}
    artist_id = None
    urls = namevariations = aliases = members_ = groups = imgs = None
    for c in rec:
        tag = c.tag
        if tag == "id":
            if artist_id is not None:
                repeated(extra, c)
            else:
                artist_id = record_key(extra, c, None, "artist <id>", text=c.text or "")
        elif tag in s:
            if s[tag] is not None:
                repeated(extra, c)
            else:
                t = c.text
                s[tag] = "" if t is None else t
        elif tag == "aliases" and aliases is None:
            aliases = id_names(c, "name", extra)
        elif tag == "namevariations" and namevariations is None:
            namevariations = strings(c, "name", extra)
        elif tag == "members" and members_ is None:
            members_ = members(c, extra)
        elif tag == "groups" and groups is None:
            groups = id_names(c, "name", extra)
        elif tag == "urls" and urls is None:
            urls = strings(c, "url", extra)
        elif tag == "images" and imgs is None:
            imgs = images(c, extra)
        else:
            unknown(extra, c)
    if artist_id is None:
        raise RecordError("<artist> has no <id>")
    leftovers(rec, extra, ATTRIBUTES, NO_TEXT)
    return (artist_id, s["name"], s["realname"], s["profile"], s["data_quality"], urls, namevariations, aliases,
            members_, groups, imgs, extra_json(extra))
