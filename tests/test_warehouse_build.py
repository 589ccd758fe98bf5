"""Warehouse building: table discovery and naming, atomic (re)creation, staleness, skipped views.

Uses small hand-made Parquet tables (no ingestion needed); the flat Discogs views are tested on
real ingested samples in test_warehouse_views.py.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools import manifest
from discogs_tools.errors import ConfigError, DiscogsToolsError, MissingInputError
from discogs_tools.warehouse import build
from discogs_tools.warehouse.discover import discover_tables, view_name
from discogs_tools.warehouse.views import load_views

PAIRS = pa.table({"anchor": ["t1", "t2"], "positive": ["t3", "t4"], "split": ["train", "train"]})


def write_parts(folder, table, parts=1):
    folder.mkdir(parents=True, exist_ok=True)
    step = max(1, table.num_rows // parts)
    for i in range(parts):
        pq.write_table(table.slice(i * step, step if i < parts - 1 else None), folder / f"part-{i:05d}.parquet")


def open_warehouse(path):
    """Read-only connection resolving the views' workspace-relative paths, as the toolkit opens it."""
    return duckdb.connect(str(path), read_only=True, config={"file_search_path": str(path.parent)})


def views_in(path) -> set[str]:
    con = open_warehouse(path)
    try:
        return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()


def staging_leftovers(ws) -> list[str]:
    """Hidden files and folders in the workspace root other than the lock folder (`.locks`)."""
    return [p.name for p in ws.root.iterdir() if p.name.startswith(".") and p.name != ".locks"]


def scalar(path, sql):
    con = open_warehouse(path)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_view_names_from_paths():
    assert view_name(["discogs", "releases"]) == "discogs_releases"
    assert view_name(["dataset", "My Set-1", "pairs", "artist"]) == "dataset_my_set_1_pairs_artist"
    assert view_name(["features", "2024"]) == "features_2024"
    assert view_name(["2024"]) == "t_2024"


def test_discovery_finds_folders_files_and_split_unions(ws):
    write_parts(ws.table("discogs/releases"), pa.table({"release_id": [1, 2, 3]}), parts=2)
    write_parts(ws.table("links/track_releases"), pa.table({"track_id": ["a"], "release_id": [1]}))
    pairs = ws.dataset("d20") / "pairs" / "artist"
    pairs.mkdir(parents=True)
    pq.write_table(PAIRS, pairs / "train.parquet")
    pq.write_table(PAIRS.slice(0, 1), pairs / "test.parquet")
    write_parts(pairs / "validation", PAIRS)  # a large split written as a folder of parts
    (ws.dataset("d20") / "word2vec").mkdir()
    pq.write_table(pa.table({"track_key": ["k"], "vector": [[0.5]]}), ws.dataset("d20") / "word2vec" / "vectors.parquet")
    write_parts(ws.dataset("d20") / "tracks", pa.table({"track_id": ["a"], "split": ["train"]}))
    write_parts(ws.dataset("d20") / "labels", pa.table({"style": ["House"], "index": [0]}))
    # A write in progress (hidden staging folder) is not a table.
    write_parts(ws.tables / "discogs" / ".masters.tmp-1-abc", pa.table({"master_id": [1]}))

    tables, clashes = discover_tables(ws)
    by_name = {t.name: t for t in tables}
    assert clashes == []
    assert set(by_name) == {
        "discogs_releases", "links_track_releases",
        "dataset_d20_pairs_artist_test", "dataset_d20_pairs_artist_train", "dataset_d20_pairs_artist_validation",
        "dataset_d20_pairs_artist", "dataset_d20_word2vec_vectors", "dataset_d20_tracks", "dataset_d20_labels",
    }
    assert by_name["discogs_releases"].kind == "folder" and by_name["discogs_releases"].files == 2
    assert by_name["dataset_d20_pairs_artist"].kind == "union"
    assert by_name["dataset_d20_pairs_artist"].files == 3

    report = build.run(ws)
    assert report.counts["tables"] == 9
    path = ws.warehouse_path
    assert scalar(path, "SELECT count(*) FROM discogs_releases") == 3
    # The union view holds every split's rows: 2 (train) + 1 (test) + 2 (validation).
    assert scalar(path, "SELECT count(*) FROM dataset_d20_pairs_artist") == 5
    assert scalar(path, "SELECT count(*) FROM _warehouse_tables") == 9
    assert manifest.get(ws.manifest_path, "warehouse")["counts"]["tables"] == 9
    # ... and what it was built from: every table with its size and fingerprint (unions are views of those).
    inputs = {i["view"]: i for i in manifest.get(ws.manifest_path, "warehouse")["inputs"]}
    assert set(inputs) == set(by_name) - {"dataset_d20_pairs_artist"}
    assert inputs["discogs_releases"]["files"] == 2 and inputs["discogs_releases"]["bytes"] > 0
    assert inputs["discogs_releases"]["path"] == str(ws.table("discogs/releases").resolve())


def test_name_clash_is_reported_not_silent(ws):
    write_parts(ws.table("a/b_c"), pa.table({"x": [1]}))
    write_parts(ws.table("a_b/c"), pa.table({"x": [2]}))
    tables, clashes = discover_tables(ws)
    assert [t.relpath for t in tables] == ["tables/a/b_c"]
    assert len(clashes) == 1 and "tables/a_b/c" in clashes[0] and "a_b_c" in clashes[0]
    assert any("name clash" in w for w in build.run(ws).warnings)


def test_views_whose_tables_are_absent_are_skipped_with_the_command_to_run(ws):
    write_parts(ws.table("discogs/labels"), pa.table({
        "label_id": pa.array([1], pa.int64()), "urls": [["http://a", "http://b"]],
        "sublabels": pa.array([[{"id": 5, "name": "Sub"}]], pa.list_(pa.struct([("id", pa.int64()), ("name", pa.string())]))),
    }))
    report = build.run(ws)
    outcome = {d["view"]: d for d in report.details if d["kind"] == "view"}
    assert outcome["label_urls"]["status"] == "created"
    assert outcome["label_sublabels"]["status"] == "created"
    assert outcome["release_styles"]["status"] == "skipped"
    assert outcome["release_styles"]["note"] == "needs table discogs_releases (run `discogs-tools ingest discogs DUMP_PATH`)"
    # A view built on another view is skipped because of that view.
    assert outcome["release_format_descriptions"]["note"].startswith("needs view release_formats")
    assert report.counts["views_failed"] == 0
    assert report.counts["views_created"] == 2
    assert scalar(ws.warehouse_path, "SELECT string_agg(url, ' ' ORDER BY ordinal) FROM label_urls") == "http://a http://b"


def test_rebuild_is_atomic_and_picks_up_new_tables(ws):
    write_parts(ws.table("discogs/artists"), pa.table({"artist_id": [1]}))
    build.run(ws)
    assert build.is_current(ws)
    reader = open_warehouse(ws.warehouse_path)  # a query running meanwhile

    write_parts(ws.table("playlists/playlist_tracks"), pa.table({"playlist_id": ["p"], "pos": [0], "track_key": ["k"]}))
    assert not build.is_current(ws)
    assert build.run(ws).counts["tables"] == 2
    # The open connection still sees the complete old warehouse (DuckDB keeps one database
    # instance per path in a process, so it is closed before the new file is opened).
    assert reader.execute("SELECT count(*) FROM _warehouse_tables").fetchone()[0] == 1
    reader.close()
    assert build.ensure(ws) is None  # current: nothing to do
    assert "playlists_playlist_tracks" in views_in(ws.warehouse_path)
    assert staging_leftovers(ws) == []


def test_changed_table_shape_makes_the_warehouse_stale(ws):
    write_parts(ws.table("collection/tracks"), pa.table({"track_id": ["a"]}))
    build.run(ws)
    write_parts(ws.table("collection/tracks"), pa.table({"track_id": ["a"], "duration_s": [1.5]}))
    assert not build.is_current(ws)


def test_failed_build_keeps_the_previous_warehouse(ws):
    write_parts(ws.table("discogs/releases"), pa.table({"release_id": [1, 2]}))
    build.run(ws)
    broken = ws.table("discogs/masters")
    broken.mkdir(parents=True)
    (broken / "part-00000.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DiscogsToolsError, match="tables/discogs/masters"):
        build.run(ws)
    assert scalar(ws.warehouse_path, "SELECT count(*) FROM discogs_releases") == 2
    assert staging_leftovers(ws) == []


def test_empty_workspace_says_what_to_run(ws):
    with pytest.raises(MissingInputError, match="run `discogs-tools ingest discogs DUMP_PATH` first"):
        build.run(ws)
    assert not ws.warehouse_path.exists()


def test_view_dependency_order_and_cycles(tmp_path):
    (tmp_path / "a_first.sql").write_text("select * from z_base")
    (tmp_path / "b_second.sql").write_text("-- reads a_first\nselect * from c_third")
    (tmp_path / "c_third.sql").write_text("select * from a_first")
    order = [v.name for v in load_views(tmp_path)]
    assert order.index("a_first") < order.index("c_third") < order.index("b_second")
    (tmp_path / "a_first.sql").write_text("select * from b_second")
    with pytest.raises(ConfigError, match="circular"):
        load_views(tmp_path)


def test_shipped_views_document_grain_and_keys():
    views = load_views()
    assert len(views) >= 21
    for view in views:
        assert "grain:" in view.header and "key:" in view.header, view.path
        assert view.sql.rstrip().endswith("select * from final"), view.path
