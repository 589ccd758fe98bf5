"""Neighbours as text (aligned columns), JSON (one object with the query and its neighbours) or CSV."""

from __future__ import annotations

import csv
import io
import json

from .resolve import Query
from .search import Neighbour

FORMATS = ("text", "json", "csv")
COLUMNS = ("rank", "distance", "track_id", "artist", "title", "release", "year", "styles", "labels", "release_id",
           "path")


def _cut(text: object, width: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= width else s[: width - 1] + "…"


def render(query: Query, found: list[Neighbour], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps({"query": {"text": query.text, "kind": query.kind, "track_id": query.track_id,
                                     **({"info": query.info.to_dict()} if query.info else {}),
                                     "notes": query.notes},
                           "neighbours": [n.to_dict() for n in found]}, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for n in found:
            d = n.to_dict()
            w.writerow(["; ".join(d[c]) if isinstance(d[c], list) else ("" if d[c] is None else d[c]) for c in COLUMNS])
        return buf.getvalue().rstrip("\n")
    head = f"query ({query.kind}): {query.text}"
    if query.info is not None and query.info.track_id:
        head += f"  [{query.info.track_id}: {query.info.artist} - {query.info.title}]"
    lines = [head, *(f"note: {n}" for n in query.notes)]
    lines.append(f"{'#':>3} {'dist':>6}  {'artist':24} {'title':28} {'release':28} {'year':>4}  {'label':20} styles")
    for n in found:
        i = n.info
        lines.append(f"{n.rank:>3} {n.distance:6.3f}  {_cut(i.artist, 24):24} {_cut(i.title, 28):28} "
                     f"{_cut(i.release, 28):28} {i.year or '':>4}  {_cut(', '.join(i.labels), 20):20} "
                     f"{', '.join(i.styles)}")
    if not found:
        lines.append("(no neighbour)")
    return "\n".join(lines)
