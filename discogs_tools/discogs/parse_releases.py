"""One ``<release>`` element -> one row of ``discogs/releases`` (a tuple in schema column order).

Handles every dump era: 2013-era labels without ids and ``<master_id>`` without
``is_main_release``; 2020-era empty ``<anv/><join/><role/><tracks/>``; 2025-era omitted empty
elements and no ``<images>``; ``<sub_tracks>``, headings, ``<series>``, companies, identifiers.
"""

from __future__ import annotations

from typing import Any

from .elements import (bool_value, credits, duration_seconds, extra_json, id_value, images, int_value, leaf_text,
                       leftovers, record_key, repeated, strings, unknown, videos, year_of)

RECORD_TAG = "release"

# Attributes each element may carry; anything else is kept in `extra` (see chunk.find_anomalies).
# The attributes the converter reads, by (parent tag, tag); "" is the record element itself.
# Any other attribute (on any element) goes to ``extra`` (see elements.leftovers), and
# the compiled walker declines records that have one.
ATTRIBUTES: dict[tuple[str, str], frozenset[str]] = {
    ("", "release"): frozenset({"id", "status"}),
    ("release", "master_id"): frozenset({"is_main_release"}),
    ("labels", "label"): frozenset({"name", "catno", "id"}),
    ("series", "series"): frozenset({"name", "catno", "id"}),
    ("formats", "format"): frozenset({"name", "qty", "text"}),
    ("identifiers", "identifier"): frozenset({"type", "description", "value"}),
    ("videos", "video"): frozenset({"src", "duration", "embed"}),
    ("images", "image"): frozenset({"type", "uri", "uri150", "width", "height"}),
}
# Elements whose own text the converter does not read (containers, attribute-only elements):
# text other than whitespace directly inside them (or the record) goes to ``extra``.
NO_TEXT = frozenset({
    "images", "image", "artists", "extraartists", "artist", "labels", "label", "series", "formats", "format",
    "descriptions", "genres", "styles", "tracklist", "track", "sub_tracks", "identifiers", "identifier",
    "videos", "video", "companies", "company",
})

_SCALARS = ("title", "country", "released", "data_quality", "notes")
_COMPANY_TEXT = ("name", "catno", "entity_type_name", "resource_url")


def _label_refs(container: Any, child_tag: str, extra: list) -> list[dict[str, Any]]:
    """``<labels><label name catno id/>`` (also ``<series><series .../>``)."""
    out = []
    for c in container:
        if c.tag != child_tag:
            unknown(extra, c)
            continue
        get = c.get
        out.append({"id": id_value(extra, c, "id"), "name": get("name"), "catno": get("catno")})
        if len(c):
            for sub in c:
                unknown(extra, sub)
    return out


def _formats(container: Any, extra: list) -> list[dict[str, Any]]:
    out = []
    for f in container:
        if f.tag != "format":
            unknown(extra, f)
            continue
        get = f.get
        descriptions = None
        for c in f:
            if c.tag == "descriptions" and descriptions is None:
                descriptions = strings(c, "description", extra)
            else:
                unknown(extra, c)
        out.append({"name": get("name"), "qty": get("qty"), "text": get("text"), "descriptions": descriptions})
    return out


def _identifiers(container: Any, extra: list) -> list[dict[str, Any]]:
    out = []
    for c in container:
        if c.tag != "identifier":
            unknown(extra, c)
            continue
        get = c.get
        out.append({"type": get("type"), "description": get("description"), "value": get("value")})
        if len(c):
            for sub in c:
                unknown(extra, sub)
    return out


def _companies(container: Any, extra: list) -> list[dict[str, Any]]:
    out = []
    for co in container:
        if co.tag != "company":
            unknown(extra, co)
            continue
        d: dict[str, Any] = {"id": None, "name": None, "catno": None, "entity_type": None,
                             "entity_type_name": None, "resource_url": None}
        id_seen = type_seen = False
        for c in co:
            tag = c.tag
            if tag in _COMPANY_TEXT:
                if d[tag] is not None:
                    repeated(extra, c)
                else:
                    d[tag] = leaf_text(c)
            elif tag == "id" and not id_seen:
                id_seen = True
                d["id"] = id_value(extra, c)
            elif tag == "entity_type" and not type_seen:
                type_seen = True
                d["entity_type"] = int_value(extra, c, bits=32)
            else:
                unknown(extra, c)
        out.append(d)
    return out


def track(t: Any, extra: list, nested: bool = False) -> dict[str, Any]:
    """One ``<track>``; ``nested`` for a sub-track (which has no sub_tracks of its own)."""
    d: dict[str, Any] = {"position": None, "type_": None, "title": None, "duration": None, "duration_s": None,
                         "artists": None, "extraartists": None}
    sub = None
    for c in t:
        tag = c.tag
        if tag == "position" or tag == "title" or tag == "duration" or tag == "type_":
            if d[tag] is not None:
                repeated(extra, c)
            else:
                v = c.text
                d[tag] = "" if v is None else v
        elif (tag == "artists" or tag == "extraartists") and d[tag] is None:
            d[tag] = credits(c, extra)
        elif tag == "sub_tracks" and not nested and sub is None:
            sub = []
            for s in c:
                if s.tag == "track":
                    sub.append(track(s, extra, nested=True))
                else:
                    unknown(extra, s)
        else:
            unknown(extra, c)
    d["duration_s"] = duration_seconds(d["duration"])
    if d["type_"] is None:
        if sub:
            d["type_"] = "index"
        elif not d["position"] and not d["duration"]:
            d["type_"] = "heading"
        else:
            d["type_"] = "track"
    if not nested:
        d["sub_tracks"] = sub
    return d


def convert(rec: Any) -> tuple:
    """Row of ``discogs/releases`` (without the provenance columns) from a ``<release>``."""
    extra: list[dict[str, Any]] = []
    get = rec.get
    release_id = record_key(extra, rec, "id", "<release> id")
    s: dict[str, Any] = {"title": None, "country": None, "released": None, "data_quality": None, "notes": None}
    master_id = is_main = None
    master_seen = False
    artists = extraartists = labels = series = formats = genres = styles = None
    tracklist = identifiers = companies = vids = imgs = None
    for c in rec:
        tag = c.tag
        if tag in s:
            if s[tag] is not None:
                repeated(extra, c)
            else:
                t = c.text
                s[tag] = "" if t is None else t
        elif tag == "artists" and artists is None:
            artists = credits(c, extra)
        elif tag == "extraartists" and extraartists is None:
            extraartists = credits(c, extra)
        elif tag == "tracklist" and tracklist is None:
            tracklist = []
            for t in c:
                if t.tag == "track":
                    tracklist.append(track(t, extra))
                else:
                    unknown(extra, t)
        elif tag == "labels" and labels is None:
            labels = _label_refs(c, "label", extra)
        elif tag == "formats" and formats is None:
            formats = _formats(c, extra)
        elif tag == "genres" and genres is None:
            genres = strings(c, "genre", extra)
        elif tag == "styles" and styles is None:
            styles = strings(c, "style", extra)
        elif tag == "master_id" and not master_seen:
            master_seen = True
            master_id = id_value(extra, c)
            is_main = bool_value(extra, c, "is_main_release")
        elif tag == "identifiers" and identifiers is None:
            identifiers = _identifiers(c, extra)
        elif tag == "companies" and companies is None:
            companies = _companies(c, extra)
        elif tag == "videos" and vids is None:
            vids = videos(c, extra)
        elif tag == "images" and imgs is None:
            imgs = images(c, extra)
        elif tag == "series" and series is None:
            series = _label_refs(c, "series", extra)
        else:
            unknown(extra, c)
    released = s["released"]
    leftovers(rec, extra, ATTRIBUTES, NO_TEXT)
    return (release_id, get("status"), s["title"], s["country"], released, year_of(released), master_id, is_main,
            s["data_quality"], s["notes"], artists, extraartists, labels, series, formats, genres, styles,
            tracklist, identifiers, companies, vids, imgs, extra_json(extra))
