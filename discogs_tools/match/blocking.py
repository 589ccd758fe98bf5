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

The index's recordings, rows and block tables are built range by range above
:data:`BUCKET_ROWS` reference rows (:func:`build_index_tables`): one DuckDB sort of all rows
spilled and grew as n^1.2-1.3 (the block table's grouped count, join and sort of 51M rows at
10M tracks most of all).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from .. import duck
from ..io import TableWriter, _temp_sibling, parquet_glob, remove_dead_staging

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


def _append(con: Any, sql: str, writer: TableWriter) -> int:
    """Write the result of ``sql`` into an open ``writer``; returns the rows written."""
    before = writer.rows
    for batch in arrow_reader(con, sql):
        writer.write(batch)
    return writer.rows - before


BUCKET_ROWS = 2_000_000
"""Reference rows per bucket of the grouping (recordings and index rows). A build of more rows
cuts them into ranges of artist keys of about this many rows and groups one range at a time."""

BLOCK_BUCKET_ROWS = 10_000_000
"""Block rows per bucket of the block table (each range of block keys is counted and sorted alone)."""

SAMPLE_ROWS = 100_000
"""About this many reference rows (every row whose keys hash to 0 modulo n / SAMPLE_ROWS) give
the cut points of the buckets."""


def bucket_sql(expr: str, cuts: list[str]) -> str:
    """SQL of the bucket (0..len(cuts)) of the text ``expr``: how many of the sorted ``cuts`` are
    <= it, by binary search written as nested CASEs (log2(len(cuts)) comparisons a row)."""
    def node(lo: int, hi: int) -> str:
        if lo == hi:
            return str(lo)
        mid = (lo + hi) // 2
        return f"case when {expr} < {duck.sql_str(cuts[mid])} then {node(lo, mid)} else {node(mid + 1, hi)} end"

    return node(0, len(cuts))


def _cuts(con: Any, table: str, column: str, buckets: int) -> list[str]:
    """Cut points splitting the values of ``column`` in ``table`` (a sample) into ``buckets`` ranges
    of about equal counts."""
    if buckets <= 1:
        return []
    fractions = ", ".join(str(i / buckets) for i in range(1, buckets))
    cuts = con.execute(f"select quantile_disc({column}, [{fractions}]) from {table}").fetchall()[0][0]
    return sorted(set(cuts or []))


def _plan(con: Any, src: str, n: int, bucket_rows: int, block_bucket_rows: int) -> tuple[list[str], list[str]]:
    """Cut points of the artist-key ranges (grouping) and of the block-key ranges, from a sample of ``src``.

    Ranges, not hashes: recording ids are ranks in (artist_key, anv_key, title_key) order and the
    block table is in block-key order, so ranges processed in order give the same ids and the same
    tables as one global sort.
    """
    if n == 0:
        return [], []
    con.execute(f"""
        create or replace temp table bucket_sample as
        select row_number() over () as sample_id, artist_key, anv_key, title_key from {src}
        where hash(artist_key, title_key) % {max(1, n // SAMPLE_ROWS)} = 0
    """)
    con.execute(f"create or replace temp table bucket_sample_keys as "
                f"select block_key from ({block_keys_sql('sample_id', 'bucket_sample')})")
    try:
        n_sample = con.execute("select count(*) from bucket_sample").fetchall()[0][0]
        n_keys = con.execute("select count(*) from bucket_sample_keys").fetchall()[0][0]
        if not n_sample:
            return [], []
        block_buckets = -(-round(n_keys * n / n_sample) // max(1, block_bucket_rows))
        return (_cuts(con, "bucket_sample", "artist_key", -(-n // max(1, bucket_rows))),
                _cuts(con, "bucket_sample_keys", "block_key", block_buckets))
    finally:
        con.execute("drop table bucket_sample; drop table bucket_sample_keys")


def _partition(con: Any, sql: str, column: str, cuts: list[str], folder: Path) -> list[str | None]:
    """Write the rows of ``sql`` into ``folder``, one sub-folder per range of ``column`` (cut at
    ``cuts``); returns per range the ``read_parquet`` glob of its files, or None where it holds none."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"""copy (select *, {bucket_sql(column, cuts)} as bucket from ({sql}))
                    to {duck.sql_str(folder)} (format parquet, compression lz4_raw, partition_by (bucket))""")
    return [f"read_parquet({duck.sql_str(folder / f'bucket={i}' / '*.parquet')})"
            if any((folder / f"bucket={i}").glob("*.parquet")) else None for i in range(len(cuts) + 1)]


def _blocks_sql(keys: str) -> str:
    """The block rows of the (id, block_key) rows of ``keys``, with each key's frequency, in block-key order.

    The frequency is a window count over the key (one sort) rather than a grouped count joined
    back (a hash table of every key and a join): ~20% less time for the same rows.
    """
    return f"""
        select block_key, id as recording_id, count(*) over (partition by block_key)::bigint as block_size
        from ({keys}) order by block_key, recording_id
    """


def build_index_tables(staging: Path, paths: dict[str, Path], index_table: str, id_columns: tuple[str, ...], *,
                       threads: int | None = None, memory_limit: str | None = None,
                       bucket_rows: int | None = None, block_bucket_rows: int | None = None) -> dict[str, Any]:
    """From keyed reference rows (``staging``), write the recordings, blocks and rows tables.

    One sort over all rows grew faster than the rows (DuckDB spilled the grouping, the join and
    the sorts of tens of millions of rows): above ``bucket_rows`` rows, the rows are first split
    into ranges of artist keys (:func:`_plan`, :func:`_partition`), and each range is grouped into
    recordings (ids continue from the previous range), joined back to its rows and written, and its
    blocking keys are split into ranges of block keys; then each block-key range is counted and
    sorted. Every step holds one range, so memory stays bounded and time grows with the rows; the
    tables are the same as from one global sort (tests/test_match_scale.py).
    """
    tmp = paths["rows"].parent / ".duckdb_tmp"
    con = connect(threads, memory_limit, temp_dir=tmp)
    spill = _temp_sibling(tmp / "buckets")
    remove_dead_staging(spill)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        src = f"read_parquet('{parquet_glob(staging)}')"
        n = con.execute(f"select count(*) from {src}").fetchall()[0][0]
        artist_cuts, block_cuts = _plan(con, src, n, bucket_rows or BUCKET_ROWS, block_bucket_rows or BLOCK_BUCKET_ROWS)
        spill_keys = bool(artist_cuts or block_cuts)
        ranges: list[str | None] = ([src] if not artist_cuts else
                                    _partition(con, f"select * from {src}", "artist_key", artist_cuts, spill / "rows"))
        timings["partition_seconds"] = time.perf_counter() - t0
        ids = ", ".join(f"s.{c}" for c in id_columns)
        order = ", ".join(f"s.{c}" for c in id_columns if c != "master_id")
        n_recordings = n_rows = 0
        key_globs: list[list[str]] = [[] for _ in range(len(block_cuts) + 1)]
        timings["grouping_seconds"] = timings["keys_seconds"] = 0.0
        with TableWriter(paths["recordings"], "match/recordings") as recordings, \
                TableWriter(paths["rows"], index_table) as rows:
            for i, part in enumerate(ranges):
                if part is None:
                    continue
                t = time.perf_counter()
                con.execute(f"""
                    create or replace temp table recs as
                    select ({n_recordings} + row_number() over (order by artist_key, anv_key nulls first,
                                                                       title_key))::bigint as recording_id,
                           artist_key, anv_key, title_key, n_rows
                    from (select artist_key, anv_key, title_key, count(*)::bigint as n_rows from {part} group by all)
                """)
                n_recordings += _append(con, "select * from recs order by recording_id", recordings)
                n_rows += _append(con, f"""
                    select {ids}, s.artist, s.title, s.album, s.duration_s, s.artist_key, s.anv_key, s.title_key,
                           s.album_key, r.recording_id
                    from {part} s join recs r
                      on s.artist_key = r.artist_key and s.title_key = r.title_key
                     and s.anv_key is not distinct from r.anv_key
                    order by r.recording_id, {order}, s.artist, s.title, s.album, s.duration_s
                """, rows)
                timings["grouping_seconds"] += time.perf_counter() - t
                if spill_keys:
                    t = time.perf_counter()
                    for j, glob in enumerate(_partition(con, block_keys_sql("recording_id", "recs"), "block_key",
                                                        block_cuts, spill / "keys" / f"range{i:05d}")):
                        if glob is not None:
                            key_globs[j].append(glob)
                    timings["keys_seconds"] += time.perf_counter() - t
        t = time.perf_counter()
        with TableWriter(paths["blocks"], "match/blocks") as blocks:
            if not spill_keys:
                n_blocks = _append(con, _blocks_sql(block_keys_sql("recording_id", "recs")), blocks)
            else:
                n_blocks = sum(_append(con, _blocks_sql(" union all ".join(f"select id, block_key from {g}"
                                                                            for g in globs)), blocks)
                               for globs in key_globs if globs)
        timings["blocks_seconds"] = time.perf_counter() - t
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    return {"index_rows": n_rows, "recordings": n_recordings, "block_rows": n_blocks,
            "grouping_ranges": len(artist_cuts) + 1, "block_ranges": len(block_cuts) + 1,
            **{k: round(v, 3) for k, v in timings.items()}}


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
