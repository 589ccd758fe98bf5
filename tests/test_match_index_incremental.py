"""The index is rebuilt incrementally: only the dump parts that changed are keyed again."""

from __future__ import annotations

import pyarrow as pa

from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import TableWriter, read_table, table_files
from discogs_tools.match import index
from discogs_tools.resources import sample_data_dir
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


def test_changing_one_part_rekeys_only_that_part(tmp_path):
    src = Workspace(tmp_path / "src").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], src, workers=0)
    releases = read_table(src.table("discogs/releases"))
    ws = Workspace(tmp_path / "ws").ensure()
    with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=250) as out:
        for start in range(0, releases.num_rows, 250):
            out.write(releases.slice(start, 250))
    parts = table_files(ws.table("discogs/releases"))
    assert len(parts) == 4
    first = index.build(index.DISCOGS, ws)
    assert (first["parts_keyed"], first["parts_reused"]) == (4, 0)
    # one part changes (a release retitled), the others stay as they are
    part = read_table(parts[2]).to_pylist()
    part[0]["tracklist"][0]["title"] = "A Title Nobody Wrote Before"
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(part, schema=load_schema("discogs/releases")), parts[2])
    assert not index.is_current(index.DISCOGS, ws)
    second = index.build(index.DISCOGS, ws)
    assert (second["parts_keyed"], second["parts_reused"]) == (1, 3)
    titles = set(read_table(ws.table("match/discogs_track_index"), ["title"]).column("title").to_pylist())
    assert "A Title Nobody Wrote Before" in titles
    # the same index as a build from scratch
    rows_incremental = read_table(ws.table("match/discogs_track_index")).to_pylist()
    import shutil

    shutil.rmtree(ws.tables / "match")
    scratch = index.build(index.DISCOGS, ws)
    assert scratch["parts_keyed"] == 4
    assert read_table(ws.table("match/discogs_track_index")).to_pylist() == rows_incremental
    assert scratch["block_rows"] == second["block_rows"]


def test_keying_in_two_processes_gives_the_same_index(tmp_path):
    src = Workspace(tmp_path / "src").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], src, workers=0)
    releases = read_table(src.table("discogs/releases"))
    tables = {}
    for workers in (1, 2):
        ws = Workspace(tmp_path / f"ws{workers}").ensure()
        with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=250) as out:
            for start in range(0, releases.num_rows, 250):
                out.write(releases.slice(start, 250))
        stats = index.build(index.DISCOGS, ws, workers=workers)
        assert stats["parts_keyed"] == 4
        tables[workers] = (read_table(ws.table("match/discogs_track_index")).to_pylist(),
                           read_table(ws.table("match/discogs_blocks")).to_pylist(), stats["reference_rows"])
    assert tables[1] == tables[2]


def test_parts_keyed_in_slices_give_the_same_index(tmp_path, monkeypatch):
    """Parts of several row groups keyed in slices (one task each, two processes) give the index of
    whole parts; a change to one part re-keys only that part's slices."""
    import dataclasses

    src = Workspace(tmp_path / "src").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], src, workers=0)
    releases = read_table(src.table("discogs/releases"))
    tables = {}
    for slice_rows in (10_000, 120):
        monkeypatch.setitem(index.SOURCES, "discogs", dataclasses.replace(index.DISCOGS, slice_rows=slice_rows))
        ws = Workspace(tmp_path / f"ws{slice_rows}").ensure()
        with TableWriter(ws.table("discogs/releases"), "discogs/releases", rows_per_part=500,
                         row_group_size=100) as out:
            for start in range(0, releases.num_rows, 100):
                out.write(releases.slice(start, 100))
        stats = index.build(index.SOURCES["discogs"], ws, workers=2)
        keyed = sorted((ws.tables / "match" / ".discogs_keys").glob("*.parquet"))
        assert (stats["parts_keyed"], len(keyed)) == ((2, 2) if slice_rows == 10_000 else (2, 6))
        tables[slice_rows] = (read_table(ws.table("match/discogs_track_index")).to_pylist(),
                              read_table(ws.table("match/discogs_blocks")).to_pylist(), stats["reference_rows"])
    assert tables[120] == tables[10_000]
    part = table_files(ws.table("discogs/releases"))[1]
    rows = read_table(part).to_pylist()
    last = [r for r in rows if r["artists"] and (r["tracklist"] or [{}])[0].get("type_") == "track"][-1]
    last["tracklist"][0]["title"] = "A Title Nobody Wrote Before"  # in the part's last slice
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=load_schema("discogs/releases")), part, row_group_size=100)
    again = index.build(index.SOURCES["discogs"], ws, workers=2)
    assert (again["parts_keyed"], again["parts_reused"]) == (1, 1)
    assert len(list((ws.tables / "match" / ".discogs_keys").glob("*.parquet"))) == 6
    titles = set(read_table(ws.table("match/discogs_track_index"), ["title"]).column("title").to_pylist())
    assert "A Title Nobody Wrote Before" in titles
