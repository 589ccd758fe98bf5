"""Converters for the elements shared by the four dumps, and the ``extra`` column.

Conventions (the same in every table):

- An element present but empty (``<anv/>``) gives ``""``; an omitted one gives null. Dumps
  from 2025 on omit empty elements that older dumps wrote, and the two are kept apart.
- Ids are int64; a missing, empty or 0 id (Discogs's way of saying "no entity") is null, and
  a 0 or empty one keeps its source text in ``extra`` (see :func:`int_value`), so the three
  stay apart.
- Anything the schema has no column for (an unknown element or attribute, text between
  elements, a repeated single-valued element) goes to the record's ``extra`` list, as
  ``{"path": "tracklist/track[2]/foo", "xml": "<foo>...</foo>"}`` (or ``"attr"``/``"value"``,
  or ``"text"``), so nothing in a dump is dropped silently.

A number or boolean that does not parse leaves its column null and keeps its text in
``extra`` with the reason (``{"path", "raw", "error"}``); a spelling that differs from the
value's (``00239``, ``TRUE``, an empty attribute, an id of 0) is kept the same way, without
``error``. Only a record without a usable id of its own raises :class:`RecordError`, which
makes the record a reject.
"""

from __future__ import annotations

import json
import re
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


# Numbers and booleans. A value's *canonical* spelling is what the column value reads back as
# (str(int), 'true'/'false'; an absent one for null). When the source spelling differs (a 0 id
# or year the column holds as null, '00239', ' 12', 'TRUE', an empty attribute) the column gets
# the value and ``extra`` the raw text, ``{"path", "raw"}`` (plus ``"attr"`` for an attribute),
# so 0, empty and absent stay apart. A value that does not parse (or does not fit its column)
# leaves the column null and its entry says why: ``{"path", "raw", "error"}``; the record is
# kept. Only a record's own id is required: without a usable one the record is a reject.

INT_LIMITS = {64: (-(1 << 63), (1 << 63) - 1), 32: (-(1 << 31), (1 << 31) - 1)}
_INT_SPELLING = re.compile(r"[ \t\r\n]*[+-]?[0-9]+[ \t\r\n]*")  # ASCII digits only
ERROR_KEY = "error"


def parse_int(text: str, bits: int = 64) -> tuple[int | None, str | None]:
    """(value, None), or (None, why) when ``text`` is not an integer that fits ``bits`` bits.
    An integer is ASCII digits with an optional sign and surrounding XML whitespace."""
    if not _INT_SPELLING.fullmatch(text):
        return None, "not an integer"
    value = int(text)
    low, high = INT_LIMITS[bits]
    if not low <= value <= high:
        return None, f"out of range (int{bits})"
    return value, None


def note(extra: list[dict[str, Any]], el: Any, attr: str | None, raw: str, error: str | None = None) -> None:
    """Keep the source spelling ``raw`` of the value of ``el`` (or of its attribute ``attr``)."""
    entry: dict[str, Any] = {"path": element_path(el), "raw": raw}
    if attr is not None:
        entry["attr"] = attr
    if error is not None:
        entry[ERROR_KEY] = error
    extra.append(entry)


def int_value(extra: list[dict[str, Any]], el: Any, attr: str | None = None, *, bits: int = 64,
              zero_is_null: bool = False, text: str | None = None) -> int | None:
    """The integer value of ``el``'s text (or of its attribute ``attr``); None when absent.
    ``zero_is_null``: 0 means "none" (Discogs ids, a master's year) and is stored as null.
    A spelling that differs from the value's (see above) is noted in ``extra``. ``text`` is
    the element's text when the caller already read it."""
    if attr is not None:
        text = el.get(attr)
        if text is None:
            return None
    elif text is None:
        text = el.text or ""
    if text and text[0] != "0" and len(text) < 10 and text.isdigit() and text.isascii():
        return int(text)  # the common case: canonical, fits int32
    if text == "":
        note(extra, el, attr, text)
        return None
    value, error = parse_int(text, bits)
    if error is not None:
        note(extra, el, attr, text, error)
        return None
    if value == 0 and zero_is_null:
        note(extra, el, attr, text)
        return None
    if str(value) != text:
        note(extra, el, attr, text)
    return value


def id_value(extra: list[dict[str, Any]], el: Any, attr: str | None = None, *, text: str | None = None) -> int | None:
    """A Discogs id (int64, 0 means none): :func:`int_value` with ``zero_is_null``."""
    return int_value(extra, el, attr, zero_is_null=True, text=text)


def bool_value(extra: list[dict[str, Any]], el: Any, attr: str) -> bool | None:
    """'true'/'false' of attribute ``attr`` (None when absent); other spellings of the two
    ('TRUE', ' true') are noted in ``extra``, anything else is null with an error entry."""
    text = el.get(attr)
    if text is None:
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    low = text.strip(_BLANK).lower()
    value = True if low == "true" else False if low == "false" else None
    note(extra, el, attr, text, None if value is not None or text == "" else "not 'true' or 'false'")
    return value


def record_key(extra: list[dict[str, Any]], el: Any, attr: str | None, what: str, text: str | None = None) -> int:
    """The record's own id (required): its value, or :class:`RecordError` (the record is a
    reject) when it is missing, empty, 0 or not an int64; other spellings are noted."""
    raw = el.get(attr) if attr is not None else text
    if raw is None:
        raise RecordError(f"{what} is missing")
    value, error = parse_int(raw) if raw else (None, "empty")
    if error is not None:
        raise RecordError(f"{what} {raw[:60]!r}: {error}")
    if value is None or value <= 0:
        raise RecordError(f"{what} is {raw[:60]!r}: not a Discogs id")
    if str(value) != raw:
        note(extra, el, attr, raw)
    return value


def count_unparsed(extra_json_text: str | None) -> int:
    """How many values of a row's ``extra`` did not parse (entries with an ``error``)."""
    return extra_json_text.count(f'"{ERROR_KEY}": ') if extra_json_text else 0


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
                d["id"] = id_value(extra, c)
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
                    "width": int_value(extra, im, "width", bits=32), "height": int_value(extra, im, "height", bits=32)})
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
        d: dict[str, Any] = {"src": get("src"), "duration": int_value(extra, v, "duration", bits=32),
                             "embed": bool_value(extra, v, "embed"), "title": None, "description": None}
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
        out.append({"id": id_value(extra, c, "id"), "name": "" if t is None else t})
    return out
