"""One ``<master>`` element -> one row of ``discogs/masters`` (a tuple in schema column order)."""

from __future__ import annotations

from typing import Any

from .elements import (credits, extra_json, id_value, images, int_value, leftovers, record_key, repeated, strings,
                       unknown, videos)

RECORD_TAG = "master"

# The attributes the converter reads, by (parent tag, tag); "" is the record element itself.
# Any other attribute (on any element) goes to ``extra`` (see elements.leftovers), and
# the compiled walker declines records that have one.
ATTRIBUTES: dict[tuple[str, str], frozenset[str]] = {
    ("", "master"): frozenset({"id"}),
    ("videos", "video"): frozenset({"src", "duration", "embed"}),
    ("images", "image"): frozenset({"type", "uri", "uri150", "width", "height"}),
}
# Elements whose own text the converter does not read (containers, attribute-only elements):
# text other than whitespace directly inside them (or the record) goes to ``extra``.
NO_TEXT = frozenset({"images", "image", "artists", "artist", "genres", "styles", "videos", "video"})


def convert(rec: Any) -> tuple:
    """Row of ``discogs/masters`` (without the provenance columns) from a ``<master>``."""
    extra: list[dict[str, Any]] = []
    master_id = record_key(extra, rec, "id", "<master> id")
    s: dict[str, Any] = {"title": None, "data_quality": None, "notes": None}
    main_release = year = None
    main_seen = year_seen = False
    artists = genres = styles = vids = imgs = None
    for c in rec:
        tag = c.tag
        if tag == "main_release" and not main_seen:
            main_seen = True
            main_release = id_value(extra, c)
        elif tag == "year" and not year_seen:  # 0: no year (null, the 0 kept in extra)
            year_seen = True
            year = int_value(extra, c, bits=32, zero_is_null=True)
        elif tag in s:
            if s[tag] is not None:
                repeated(extra, c)
            else:
                t = c.text
                s[tag] = "" if t is None else t
        elif tag == "artists" and artists is None:
            artists = credits(c, extra)
        elif tag == "genres" and genres is None:
            genres = strings(c, "genre", extra)
        elif tag == "styles" and styles is None:
            styles = strings(c, "style", extra)
        elif tag == "videos" and vids is None:
            vids = videos(c, extra)
        elif tag == "images" and imgs is None:
            imgs = images(c, extra)
        else:
            unknown(extra, c)
    leftovers(rec, extra, ATTRIBUTES, NO_TEXT)
    return (master_id, main_release, s["title"], year, s["data_quality"],
            s["notes"], artists, genres, styles, vids, imgs, extra_json(extra))
