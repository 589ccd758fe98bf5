"""Reference rows with their keys, flattened in DuckDB and normalised once per distinct string.

The index build spends its time here: a Discogs dump has ~9 tracks per release, and turning
each release into track rows and each row into keys in Python costs ~40 us a track (~2 hours
for the 170M tracks of a full dump). This module gives the same rows (:func:`index.discogs_track_rows`
followed by :func:`index._keyed`, kept as the row-by-row reference and compared in
``tests/test_match_keying.py``) in three vectorised steps per input part file:

1. DuckDB reads the part and flattens releases into track rows: tracks and sub-tracks, the
   track's own artists or else its parent's, or else the release's; headings and title-less
   tracks skipped; artist credits written with their join phrases (:data:`DISCOGS_FLAT`,
   the SQL twin of :func:`normalize.credit_string`).
2. The distinct artist credits, titles and album titles are keyed in Python by the functions of
   :mod:`.normalize` (the same functions the collection side uses), once each: names and titles
   repeat heavily across releases of one master, and keying is the only per-string Python work.
3. DuckDB joins the keys back and drops rows without an artist or title key.
"""

from __future__ import annotations

import re

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from .. import duck
from . import normalize
from .normalize import album_key, artist_key, title_key

PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
"""Every character Python's ``str.strip()`` removes, so that the SQL trims exactly like the row-by-row code."""


EMPTY = "''"


def _strip(expr: str) -> str:
    """SQL of Python's ``expr.strip()`` (the full trim only where an end is white: it is slow)."""
    chars = duck.sql_str(PY_WHITESPACE)
    return (f"(case when contains({chars}, left({expr}, 1)) or contains({chars}, right({expr}, 1)) "
            f"then trim({expr}, {chars}) else {expr} end)")


def _credit_sql(artists: str, use_anv: bool) -> str:
    """SQL of :func:`index._credit`: the names (ANV first when ``use_anv``) with their join phrases.

    As :func:`normalize.credit_string`: empty names are skipped, every name but the last is
    followed by its join phrase or ``,``, " ," becomes ",", trailing commas and spaces go.
    """
    name = f"coalesce(nullif({artists}[i].anv, ''), {artists}[i].name)" if use_anv else f"{artists}[i].name"
    join = f"coalesce(nullif({_strip(f'coalesce({artists}[i].join, {EMPTY})')}, ''), ',')"
    parts = (f"flatten([case when i < len({artists}) then [{_strip(name)}, {join}] else [{_strip(name)}] end "
             f"for i in range(1, len({artists}) + 1) if coalesce({name}, '') <> ''])")
    return _strip(f"rtrim(replace(array_to_string({parts}, ' '), ' ,', ','), ',')")


def _single_credit_sql(name: str) -> str:
    """SQL of :func:`_credit_sql` for a credit of one artist named ``name``: the same steps without the list."""
    return _strip(f"rtrim(replace({_strip(f'coalesce({name}, {EMPTY})')}, ' ,', ','), ',')")


def discogs_flat_sql(src: str) -> str:
    """Track rows of the releases in ``src`` (a ``read_parquet(...)`` call or a table): the columns of
    :func:`index.discogs_track_rows` (``artist_anv`` null when equal to ``artist``).

    Credits of one artist (most tracks) take cheaper SQL than the general list expression
    (:func:`_single_credit_sql`, and no ANV credit unless the artist has an ANV): the credits cost
    two thirds of the flattening. The rows are split by a ``union all``, not a ``case``: DuckDB
    evaluated the list expression of a ``case`` branch for every row.
    """
    has = "len(coalesce({0}, [])) > 0"
    own_or = "case when " + has.format("{0}.artists") + " then {0}.artists else {1} end"
    cols = "release_id, master_id, position, title, album, duration_s"
    anv1 = "coalesce(nullif(credit[1].anv, ''), credit[1].name)"
    return f"""
        with tracks as (
            select release_id, master_id, album, release_artists, unnest(tracklist) as trk
            from (select release_id, master_id, title as album, coalesce(artists, []) as release_artists, tracklist
                  from {src})
        ), parents as (
            select release_id, master_id, album, trk, {own_or.format('trk', 'release_artists')} as credit
            from tracks
        ), leaves as (
            select release_id, master_id, album, credit, trk.position, trk.type_, trk.title, trk.duration_s
            from parents where not ({has.format('trk.sub_tracks')})
            union all
            select release_id, master_id, album, {own_or.format('sub', 'credit')}, sub.position, sub.type_, sub.title,
                   sub.duration_s
            from (select release_id, master_id, album, credit, unnest(trk.sub_tracks) as sub from parents
                  where {has.format('trk.sub_tracks')})
        ), kept as materialized (
            select release_id, master_id, nullif({_strip("coalesce(position, '')")}, '') as position, credit,
                   title, album, duration_s, len(credit) = 1 as single,
                   len(credit) = 1 and coalesce(credit[1].anv, '') <> '' as single_anv
            from leaves
            where lower(coalesce(nullif(type_, ''), 'track')) = 'track' and {_strip("coalesce(title, '')")} <> ''
        ), credited as (
            select {cols}, {_single_credit_sql('credit[1].name')} as artist, null::varchar as with_anv
            from kept where single and not single_anv
            union all
            select {cols}, {_single_credit_sql('credit[1].name')}, {_single_credit_sql(anv1)}
            from kept where single_anv
            union all
            select {cols}, {_credit_sql('credit', False)}, {_credit_sql('credit', True)}
            from kept where not single
        )
        select release_id, master_id, position, artist, case when with_anv <> artist then with_anv end as artist_anv,
               title, album, duration_s
        from credited
    """


ARTIST_DASH_TITLE = "(?s)^(.*?[^ ]) +[-–—] +([^ ].*)$"
"""A title that reads ``Artist - Title`` (hyphen, en or em dash between spaces): group 1 is the
artist, group 2 the title. The same pattern in DuckDB (RE2) and Python (:func:`split_artist_title`)."""


def split_artist_title(artist: str | None, title: str | None) -> tuple[str | None, str | None]:
    """A playlist track without an artist whose title reads ``Artist - Title`` (a radio log, a
    scraped list, a file name) is read as that artist and title; any other track as it is."""
    if (artist is None or not artist.strip()) and title:
        m = re.match(ARTIST_DASH_TITLE, title)
        if m:
            return m[1], m[2]
    return artist, title


def playlist_flat_sql(src: str) -> str:
    """Rows of the playlist tracks in ``src``, in the columns of the Discogs rows; a track without
    an artist whose title reads ``Artist - Title`` gets them from its title (:func:`split_artist_title`)."""
    pattern = ARTIST_DASH_TITLE.replace("'", "''")
    split = f"coalesce(trim(artist_name), '') = '' and regexp_matches(track_name, '{pattern}')"
    return f"""
        select track_key,
               case when {split} then regexp_extract(track_name, '{pattern}', 1) else artist_name end as artist,
               null::varchar as artist_anv,
               case when {split} then regexp_extract(track_name, '{pattern}', 2) else track_name end as title,
               album_name as album, duration_ms / 1000.0 as duration_s
        from {src}
    """


SIMPLE_TEXT = "[A-Za-z0-9 ]+"
"""Texts keyed in SQL (:func:`simple_key_sql`): ASCII letters, digits and spaces only, most titles and names."""


def simple_key_sql(text: str, various: bool) -> str:
    """SQL (a subquery over ``text``, a table's one column) of (s, k): each value and its key by
    :func:`normalize.artist_key` (``various``) or :func:`normalize.title_key` where it is made of
    :data:`SIMPLE_TEXT` and has no word that the short cut of :func:`normalize._plain_key` sends to
    the full rules; k is NULL elsewhere (keyed in Python).

    For such a text the key is its lower-case words, ``and``/``et``/``und``/``y`` spelt ``and``,
    without a leading article when more words follow (and, for an artist, empty for "Various").
    Keying the distinct strings in Python cost most of the build; this does the commonest kind in
    DuckDB (``tests/test_match_keying.py`` compares it with the Python keys).
    """
    def words(values: Any) -> str:
        return "[" + ", ".join(duck.sql_str(v) for v in sorted(values)) + "]"

    key = (f"array_to_string(case when len(ws) > 1 and list_contains({words(normalize.ARTICLES)}, ws[1]) "
           f"then ws[2:] else ws end, ' ')")
    if various:
        key = f"case when list_contains({words(normalize.VARIOUS_ARTISTS)}, {key}) then '' else {key} end"
    return f"""
        select s, case when len(ws) > 0 and not list_has_any(ws, {words(normalize._NOT_PLAIN_WORDS)}) then {key} end as k
        from (select s, case when regexp_full_match(s, '{SIMPLE_TEXT}') then
                     [case when w in {words(normalize._AND_WORDS)} then 'and' else w end
                      for w in string_split(lower(s), ' ') if w <> ''] end as ws
              from ({text}) d(s))
    """


def key_map(con: Any, sql: str, key: Callable[[str], str], various: bool = False) -> pa.Table:
    """(s, k): every distinct non-null string of ``sql``'s one column with its key, computed once:
    in SQL where :func:`simple_key_sql` can, else by ``key`` in Python."""
    import pyarrow.compute as pc

    table = duck.arrow_table(con, simple_key_sql(sql, various))
    done = table.filter(pc.is_valid(table.column("k")))
    rest = table.filter(pc.is_null(table.column("k"))).column("s")
    keyed = pa.table({"s": rest, "k": pa.array([key(v) for v in rest.to_pylist()], pa.string())})
    return pa.concat_tables([done.cast(keyed.schema), keyed])


def keyed_sql(con: Any, flat: str, id_columns: tuple[str, ...]) -> str:
    """Register the key maps of the rows in table ``flat`` and return the SQL of the keyed rows.

    The columns are those of the staging schema: ``id_columns``, the raw artist/title/album/
    duration and the keys; rows whose artist or title has no key are left out (as :func:`index._keyed`).
    """
    con.register("artist_keys", key_map(
        con, f"select artist from {flat} where artist is not null union select artist_anv from {flat} "
             f"where artist_anv is not null", artist_key, various=True))
    con.register("title_keys", key_map(con, f"select distinct title from {flat} where title is not null", title_key))
    con.register("album_keys", key_map(con, f"select distinct album from {flat} where album is not null", album_key))
    ids = ", ".join(f"f.{c}" for c in id_columns)
    return f"""
        select {ids}, f.artist, f.title, f.album, f.duration_s, a.k as artist_key,
               case when n.k <> '' and n.k <> a.k then n.k end as anv_key, t.k as title_key,
               nullif(al.k, '') as album_key
        from {flat} f
        join artist_keys a on a.s = f.artist
        join title_keys t on t.s = f.title
        left join artist_keys n on n.s = f.artist_anv
        left join album_keys al on al.s = f.album
        where a.k <> '' and t.k <> ''
    """


def key_part(flat_sql: Callable[[str], str], id_columns: tuple[str, ...], part: Path, schema: pa.Schema,
             threads: int = 1, row_groups: list[int] | None = None,
             columns: list[str] | None = None) -> tuple[pa.Table, int]:
    """The keyed rows of one input part file (cast to ``schema``) and the number of rows dropped.

    ``row_groups``: only those row groups of the part (a slice, read with ``columns``), so that a
    build keys a few large parts in as many equal tasks as it likes.
    """
    con = duck.connect(threads=threads)
    try:
        if row_groups is None:
            src = f"read_parquet({duck.sql_str(part)})"
        else:
            import pyarrow.parquet as pq

            con.register("part_slice", pq.ParquetFile(part).read_row_groups(row_groups, columns=columns))
            src = "part_slice"
        con.execute(f"create temp table flat as {flat_sql(src)}")
        total = con.execute("select count(*) from flat").fetchall()[0][0]
        table = duck.arrow_table(con, keyed_sql(con, "flat", id_columns))
    finally:
        con.close()
    return table.select(schema.names).cast(schema), total - table.num_rows
