"""One ``<artist>`` element -> one row of ``discogs/artists`` (a tuple in schema column order).

Members come in three shapes: 2013-era ``<name>`` only, 2020-era ``<id>26</id><name id="26">``
pairs, 2025-era ``<name id>`` only; all become ``{id, name}`` (a lone ``<id>`` becomes a member
without a name; an ``<id>`` that disagrees with the next name's id is kept in ``extra``).
"""

from __future__ import annotations

from typing import Any

from .elements import RecordError, extra_json, id_names, images, leftovers, repeated, strings, to_id, unknown

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
                out.append({"id": to_id(pending.text, "member <id>"), "name": None})
            pending = c
        elif tag == "name":
            attr = c.get("id")
            member_id = to_id(attr, "member id")
            if pending is not None:
                id_elem = to_id(pending.text, "member <id>")
                if attr is None:
                    member_id = id_elem
                elif id_elem != member_id:
                    unknown(extra, pending)
                pending = None
            t = c.text
            out.append({"id": member_id, "name": "" if t is None else t})
        else:
            unknown(extra, c)
    if pending is not None:
        out.append({"id": to_id(pending.text, "member <id>"), "name": None})
    return out


def convert(rec: Any) -> tuple:
    """Row of ``discogs/artists`` (without the provenance columns) from an ``<artist>``."""
    extra: list[dict[str, Any]] = []
    s: dict[str, Any] = {"id": None, "name": None, "realname": None, "profile": None, "data_quality": None}
    urls = namevariations = aliases = members_ = groups = imgs = None
    for c in rec:
        tag = c.tag
        if tag in s:
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
    artist_id = to_id(s["id"], "artist <id>")
    if artist_id is None:
        raise RecordError("<artist> has no <id>")
    leftovers(rec, extra, ATTRIBUTES, NO_TEXT)
    return (artist_id, s["name"], s["realname"], s["profile"], s["data_quality"], urls, namevariations, aliases,
            members_, groups, imgs, extra_json(extra))
