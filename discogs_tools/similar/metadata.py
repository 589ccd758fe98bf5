"""Artist, title, release, year, styles and label of tracks, read from the warehouse.

A track's artist and title are the collection's own tags (``collection_tracks``); its release
is the best-scoring Discogs release it was matched to (``links_track_releases``), with that
release's title and year; styles and labels are pooled over every release linked to the track,
as the associations pool them (DESIGN sec. 4), so a style filter sees all of them. A track that
was never matched has no release, year (unless its tags have one), styles or labels. Artist
identity (for "exclude the same artist") is the set of Discogs artist ids of its linked releases
and the matcher's key of its artist tag (:func:`discogs_tools.match.normalize.artist_key`).

The warehouse is opened read-only through :func:`discogs_tools.warehouse.query.connect`, which
(re)builds it first when missing or stale; lookups are one query per batch of track ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..errors import MissingInputError
from ..match.normalize import artist_key, title_key
from ..workspace import Workspace


@dataclass
class TrackInfo:
    """What a neighbour list shows about one track."""

    track_id: str
    artist: str | None = None
    title: str | None = None
    album: str | None = None
    path: str | None = None
    release_id: int | None = None
    release: str | None = None
    year: int | None = None
    styles: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    artist_ids: list[int] = field(default_factory=list)

    @property
    def artist_key(self) -> str:
        return artist_key(self.artist)

    def same_artist(self, other: "TrackInfo") -> bool:
        """Shares a Discogs artist id, or has the same normalised artist tag."""
        if set(self.artist_ids) & set(other.artist_ids):
            return True
        return bool(self.artist_key) and self.artist_key == other.artist_key

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("artist_ids")
        return d


_TRACKS_SQL = """
select track_id, artist, title, album, path, try_cast(year as integer) as tag_year
from collection_tracks where track_id in (select unnest($ids))
"""

_LINKED_SQL = """
with links as (
    select track_id, release_id, score from links_track_releases where track_id in (select unnest($ids))
),
releases as (
    select l.track_id, l.release_id, l.score, r.title, r.year, r.styles, r.labels, r.artists
    from links l join discogs_releases r using (release_id)
),
best as (
    select track_id, arg_max(release_id, score) as release_id, arg_max(title, score) as release,
           arg_max(year, score) as year
    from releases group by track_id
),
pooled as (
    select track_id,
           list_sort(list_distinct(flatten(list(coalesce(styles, []))))) as styles,
           list_sort(list_distinct(flatten(list(coalesce(list_transform(labels, lambda x: x.name), []))))) as labels,
           list_sort(list_distinct(flatten(list(coalesce(list_transform(artists, lambda x: x.id), []))))) as artist_ids
    from releases group by track_id
)
select b.track_id, b.release_id, b.release, b.year, p.styles, p.labels, p.artist_ids
from best b join pooled p using (track_id)
"""


class Metadata:
    """Track metadata from the warehouse (one read-only connection, kept open)."""

    def __init__(self, ws: Workspace, echo=None) -> None:
        from ..warehouse.query import connect

        if not ws.has_table("collection/tracks"):
            raise MissingInputError("collection tracks", ws.table("collection/tracks"),
                                    "discogs-tools ingest collection PATH")
        self.con = connect(ws, echo=echo)
        views = {r[0] for r in self.con.execute("select view_name from duckdb_views()").fetchall()}
        self.linked = {"links_track_releases", "discogs_releases"} <= views

    def close(self) -> None:
        self.con.close()

    def lookup(self, track_ids: Iterable[str]) -> dict[str, TrackInfo]:
        """TrackInfo per track id (tracks absent from the collection are left out)."""
        ids = list(dict.fromkeys(track_ids))
        if not ids:
            return {}
        out: dict[str, TrackInfo] = {}
        for tid, artist, title, album, path, tag_year in self.con.execute(_TRACKS_SQL, {"ids": ids}).fetchall():
            out[tid] = TrackInfo(track_id=tid, artist=artist, title=title, album=album, path=path,
                                 year=tag_year or None)
        if self.linked:
            for tid, rid, release, year, styles, labels, artist_ids in \
                    self.con.execute(_LINKED_SQL, {"ids": ids}).fetchall():
                info = out.get(tid)
                if info is None:
                    continue
                info.release_id, info.release = rid, release
                info.year = year or info.year
                info.styles = [s for s in styles or [] if s]
                info.labels = [lab for lab in labels or [] if lab]
                info.artist_ids = [a for a in artist_ids or [] if a]
        return out

    def find_text(self, artist: str, title: str, limit: int = 50) -> list[str]:
        """Track ids whose artist and title tags have the same matcher keys as ``artist``, ``title``
        (:func:`artist_key`, :func:`title_key`), in table order."""
        want_artist, want_title = artist_key(artist), title_key(title)
        if not want_title:
            return []
        # Prefilter in SQL on the longest word of the title key (against the title's letters and
        # digits, accents stripped), then compare the keys exactly in Python.
        words = [w for w in want_title.split() if w not in ("and", "part")] or want_title.split()
        word = max(words, key=len)
        rows = self.con.execute(
            "select track_id, artist, title from collection_tracks "
            "where regexp_replace(strip_accents(lower(title)), '[^a-z0-9]', '', 'g') like $pat",
            {"pat": f"%{word}%"}).fetchall()
        found = [tid for tid, a, t in rows if title_key(t) == want_title and (not want_artist or artist_key(a) == want_artist)]
        return found[:limit]


__all__ = ["Metadata", "TrackInfo"]
