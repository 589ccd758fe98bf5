"""Blocking in DuckDB: which reference recordings a collection track is compared with.

Both sides get their blocking keys from the same SQL macros over their normalised keys
(:data:`LEAN_BLOCK_KEYS`, at most 5 per recording): the artist's first word crossed with the
title's first word and with the title's first and last 2-3 letters (``'beatles|yesterday'``,
``'beatles|<yes'``, ``'beatles|>day'``: one typo breaks at most one of them), the artist's first
four letters with the title's first word (``'^beat|yesterday'``, for artist typos), and
``'*|<title_key>'`` (any artist). The first scheme (:data:`WIDE_BLOCK_KEYS`, ~35 keys per
recording) gave the same links on the samples and is kept for that check.
A track is compared with the recordings that share at least one key, ignoring keys carried
by more than ``max_block_size`` recordings, and keeping per track the ``max_candidates``
recordings that share the most keys with it. Memory is bounded by the candidates of one chunk
of collection tracks, not by the reference: DuckDB streams the block table past a hash table
built on the chunk's keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from .. import duck
from ..io import TableWriter, parquet_glob

DEFAULT_MEMORY_LIMIT = "2GB"
"""DuckDB memory limit unless one is given; beyond it DuckDB spills to the workspace's temp folder."""

MAX_WORDS = 8
"""Words of a key that give blocking keys (the rest of a long title adds little)."""

MAX_VARIANT_LENGTH = 8
"""Titles this short (without spaces) also get their one-letter deletions as keys ('~hoe' from
'home' and from 'hmoe'), so a typo in a one-word title still finds the recording."""

MACROS = f"""
create or replace macro key_affixes(k) as
  case when k is null or k = '' then []::varchar[] else
  list_distinct(list_concat(
      [x for x in string_split(k, ' ')[1:{MAX_WORDS}] if length(x) >= 2],
      ['^' || left(replace(k, ' ', ''), 4), '$' || right(replace(k, ' ', ''), 4)])) end;
create or replace macro compact_variants(c) as
  case when length(c) between 3 and {MAX_VARIANT_LENGTH} then
    list_concat(['~' || c], ['~' || left(c, i - 1) || substr(c, i + 1) for i in range(1, length(c) + 1)])
  else []::varchar[] end;
create or replace macro title_block_words(k) as
  case when k is null or k = '' then []::varchar[] else
  list_distinct(list_concat(key_affixes(k), compact_variants(replace(k, ' ', '')))) end;
create or replace macro artist_affixes(a, b) as list_distinct(list_concat(key_affixes(a), key_affixes(b)));

create or replace macro first_word(k) as
  coalesce([x for x in string_split(k, ' ') if length(x) >= 2 and x <> 'and'][1], string_split(k, ' ')[1]);
create or replace macro end_len(n) as greatest(1, least(3, (n - 1) // 2));
create or replace macro lean_keys(a, t) as
  case when a is null or a = '' or t is null or t = '' then []::varchar[] else
  list_distinct([
      first_word(a) || '|' || first_word(t),
      first_word(a) || '|<' || left(replace(t, ' ', ''), end_len(length(replace(t, ' ', '')))),
      first_word(a) || '|>' || right(replace(t, ' ', ''), end_len(length(replace(t, ' ', '')))),
      '^' || left(replace(a, ' ', ''), 4) || '|' || first_word(t)]) end;
create or replace macro query_ends(t) as
  list_distinct(flatten([['<' || left(replace(t, ' ', ''), end_len(length(replace(t, ' ', '')) + d)),
                          '>' || right(replace(t, ' ', ''), end_len(length(replace(t, ' ', '')) + d))]
                         for d in [-1, 0, 1]]));
create or replace macro artist_words(a) as
  list_distinct([x for x in string_split(a, ' ') if length(x) >= 2 and x <> 'and']);
create or replace macro lean_query_keys(a, t) as
  case when a is null or a = '' or t is null or t = '' then []::varchar[] else
  list_distinct(flatten([
      [w || '|' || first_word(t) for w in artist_words(a)],
      [first_word(a) || '|' || e for e in query_ends(t)],
      ['^' || left(replace(a, ' ', ''), 4) || '|' || x for x in string_split(t, ' ') if length(x) >= 2]])) end;
"""

WIDE_BLOCK_KEYS = """
select distinct {id} as id, block_key from (
  select {id}, a || '|' || t as block_key
  from (select {id}, unnest(artist_affixes(artist_key, anv_key)) as a, title_key from {src}) s,
       unnest(title_block_words(s.title_key)) as u(t)
  union all
  select {id}, '*|' || title_key from {src} where title_key <> ''
)
"""
"""The first scheme (index version 1): every artist word or affix crossed with every title word or
affix and the one-letter deletions of short titles, about 35 keys per recording. Kept to check
that the lean scheme gives the same links (tests/test_match_blocking.py)."""

LEAN_BLOCK_KEYS_MACROS = """
select distinct {id} as id, block_key from (
  select {id}, unnest(list_distinct(list_concat(lean_keys(artist_key, title_key), lean_keys(anv_key, title_key))))
         as block_key from {src}
  union all
  select {id}, '*|' || title_key from {src} where title_key <> ''
)
"""
"""At most 5 keys per recording (9 with a distinct ANV credit): with the artist's first word A,
``A|<first title word>``, ``A|<`` + the title's first 2-3 letters, ``A|>`` + its last 2-3 letters
(one typo breaks at most one of the two), ``^<artist's first 4 letters>|<first title word>``
(a typo in the artist's first word), and ``*|<title key>`` (any artist). Written with the
``lean_keys`` macro, which DuckDB expands in place, so every part is computed several times:
:data:`LEAN_BLOCK_KEYS` gives the same keys with each part computed once (tests/test_match_keying.py)."""

LEAN_BLOCK_KEYS = """
select distinct {id} as id, block_key from (
  select {id}, unnest([fa || '|' || ft, fa || '|<' || left(tc, e), fa || '|>' || right(tc, e),
                       '^' || left(replace(a, ' ', ''), 4) || '|' || ft]) as block_key
  from (select {id}, a, first_word(a) as fa, ft, tc, end_len(length(tc)) as e
        from (select {id}, a, first_word(t) as ft, replace(t, ' ', '') as tc
              from (select {id}, artist_key as a, title_key as t from {src}
                    union all
                    select {id}, anv_key, title_key from {src} where anv_key is not null)
              where a <> '' and t <> ''))
  union all
  select {id}, '*|' || title_key from {src} where title_key <> ''
)
"""
"""The keys of :data:`LEAN_BLOCK_KEYS_MACROS`, each part (first words, compact title, end length) computed once."""

SCHEME = "lean"
"""Blocking scheme of new indexes and of matching ("lean", or "wide" for comparison)."""


LEAN_QUERY_KEYS = LEAN_BLOCK_KEYS_MACROS.replace("lean_keys(", "lean_query_keys(")
"""The collection side asks with more keys than the index stores (they cost no index rows):
every artist word in the first-word place (an extra or reordered word, "DJ Shadow" for
"Shadow"), the title's end letters for the lengths one shorter and longer (a deletion or
insertion changes how many letters are taken) and the artist prefix with every title word."""


def block_keys_sql(id_column: str, src: str, query: bool = False) -> str:
    """Blocking keys of every row of ``src`` (columns artist_key, anv_key, title_key), by ``id_column``;
    ``query``: the collection side's keys (a superset of what the index stores for the same keys)."""
    if SCHEME == "wide":
        template = WIDE_BLOCK_KEYS
    else:
        template = LEAN_QUERY_KEYS if query else LEAN_BLOCK_KEYS
    return template.format(id=id_column, src=src)


def connect(threads: int | None = None, memory_limit: str | None = None, temp_dir: Path | None = None) -> Any:
    """An in-memory DuckDB connection with the blocking macros, limited threads and memory (spilling to ``temp_dir``)."""
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
    con = duck.connect(threads=threads or min(4, os.cpu_count() or 1),
                       memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT, temp_dir=temp_dir, keep_order=True)
    con.execute(MACROS)
    return con


arrow_reader = duck.arrow_reader
arrow_table = duck.arrow_table


def _stream_into(con: Any, sql: str, path: Path, table: str) -> int:
    reader = arrow_reader(con, sql)
    with TableWriter(path, table) as writer:
        for batch in reader:
            writer.write(batch)
    return writer.rows


def build_index_tables(staging: Path, paths: dict[str, Path], index_table: str, id_columns: tuple[str, ...], *,
                       threads: int | None = None, memory_limit: str | None = None) -> dict[str, int]:
    """From keyed reference rows (``staging``), write the recordings, blocks and rows tables."""
    con = connect(threads, memory_limit, temp_dir=paths["rows"].parent / ".duckdb_tmp")
    try:
        src = f"read_parquet('{parquet_glob(staging)}')"
        con.execute(f"""
            create temp table recs as
            select row_number() over (order by artist_key, anv_key nulls first, title_key)::bigint as recording_id,
                   artist_key, anv_key, title_key, n_rows
            from (select artist_key, anv_key, title_key, count(*)::bigint as n_rows from {src} group by all)
        """)
        n_recordings = _stream_into(con, "select * from recs order by recording_id", paths["recordings"],
                                    "match/recordings")
        keys = block_keys_sql("recording_id", "recs")
        n_blocks = _stream_into(con, f"""
            with k as ({keys}), sizes as (select block_key, count(*)::bigint as block_size from k group by block_key)
            select k.block_key, k.id as recording_id, sizes.block_size
            from k join sizes using (block_key) order by k.block_key, recording_id
        """, paths["blocks"], "match/blocks")
        ids = ", ".join(f"s.{c}" for c in id_columns)
        order = ", ".join(f"s.{c}" for c in id_columns if c != "master_id")
        n_rows = _stream_into(con, f"""
            select {ids}, s.artist, s.title, s.album, s.duration_s, s.artist_key, s.anv_key, s.title_key,
                   s.album_key, r.recording_id
            from {src} s join recs r
              on s.artist_key = r.artist_key and s.title_key = r.title_key and s.anv_key is not distinct from r.anv_key
            order by r.recording_id, {order}, s.artist, s.title, s.album, s.duration_s
        """, paths["rows"], index_table)
    finally:
        con.close()
    return {"index_rows": n_rows, "recordings": n_recordings, "block_rows": n_blocks}


def candidate_recordings(con: Any, collection: pa.Table, paths: dict[str, Path], max_block_size: int,
                         max_candidates: int = 50, batch_rows: int = 200_000,
                         extra_keys: pa.Table | None = None) -> Iterator[pa.RecordBatch]:
    """(track_id, recording_id) pairs sharing a blocking key, with the recording's keys.

    Per track, at most ``max_candidates`` recordings: those sharing the most keys (ties: the
    rarer key, then the lower id), so the work per track is bounded whatever the reference size.

    ``collection`` has columns track_id, artist_key, anv_key, title_key; ``extra_keys``
    (track_id, block_key) adds keys computed elsewhere (the mixed-up-field fallback's, :mod:`.mixed`).
    """
    if extra_keys is None:
        extra_keys = pa.table({"track_id": pa.array([], pa.string()), "block_key": pa.array([], pa.string())})
    con.register("col_chunk", collection)
    con.register("extra_keys", extra_keys)
    try:
        keys = block_keys_sql("track_id", "col_chunk", query=True)
        sql = f"""
            with cb as ({keys} union all select track_id as id, block_key from extra_keys),
            shared as (
                select cb.id as track_id, b.recording_id, count(*) as n_keys, min(b.block_size) as rarest
                from cb join read_parquet('{parquet_glob(paths['blocks'])}') b on b.block_key = cb.block_key
                where b.block_size <= {int(max_block_size)}
                group by all
            ),
            cand as (
                select track_id, recording_id from shared
                qualify row_number() over (partition by track_id order by n_keys desc, rarest, recording_id)
                        <= {int(max_candidates)}
            )
            select cand.track_id, r.recording_id, r.artist_key, r.anv_key, r.title_key
            from cand join read_parquet('{parquet_glob(paths['recordings'])}') r using (recording_id)
            order by cand.track_id, r.recording_id
        """
        yield from arrow_reader(con, sql, batch_rows)
    finally:
        con.unregister("col_chunk")
        con.unregister("extra_keys")
