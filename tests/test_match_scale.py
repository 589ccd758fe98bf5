"""The index build's grouping and blocking, done range by range for large references
(:func:`blocking.build_index_tables`), gives the tables of one global sort.

Data: the real 1,000-release 2020-08 Discogs sample and two scaled copies of it (words drawn from
its own vocabulary, :mod:`discogs_tools.match.scaled`): ~27,000 index rows, with recordings shared
by several releases of one master and block keys shared by many recordings. Small range sizes
force the ranged path that a build of millions of rows takes.
"""

from __future__ import annotations

import bisect
import random

import pyarrow as pa
import pytest

from discogs_tools import duck
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import TableWriter, iter_batches, read_table
from discogs_tools.match import blocking, index, scaled
from discogs_tools.resources import sample_data_dir
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Workspace, dict[str, pa.Table], dict]:
    """A workspace with the index of the sample and two scaled copies built in one range, and its tables."""
    root = tmp_path_factory.mktemp("scale")
    src = Workspace(root / "src").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], src, workers=0)
    base = [r for b in iter_batches(src.table("discogs/releases")) for r in b.to_pylist()]
    vocab = scaled.vocabulary(base)
    ws = Workspace(root / "ws").ensure()
    with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=1_000) as out:
        for k in range(3):
            out.write(pa.Table.from_pylist([scaled.shifted(r, k, vocab) for r in base],
                                           schema=load_schema("discogs/releases")))
    stats = index.build(index.DISCOGS, ws)
    paths = index.DISCOGS.tables(ws)
    return ws, {k: read_table(paths[k]) for k in ("recordings", "blocks", "rows")}, stats


def _rebuild(ws: Workspace, bucket_rows: int, block_bucket_rows: int) -> dict:
    paths = index.DISCOGS.tables(ws)
    return blocking.build_index_tables(paths["rows"].parent / ".discogs_keys", paths, index.DISCOGS.index_table,
                                       index.DISCOGS.id_columns, threads=2, bucket_rows=bucket_rows,
                                       block_bucket_rows=block_bucket_rows)


@pytest.mark.parametrize("bucket_rows, block_bucket_rows", [(2_500, 20_000), (10**9, 15_000), (4_000, 10**9)])
def test_ranges_give_the_tables_of_one_global_sort(built, bucket_rows, block_bucket_rows):
    ws, one_range, stats = built
    assert (stats["grouping_ranges"], stats["block_ranges"]) == (1, 1)
    assert stats["index_rows"] > 25_000 and stats["block_rows"] > 100_000
    counts = _rebuild(ws, bucket_rows, block_bucket_rows)
    # the ranges asked for were used (about rows / range size of them)
    assert counts["grouping_ranges"] == (1 if bucket_rows > stats["index_rows"] else
                                         pytest.approx(stats["index_rows"] / bucket_rows, abs=2))
    assert counts["block_ranges"] == (1 if block_bucket_rows > 10**8 else
                                      pytest.approx(stats["block_rows"] / block_bucket_rows, abs=3))
    assert counts["grouping_ranges"] * counts["block_ranges"] > 1
    paths = index.DISCOGS.tables(ws)
    for name, table in one_range.items():
        # the same rows in the same order: recording ids continue from range to range, the block
        # table stays in block-key order and every key's frequency is counted over all ranges
        assert read_table(paths[name]).equals(table), name
    assert {k: counts[k] for k in ("index_rows", "recordings", "block_rows")} == \
        {k: stats[k] for k in ("index_rows", "recordings", "block_rows")}
    # the range files are gone
    assert not list((paths["rows"].parent / ".duckdb_tmp").glob(".buckets*"))


def test_bucket_sql_is_the_position_among_the_cut_points():
    rng = random.Random(7)
    alphabet = "ab zé|^<>*~0ß\u4e2d"
    values = ["", "a", "b", "zz", "é", "\u4e2d"] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
                                                    for _ in range(400)]
    con = duck.connect()
    con.register("v", pa.table({"s": values}))
    for n_cuts in (0, 1, 2, 7, 16):
        cuts = sorted(set(rng.sample(values, n_cuts)))
        got = [r[0] for r in con.execute(f"select {blocking.bucket_sql('s', cuts)} from v").fetchall()]
        # a value equal to a cut point starts the next range
        assert got == [bisect.bisect_right(cuts, s) for s in values], cuts
