"""One ``<label>`` element -> one row of ``discogs/labels`` (a tuple in schema column order).

``<label>`` also occurs inside a label (``<sublabels><label id="2">Name</label>``), which is why
the labels dump is split with a nesting-aware scanner (see :mod:`.stream`).
"""

from __future__ import annotations

from typing import Any

from .elements import (RecordError, extra_json, id_names, id_value, images, leftovers, record_key, repeated, strings,
                       unknown)

RECORD_TAG = "label"

# The attributes the converter reads, by (parent tag, tag); "" is the record element itself.
# Any other attribute (on any element) goes to ``extra`` (see elements.leftovers), and
# the compiled walker declines records that have one.
ATTRIBUTES: dict[tuple[str, str], frozenset[str]] = {
    ("sublabels", "label"): frozenset({"id"}),
    ("label", "parentLabel"): frozenset({"id"}),
    ("images", "image"): frozenset({"type", "uri", "uri150", "width", "height"}),
}
# Elements whose own text the converter does not read (containers, attribute-only elements):
# text other than whitespace directly inside them (or the record) goes to ``extra``.
NO_TEXT = frozenset({"images", "image", "urls", "sublabels"})


def convert(rec: Any) -> tuple:
    """Row of ``discogs/labels`` (without the provenance columns) from a ``<label>``."""
    extra: list[dict[str, Any]] = []
    s: dict[str, Any] = {"name": None, "contactinfo": None, "profile": None, "data_quality": None}
    label_id = None
    urls = parent = sublabels = imgs = None
    for c in rec:
        tag = c.tag
        if tag == "id":
            if label_id is not None:
                repeated(extra, c)
            else:
                label_id = record_key(extra, c, None, "label <id>", text=c.text or "")
        elif tag in s:
            if s[tag] is not None:
                repeated(extra, c)
            else:
                t = c.text
                s[tag] = "" if t is None else t
        elif tag == "sublabels" and sublabels is None:
            sublabels = id_names(c, "label", extra)
        elif tag == "parentLabel" and parent is None:
            t = c.text
            parent = {"id": id_value(extra, c, "id"), "name": "" if t is None else t}
        elif tag == "urls" and urls is None:
            urls = strings(c, "url", extra)
        elif tag == "images" and imgs is None:
            imgs = images(c, extra)
        else:
            unknown(extra, c)
    if label_id is None:
        raise RecordError("<label> has no <id>")
    leftovers(rec, extra, ATTRIBUTES, NO_TEXT)
    return (label_id, s["name"], s["contactinfo"], s["profile"], s["data_quality"], urls, parent, sublabels, imgs,
            extra_json(extra))
