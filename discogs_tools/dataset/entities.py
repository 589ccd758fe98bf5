"""Per-track pooling of Discogs entities (DuckDB over the Parquet tables, bounded memory).

For every collection track linked to releases (links/track_releases) this builds, in the
scratch DuckDB database, the table ``track_release`` (one row per (track, release) link with
the release's master, main artists, extra artists, labels and genres, plus the artists and
duration of the matched tracklist entry) and ``track_entities`` (one row per track with those
entities pooled over every linked release: the R(t), A(t), L(t) of the pair rules).

Main artists are the release's artists and the matched track's artists; extra credits are
kept apart. 'Various' (194), 'Unknown Artist' (355) and ids <= 0 are not artists of a track:
they would join unrelated tracks into one artist group and make meaningless artist pairs.
Nothing is held in Python: DuckDB streams the nested columns and spills to disk.
"""

from __future__ import annotations

from typing import Iterable

from .duck import sql_str

#: Discogs placeholder artists that never count as a track's artist ("Various", "Unknown Artist").
NON_ARTISTS: tuple[int, ...] = (194, 355)


def _ids(expr: str) -> str:
    """SQL: the ``id`` fields of a list<struct{id,...}> column as BIGINT[] (empty for null)."""
    return f"coalesce(list_transform({expr}, lambda a: a.id), [])::BIGINT[]"


def build_track_entities(con, *, links: str, releases: str, collection: str | None,
                         non_artists: Iterable[int] = NON_ARTISTS) -> dict[str, int]:
    """Create ``track_release`` and ``track_entities`` in ``con``; return link counts.

    ``links``, ``releases``, ``collection``: DuckDB Parquet globs of links/track_releases,
    discogs/releases and (optional) collection/tracks.
    """
    excluded = ", ".join(str(int(a)) for a in non_artists) or "NULL"
    con.execute(f"""
        CREATE OR REPLACE TABLE link AS
        SELECT DISTINCT track_id, release_id, position
        FROM read_parquet({sql_str(links)})
        WHERE track_id IS NOT NULL AND release_id IS NOT NULL
    """)
    # The matched tracklist entries: top-level tracks and index-track sub-tracks at the link's position.
    matched_ids = (
        "list_concat(coalesce(flatten(list_transform(matched, lambda t: {f})), [])::BIGINT[], "
        "coalesce(flatten(list_transform(matched_sub, lambda t: {f})), [])::BIGINT[])"
    )
    con.execute(f"""
        CREATE OR REPLACE TABLE track_release AS
        WITH joined AS (
            SELECT l.track_id, l.release_id, r.master_id, r.artists, r.extraartists, r.labels, r.genres,
                   list_filter(r.tracklist, lambda t: t.position = l.position) AS matched,
                   flatten(list_transform(r.tracklist,
                       lambda t: list_filter(t.sub_tracks, lambda u: u.position = l.position))) AS matched_sub
            FROM link l JOIN read_parquet({sql_str(releases)}) r USING (release_id)
        )
        SELECT track_id, release_id, master_id,
               list_concat({_ids('artists')}, {matched_ids.format(f=_ids('t.artists'))}) AS artist_ids,
               list_concat({_ids('extraartists')}, {matched_ids.format(f=_ids('t.extraartists'))})
                   AS extra_artist_ids,
               {_ids('labels')} AS label_ids,
               coalesce(genres, [])::VARCHAR[] AS genres,
               greatest(list_max(list_transform(matched, lambda t: t.duration_s)),
                        list_max(list_transform(matched_sub, lambda t: t.duration_s))) AS track_duration_s
        FROM joined
    """)
    duration = "max(tr.track_duration_s)"
    collection_join = ""
    if collection:
        con.execute(f"""
            CREATE OR REPLACE TABLE collection_duration AS
            SELECT track_id, max(duration_s) AS duration_s
            FROM read_parquet({sql_str(collection)}) GROUP BY track_id
        """)
        collection_join = "LEFT JOIN collection_duration c USING (track_id)"
        duration = "coalesce(any_value(c.duration_s), max(tr.track_duration_s))"
    keep_artist = f"lambda a: a > 0 AND a NOT IN ({excluded})"
    con.execute(f"""
        CREATE OR REPLACE TABLE track_entities AS
        SELECT tr.track_id,
               list_sort(list_distinct(list(tr.release_id))) AS releases,
               list_sort(list_distinct(list(tr.master_id))) AS masters,
               list_sort(list_distinct(list_filter(flatten(list(tr.artist_ids)), {keep_artist}))) AS artists,
               list_sort(list_distinct(list_filter(flatten(list(tr.extra_artist_ids)), {keep_artist}))) AS extra_artists,
               list_sort(list_distinct(list_filter(flatten(list(tr.label_ids)), lambda x: x > 0))) AS labels,
               list_sort(list_distinct(flatten(list(tr.genres)))) AS genres,
               {duration} AS duration_s
        FROM track_release tr {collection_join}
        GROUP BY tr.track_id
    """)
    links_in, tracks_in = con.execute("SELECT count(*), count(DISTINCT track_id) FROM link").fetchone()
    links_joined, tracks_joined = con.execute(
        "SELECT count(*), count(DISTINCT track_id) FROM track_release").fetchone()
    return {
        "links": int(links_in),
        "linked_tracks": int(tracks_in),
        "links_unknown_release": int(links_in - links_joined),
        "tracks_unknown_release_only": int(tracks_in - tracks_joined),
    }
