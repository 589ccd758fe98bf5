"""Identifiers first: ISRC, barcode and catalogue number links on the real 2020-08 Discogs sample.

Release 4 (Faze Action, Moving Cities) has barcode "0 9362-47555-2 4"; release 25 (Kerri Chandler,
Digitalsoul (Session Two)) catalogue number LAR-053; release 14220586 (Relusion, Higher Than The
Sky) the ISRC ATAQ71900023 for its track 1; master 101332 is Frampton Comes Alive! (two releases).
"""

from __future__ import annotations

import pytest

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import read_table
from discogs_tools.match import stage
from discogs_tools.match.identifiers import normal_code
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"

MANIFEST = """track_id,artist,title,isrc,barcode,catalog_number,discogs_release_id,discogs_master_id
by-barcode,Unknown Artist,Moving Cities,,093624755524,,,
by-isrc,Relusion,Higher Than The Sky (Original Mix),AT-AQ7-19-00023,,,,
by-catno,Kerri Chandler,Summer Love,,,LAR 053,,
catno-other-artist,Somebody Else Entirely,Summer Love,,,LAR-053,,
barcode-and-tag,Faze Action,Moving Cities,,0 9362-47555-2 4,,4,
by-master-tag,Someone Unknown,It's A Plain Shame,,,,,101332
"""


@pytest.fixture(scope="module")
def links(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ids") / "workspace").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    manifest = ws.root.parent / "tracks.csv"
    manifest.write_text(MANIFEST, encoding="utf-8")
    collection_ingest.run(manifest, ws)
    stage.run(ws, "discogs")
    out: dict[str, dict[int, str]] = {}
    for link in read_table(ws.table("links/track_releases")).to_pylist():
        out.setdefault(link["track_id"], {})[link["release_id"]] = link["method"]
    return out


def test_barcode_links_the_release_whatever_the_artist_text(links):
    assert links["by-barcode"].get(4) == "barcode"


def test_isrc_links_the_release_of_the_recording(links):
    assert links["by-isrc"].get(14220586) == "isrc"


def test_catalogue_number_needs_the_artist_too(links):
    assert links["by-catno"].get(25) == "catno"
    assert "catno-other-artist" not in links


def test_master_id_tag_links_its_releases_carrying_the_title(links):
    # master 101332 (Frampton Comes Alive!): 14220571 has "It's A Plain Shame", 11058794 "It's A Plane Shame"
    assert links["by-master-tag"] == {14220571: "id", 11058794: "id"}


def test_identifier_wins_over_the_release_id_tag(links):
    assert links["barcode-and-tag"][4] == "barcode"


@pytest.mark.parametrize(("value", "kind", "code"), [
    ("0 9362-47555-2 4", "barcode", "93624755524"),
    ("093624755524", "barcode", "93624755524"),
    ("LAR-053", "catno", "LAR053"),
    ("lar 053", "catno", "LAR053"),
    ("AT-AQ7-19-00023", "isrc", "ATAQ71900023"),
    ("none", "catno", None),
    ("123", "barcode", None),
])
def test_identifiers_compare_in_one_form(value, kind, code):
    assert normal_code(value, kind) == code
