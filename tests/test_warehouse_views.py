"""The flat SQL views (sql/views/) and ready queries (sql/queries/) on real tables ingested
from the bundled Discogs samples of every era.

Expected values are read off the sample XML files by hand (quoted next to each assertion);
row counts are checked against list lengths computed with pyarrow straight from the Parquet
tables, independently of the SQL.
"""

from __future__ import annotations

import duckdb
import pyarrow.compute as pc
import pytest

from discogs_tools.discogs import ingest
from discogs_tools.io import read_table
from discogs_tools.resources import sample_data_dir
from discogs_tools.warehouse import build
from discogs_tools.warehouse.query import connect, execute
from discogs_tools.warehouse.readme import render_readme
from discogs_tools.warehouse.views import queries_dir, sql_words
from discogs_tools.workspace import Workspace

SAMPLES = sample_data_dir() / "discogs"
ERAS = ("xml2db_20200806", "xml2db_dotnet_single", "tgmz_20250101", "alexquintino_2015")

# view -> (table, list column) for the views with one row per list element.
LIST_VIEWS = {
    "release_artists": ("releases", "artists"),
    "release_extraartists": ("releases", "extraartists"),
    "release_labels": ("releases", "labels"),
    "release_series": ("releases", "series"),
    "release_formats": ("releases", "formats"),
    "release_genres": ("releases", "genres"),
    "release_styles": ("releases", "styles"),
    "release_identifiers": ("releases", "identifiers"),
    "release_companies": ("releases", "companies"),
    "release_videos": ("releases", "videos"),
    "master_artists": ("masters", "artists"),
    "master_genres": ("masters", "genres"),
    "master_styles": ("masters", "styles"),
    "master_videos": ("masters", "videos"),
    "artist_aliases": ("artists", "aliases"),
    "artist_members": ("artists", "members"),
    "artist_groups": ("artists", "groups"),
    "artist_namevariations": ("artists", "namevariations"),
    "artist_urls": ("artists", "urls"),
    "label_sublabels": ("labels", "sublabels"),
    "label_urls": ("labels", "urls"),
}
KEYS = {"releases": "release_id", "masters": "master_id", "artists": "artist_id", "labels": "label_id"}


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> dict[str, Workspace]:
    """One workspace per sample era (their record ids overlap), ingested and warehoused."""
    out = {}
    for era in ERAS:
        ws = Workspace(tmp_path_factory.mktemp(era) / "workspace").ensure()
        ingest.run([SAMPLES / era], ws, workers=0)
        build.run(ws)
        out[era] = ws
    return out


@pytest.fixture(scope="module")
def q(warehouses):
    """``q(era, sql)`` -> list of row tuples from that era's warehouse (read-only)."""
    cons = {era: connect(ws) for era, ws in warehouses.items()}

    def run(era: str, sql: str) -> list[tuple]:
        return cons[era].execute(sql).fetchall()

    yield run
    for con in cons.values():
        con.close()


def test_every_view_is_created_on_a_complete_dump(warehouses):
    report = build.run(warehouses["xml2db_20200806"])
    statuses = {d["view"]: d["status"] for d in report.details if d["kind"] == "view"}
    assert set(statuses.values()) == {"created"}, statuses
    assert set(LIST_VIEWS) | {"release_tracks", "release_track_artists", "release_format_descriptions"} <= set(statuses)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("view", sorted(LIST_VIEWS))
def test_list_view_rows_match_list_lengths(warehouses, q, era, view):
    table, column = LIST_VIEWS[view]
    folder = warehouses[era].table(f"discogs/{table}")
    if not folder.is_dir():
        pytest.skip(f"the {era} sample has no {table}")
    lists = read_table(folder, columns=[column]).column(column)
    expected = pc.sum(pc.fill_null(pc.list_value_length(lists), 0)).as_py() or 0
    assert q(era, f"SELECT count(*) FROM {view}")[0][0] == expected
    # Ordinals number each parent's elements 1..n (records that a sample holds twice aside).
    key = KEYS[table]
    bad = q(era, f"SELECT count(*) FROM (SELECT {key}, count(*) n, min(ordinal) lo, max(ordinal) hi "
                 f"FROM {view} WHERE {key} IN (SELECT {key} FROM discogs_{table} GROUP BY 1 HAVING count(*) = 1) "
                 f"GROUP BY {key}) WHERE lo <> 1 OR hi <> n")
    assert bad[0][0] == 0


@pytest.mark.parametrize("era", ERAS)
def test_release_tracks_rows_are_tracks_plus_sub_tracks(warehouses, q, era):
    tracklists = read_table(warehouses[era].table("discogs/releases"), columns=["tracklist"]).column("tracklist")
    flat = pc.list_flatten(tracklists)
    subs = pc.struct_field(flat, "sub_tracks")
    expected = len(flat) + (pc.sum(pc.fill_null(pc.list_value_length(subs), 0)).as_py() or 0)
    assert q(era, "SELECT count(*) FROM release_tracks")[0][0] == expected
    assert q(era, "SELECT count(*) FROM release_tracks WHERE is_sub_track")[0][0] == expected - len(flat)


def test_release_artists_keep_anv_and_join(q):
    # release 46: <artist><id>96</id><name>Håkan Lidbo</name><anv>Håkan</anv><join>Featuring</join>...
    #             <artist><id>95</id><name>Laid</name><anv/><join/>...
    rows = q("xml2db_20200806", "SELECT ordinal, artist_id, artist_name, anv, join_phrase, credited_name "
                                "FROM release_artists WHERE release_id = 46 ORDER BY ordinal")
    assert rows == [(1, 96, "Håkan Lidbo", "Håkan", "Featuring", "Håkan"), (2, 95, "Laid", "", "", "Laid")]


def test_release_extraartist_without_id(q):
    # release 7: <artist><id>0</id><name>Koibito &amp; Boku</name>...<role>Other [Spirits Lifted By]</role>
    rows = q("xml2db_20200806", "SELECT artist_id, artist_name, role FROM release_extraartists "
                                "WHERE release_id = 7 ORDER BY ordinal")
    assert rows[0] == (None, "Koibito & Boku", "Other [Spirits Lifted By]")
    assert rows[2] == (57, "Chris Gray", "Written-By, Producer, Mixed By")


def test_release_labels_catno_none_and_old_labels_without_id(q):
    # release 1586308: <label name="Mansfield Deathtrap Rerecordings" catno="none" id="82336"/>
    assert q("xml2db_20200806", "SELECT label_id, label_name, catno FROM release_labels WHERE release_id = 1586308") == [
        (82336, "Mansfield Deathtrap Rerecordings", "none")]
    # 2013-era release 2: <label catno="SK 026" name="Svek"/><label catno="SK026" name="Svek"/> (no ids)
    assert q("alexquintino_2015", "SELECT ordinal, label_id, label_name, catno FROM release_labels "
                                  "WHERE release_id = 2 ORDER BY ordinal") == [
        (1, None, "Svek", "SK 026"), (2, None, "Svek", "SK026")]


def test_release_styles_genres_formats(q):
    # release 1: <styles><style>Deep House</style></styles>;
    # <format name="Vinyl" qty="2" text=""><description>12"</description><description>33 ⅓ RPM</description>
    assert q("xml2db_20200806", "SELECT style FROM release_styles WHERE release_id = 1") == [("Deep House",)]
    assert q("xml2db_20200806", "SELECT format_name, qty, quantity, format_text, descriptions_text FROM release_formats "
                                "WHERE release_id = 1") == [("Vinyl", "2", 2, "", '12", 33 ⅓ RPM')]
    assert q("xml2db_20200806", "SELECT ordinal, description FROM release_format_descriptions "
                                "WHERE release_id = 1 ORDER BY ordinal") == [(1, '12"'), (2, "33 ⅓ RPM")]
    # release 2460568 (2025 era; the sample holds it twice): styles Rock &amp; Roll, Pop Rock in that order.
    assert q("tgmz_20250101", "SELECT DISTINCT ordinal, style FROM release_styles WHERE release_id = 2460568 ORDER BY ordinal") == [
        (1, "Rock & Roll"), (2, "Pop Rock")]


def test_release_identifiers_companies_videos(q):
    era = "xml2db_20200806"
    # release 1: <identifier type="Matrix / Runout" description="A-Side Runout" value="MPO SK 032 A1"/>
    assert q(era, "SELECT identifier_type, description, value FROM release_identifiers "
                  "WHERE release_id = 1 AND ordinal = 1") == [("Matrix / Runout", "A-Side Runout", "MPO SK 032 A1")]
    # <company><id>56025</id><name>MPO</name>...<entity_type>17</entity_type><entity_type_name>Pressed By</...>
    assert q(era, "SELECT ordinal, company_name, entity_type, entity_type_name FROM release_companies "
                  "WHERE release_id = 1 AND company_id = 56025") == [(2, "MPO", 17, "Pressed By")]
    # <video src="https://www.youtube.com/watch?v=Cawyll0pOI4" duration="376" embed="true"><title>The Persuader - Vasastaden
    assert q(era, "SELECT ordinal, duration_s, embed, title FROM release_videos WHERE release_id = 1 "
                  "AND src = 'https://www.youtube.com/watch?v=Cawyll0pOI4'") == [(2, 376, True, "The Persuader - Vasastaden")]


def test_release_tracks_headings_index_and_sub_tracks(q):
    # release 3019999: heading "1984", tracks 1-1..1-4, index "Medley" with sub-tracks 1-5.1..1-5.7, ...
    rows = q("xml2db_20200806", "SELECT track_index, sub_track_index, position, track_type, title, parent_title "
                                "FROM release_tracks WHERE release_id = 3019999 ORDER BY track_index, sub_track_index")
    assert rows[0] == (1, 0, "", "heading", "1984", None)
    assert rows[5] == (6, 0, "", "index", "Medley", None)
    assert [r[2] for r in rows[6:13]] == [f"1-5.{i}" for i in range(1, 8)]
    assert rows[6] == (6, 1, "1-5.1", "track", "Blues For L.W.", "Medley")
    assert rows[12][4] == "Mitch Match (Reprise)"
    assert len(rows) == 14 + 7
    # The dotnet sample: index track "Piano Concerto No. 1" holds sub-track 1-2 "Third Movement" (4:50).
    assert q("xml2db_dotnet_single", "SELECT track_index, sub_track_index, title, duration, duration_s, parent_title "
                                     "FROM release_tracks WHERE release_id = 4497890 AND is_sub_track "
                                     "ORDER BY track_index") == [
        (2, 1, "Third Movement", "4:50", 290.0, "Piano Concerto No. 1"),
        (4, 1, "First Impression Pt. 2", "5:25", 325.0, "Karn Evil 9")]


def test_track_artists(q):
    # release 3, track 1: <artist><id>5</id><name>Heiko Laux</name><anv/><join>&amp;</join>...
    #                     <artist><id>4</id><name>Johannes Heil</name>...
    assert q("xml2db_20200806", "SELECT position, artist_ids, artists, artist_count FROM release_tracks "
                                "WHERE release_id = 3 AND track_index = 1") == [("1", [5, 4], "Heiko Laux & Johannes Heil", 2)]
    assert q("xml2db_20200806", "SELECT credit_type, ordinal, artist_id, join_phrase FROM release_track_artists "
                                "WHERE release_id = 3 AND track_index = 1 ORDER BY credit_type, ordinal") == [
        ("artist", 1, 5, "&"), ("artist", 2, 4, "")]
    # 4497890 track 2 (index): extraartists Keith Emerson Featuring, then Keith Emerson (anv Emerson) Written-By.
    assert q("xml2db_dotnet_single", "SELECT ordinal, artist_id, anv, role, credited_name FROM release_track_artists "
                                     "WHERE release_id = 4497890 AND track_index = 2 AND sub_track_index = 0 "
                                     "AND credit_type = 'extraartist' ORDER BY ordinal") == [
        (1, 252850, "", "Featuring", "Keith Emerson"), (2, 252850, "Emerson", "Written-By", "Emerson")]
    # Sub-track 1-4 "First Impression Pt. 2" carries its own extraartist credits (Greg Lake, anv Lake, Written-By).
    rows = q("xml2db_dotnet_single", "SELECT position, artist_id, anv, role FROM release_track_artists "
                                     "WHERE release_id = 4497890 AND track_index = 4 AND sub_track_index = 1 "
                                     "ORDER BY ordinal")
    assert rows[0] == ("1-4", 259120, "Lake", "Written-By")


def test_master_views(q):
    # master 122: styles Breakbeat, Hardcore, Jungle; first video duration 364, artist Mixrace (69209).
    era = "xml2db_dotnet_single"
    assert q(era, "SELECT style FROM master_styles WHERE master_id = 122 ORDER BY ordinal") == [
        ("Breakbeat",), ("Hardcore",), ("Jungle",)]
    assert q(era, "SELECT genre FROM master_genres WHERE master_id = 122") == [("Electronic",)]
    assert q(era, "SELECT artist_id, artist_name FROM master_artists WHERE master_id = 122") == [(69209, "Mixrace")]
    assert q(era, "SELECT duration_s, embed, title FROM master_videos WHERE master_id = 122 AND ordinal = 1") == [
        (364, True, "Mix Race - Mixrace Outta Hand")]
    # 2025 master 482870: Marteria (join •), Yasha Conen (join •), Platnum (join ,)
    assert q("tgmz_20250101", "SELECT artist_name, join_phrase FROM master_artists WHERE master_id = 482870 "
                              "ORDER BY ordinal") == [("Marteria", "•"), ("Yasha Conen", "•"), ("Platnum", ",")]


def test_artist_views(q):
    era = "xml2db_dotnet_single"  # artist 27, Cari Lekebusch
    assert q(era, "SELECT alias_id, alias_name FROM artist_aliases WHERE artist_id = 27 ORDER BY ordinal") == [
        (89, "Mr. James Barth"), (1294, "Braincell")]
    assert q(era, "SELECT group_id, group_name FROM artist_groups WHERE artist_id = 27 ORDER BY ordinal") == [
        (2, "Mr. James Barth & A.D."), (2470, "Puente Latino")]
    assert q(era, "SELECT name_variation FROM artist_namevariations WHERE artist_id = 27 ORDER BY ordinal") == [
        ("C Lekebusch",), ("Cari Lekebusch den rykande Bönsyrsan",)]
    assert q(era, "SELECT url FROM artist_urls WHERE artist_id = 27 AND ordinal = 1") == [("https://lekebusch.bandcamp.com/",)]
    # 2020-era members: <id>6549</id><name id="6549">Richard Worth</name><id>28896</id>...
    assert q(era, "SELECT member_id, member_name FROM artist_members WHERE artist_id = 27 ORDER BY ordinal") == [
        (6549, "Richard Worth"), (28896, "Jay Rodriguez")]
    # 2025-era members: only <name id="25411">Alan Wilder</name> ... (Depeche Mode, 2725), five of them.
    rows = q("tgmz_20250101", "SELECT member_id, member_name FROM artist_members WHERE artist_id = 2725 ORDER BY ordinal")
    assert rows[:2] == [(25411, "Alan Wilder"), (26847, "Martin L. Gore")] and len(rows) == 5


def test_label_views(q):
    # label 1 Planet E: eight <sublabels><label id=...>, from "Antidote (4)" (86537) to "TWPENTY" (488315).
    rows = q("xml2db_dotnet_single", "SELECT ordinal, sublabel_id, sublabel_name FROM label_sublabels "
                                     "WHERE label_id = 1 ORDER BY ordinal")
    assert len(rows) == 8
    assert rows[0] == (1, 86537, "Antidote (4)") and rows[-1] == (8, 488315, "TWPENTY")
    urls = q("xml2db_dotnet_single", "SELECT url FROM label_urls WHERE label_id = 1 ORDER BY ordinal")
    assert len(urls) == 13 and urls[0] == ("http://planet-e.net",)


def discogs_only(path) -> bool:
    """Ready queries that read only Discogs tables and views (others need other stages' tables)."""
    return not any(w.startswith(("playlists_", "collection_", "links_", "dataset_", "features_"))
                   for w in sql_words(path.read_text()))


@pytest.mark.parametrize("query_file", sorted(p.name for p in queries_dir().glob("*.sql") if discogs_only(p)))
def test_ready_queries_run_on_real_tables(warehouses, query_file):
    con = connect(warehouses["xml2db_20200806"])
    try:
        rel = execute(con, (queries_dir() / query_file).read_text(), query_file)
        assert rel is not None and len(rel.fetchall()) > 0
    finally:
        con.close()


def test_styles_by_release_count_matches_a_direct_count(warehouses, q):
    styles = read_table(warehouses["xml2db_20200806"].table("discogs/releases"), columns=["release_id", "styles"])
    counts: dict[str, set[int]] = {}
    for rid, lst in zip(styles.column("release_id").to_pylist(), styles.column("styles").to_pylist()):
        for s in lst or []:
            counts.setdefault(s, set()).add(rid)
    sql = (queries_dir() / "styles_by_release_count.sql").read_text()
    got = {row[0]: row[2] for row in q("xml2db_20200806", sql)}
    assert got == {s: len(ids) for s, ids in counts.items()}


def test_artist_collaborations_counts_pairs(q):
    # release 3 has no two main artists, release 46 credits Håkan Lidbo (96) and Laid (95).
    rows = q("xml2db_20200806", "SELECT * FROM (" + (queries_dir() / "artist_collaborations.sql").read_text()
             + ") WHERE artist_a_id = 95 AND artist_b_id = 96")
    assert len(rows) == 1 and rows[0][1] == "Laid" and rows[0][3] == "Håkan Lidbo" and rows[0][4] >= 1


def test_sql_readme_is_generated_from_the_sql_headers():
    readme = (queries_dir().parent / "README.md").read_text(encoding="utf-8")
    for path in list((queries_dir().parent / "views").glob("*.sql")) + list(queries_dir().glob("*.sql")):
        assert f"`{path.stem}`" in readme, path.stem
    assert readme == render_readme(), "regenerate: python -m discogs_tools.warehouse.readme > sql/README.md"
