"""Converters for the elements shared by the four dumps, and the ``extra`` column.

Conventions (the same in every table):

- An element present but empty (``<anv/>``) gives ``""``; an omitted one gives null. Dumps
  from 2025 on omit empty elements that older dumps wrote, and the two are kept apart.
- Ids are int64; a missing, empty or 0 id (Discogs's way of saying "no entity") is null.
- Anything the schema has no column for (an unknown element or attribute, text between
  elements, a repeated single-valued element) goes to the record's ``extra`` list, as
  ``{"path": "tracklist/track[2]/foo", "xml": "<foo>...</foo>"}`` (or ``"attr"``/``"value"``,
  or ``"text"``), so nothing in a dump is dropped silently.

A value that cannot be converted (an id that is not an integer) raises :class:`RecordError`,
which makes the record a reject.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from lxml import etree


class RecordError(ValueError):
    """A record that parsed as XML but cannot be converted (the reason is the message)."""


def element_path(el: Any) -> str:
    """XPath-like path of an element relative to its record, e.g. ``tracklist/track[3]/title``."""
    steps = []
    parent = el.getparent()
    while parent is not None and parent.getparent() is not None:
        tag = el.tag if isinstance(el.tag, str) else "comment()"
        same = [c for c in parent if c.tag == el.tag]
        steps.append(f"{tag}[{same.index(el) + 1}]" if len(same) > 1 else tag)
        el, parent = parent, parent.getparent()
    return "/".join(reversed(steps))


def unknown(extra: list[dict[str, Any]], el: Any) -> None:
    """Keep an element the schema does not know (or a comment) in ``extra`` as its XML."""
    extra.append({"path": element_path(el), "xml": etree.tostring(el, encoding="unicode", with_tail=False)})


_BLANK = " \t\r\n"  # XML whitespace: formatting between elements, not data
_NONE: frozenset[str] = frozenset()


def leftovers(rec: Any, extra: list[dict[str, Any]], attributes: dict[tuple[str, str], frozenset[str]],
              no_text: frozenset[str]) -> None:
    """Keep in ``extra`` what the converter of ``rec`` did not read, element by element in
    document order:

    - attributes other than ``attributes[(parent tag, tag)]`` ("" as parent: the record element
      itself), as ``{"path", "attr", "value"}``;
    - text that is not only whitespace directly inside the record or an element of ``no_text``
      (containers and attribute-only elements, whose own text has no column), as
      ``{"path", "text"}`` (the path of the element the text is in);
    - in any other element (a leaf: its leading text is the column value), every child node
      (element, comment, ...) as ``{"path", "xml"}`` and the text after it as ``{"path", "text"}``.

    Elements already in ``extra`` as XML (unknown, repeated, comments) are skipped with
    everything inside them. The compiled walker declines exactly the records this would add
    something to (:class:`._walk.AttrRules` and its container loops)."""
    # One pass over the nodes with as few calls per element as possible (this runs for every
    # record on the Python path); the rare findings get their paths and order at the end.
    found: list[tuple[int, Any, dict[str, Any]]] = []  # (element order, element, entry)
    containers: dict[Any, int] = {}  # container element -> its order (for its children's tails)
    order = 0
    for el in rec.iter():
        tag = el.tag
        if tag.__class__ is str:
            order += 1
            keys = el.keys()
            if keys:
                parent = "" if el is rec else el.getparent().tag
                allowed = attributes.get((parent, tag), _NONE)
                for name in keys:
                    if name not in allowed:
                        found.append((order, el, {"attr": name, "value": el.get(name)}))
            if tag in no_text or el is rec:
                containers[el] = order
                t = el.text
                if t and t.strip(_BLANK):
                    found.append((order, el, {"text": t}))
            elif len(el):  # a leaf (its leading text is the value) holding elements, comments, ...
                for c in el:
                    found.append((order, c, {"xml": etree.tostring(c, encoding="unicode", with_tail=False)}))
                    if c.tail:
                        found.append((order, el, {"text": c.tail}))
        if el is not rec:
            t = el.tail  # text after a node belongs to its parent
            if t and t.strip(_BLANK):
                parent_el = el.getparent()
                if parent_el in containers:
                    found.append((containers[parent_el], parent_el, {"text": t}))
    if not found:
        return
    kept = [e["path"] for e in extra if "xml" in e]  # already in extra as XML, with their insides
    entries = [(o, element_path(el), entry) for o, el, entry in sorted(found, key=lambda x: x[0])]
    ours = [path for _, path, entry in entries if "xml" in entry and not _inside(path, kept)]
    for _, path, entry in entries:
        if _inside(path, kept) or ("xml" not in entry and _inside(path, ours)):
            continue
        extra.append({"path": path, **entry})


def _inside(path: str, kept: list[str]) -> bool:
    """Whether ``path`` is one of ``kept`` or inside one of them."""
    return any(path == k or path.startswith(k + "/") for k in kept)


def repeated(extra: list[dict[str, Any]], el: Any) -> None:
    """A second occurrence of a single-valued element: kept in ``extra`` (the first is the column)."""
    unknown(extra, el)


def extra_json(extra: list[dict[str, Any]]) -> str | None:
    """The ``extra`` column value: JSON text, or None when nothing was left over."""
    if not extra:
        return None
    return json.dumps(extra, ensure_ascii=False, sort_keys=True)


def to_int(text: str | None, what: str) -> int | None:
    """Integer value of an element or attribute; None when missing or empty."""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise RecordError(f"{what} is not an integer: {text[:60]!r}") from None


def to_id(text: str | None, what: str = "id") -> int | None:
    """A Discogs id; None when missing, empty or 0."""
    if not text:
        return None
    try:
        return int(text) or None
    except ValueError:
        raise RecordError(f"{what} is not an integer id: {text[:60]!r}") from None


def to_bool(text: str | None, what: str) -> bool | None:
    """'true'/'false' (any case) -> bool; None when missing or empty."""
    if not text:
        return None
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise RecordError(f"{what} is not 'true' or 'false': {text[:60]!r}")


@lru_cache(maxsize=1 << 16)
def duration_seconds(text: str | None) -> float | None:
    """Seconds of a track duration as written in the dumps ('4:45', '1:02:03', '62');
    None when empty or not of that form."""
    if not text:
        return None
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    total = 0
    for p in parts:
        total = total * 60 + int(p)
    return float(total)


def year_of(released: str | None) -> int | None:
    """Year from a release date as written ('1999-03-00', '1987', '2001-00-00'); None if unknown."""
    if not released or len(released) < 4:
        return None
    head = released[:4]
    if not head.isdigit() or (len(released) > 4 and released[4].isdigit()):
        return None
    year = int(head)
    return year or None


def leaf_text(el: Any) -> str:
    """Text of a leaf element: '' when empty (an omitted element is None at the caller)."""
    t = el.text
    return "" if t is None else t


_CREDIT_FIELDS = ("name", "anv", "join", "role", "tracks")


def credits(container: Any, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``<artists>``/``<extraartists>``: list of credit structs (id, name, anv, join, role, tracks)."""
    out = []
    for a in container:
        if a.tag != "artist":
            unknown(extra, a)
            continue
        d: dict[str, Any] = {"id": None, "name": None, "anv": None, "join": None, "role": None, "tracks": None}
        seen_id = False
        for c in a:
            tag = c.tag
            if tag == "id":
                if seen_id:
                    repeated(extra, c)
                    continue
                seen_id = True
                d["id"] = to_id(c.text, "artist <id>")
            elif tag in _CREDIT_FIELDS:
                if d[tag] is not None:
                    repeated(extra, c)
                    continue
                t = c.text
                d[tag] = "" if t is None else t
            else:
                unknown(extra, c)
        out.append(d)
    return out


def images(container: Any, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``<images><image type uri uri150 width height/>``."""
    out = []
    for im in container:
        if im.tag != "image":
            unknown(extra, im)
            continue
        get = im.get
        out.append({"type": get("type"), "uri": get("uri"), "uri150": get("uri150"),
                    "width": to_int(get("width"), "image width"), "height": to_int(get("height"), "image height")})
        if len(im):
            for c in im:
                unknown(extra, c)
    return out


def videos(container: Any, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``<videos><video src duration embed><title/><description/></video>``."""
    out = []
    for v in container:
        if v.tag != "video":
            unknown(extra, v)
            continue
        get = v.get
        d: dict[str, Any] = {"src": get("src"), "duration": to_int(get("duration"), "video duration"),
                             "embed": to_bool(get("embed"), "video embed"), "title": None, "description": None}
        for c in v:
            tag = c.tag
            if tag == "title" or tag == "description":
                if d[tag] is not None:
                    repeated(extra, c)
                    continue
                t = c.text
                d[tag] = "" if t is None else t
            else:
                unknown(extra, c)
        out.append(d)
    return out


def strings(container: Any, child_tag: str, extra: list[dict[str, Any]]) -> list[str]:
    """A list of text elements, e.g. ``<genres><genre>``; '' for an empty one."""
    out = []
    for c in container:
        if c.tag != child_tag:
            unknown(extra, c)
            continue
        t = c.text
        out.append("" if t is None else t)
    return out


def id_names(container: Any, child_tag: str, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``<aliases><name id="1">X</name>`` style lists -> [{id, name}]; a missing id is null."""
    out = []
    for c in container:
        if c.tag != child_tag:
            unknown(extra, c)
            continue
        t = c.text
        out.append({"id": to_id(c.get("id"), f"<{child_tag}> id"), "name": "" if t is None else t})
    return out
