"""`ingest discogs` on the bundled real dump samples of four eras (2013, 2020, 2020 single
records, 2025): counts, exact values, schema, losslessness, determinism, manifest, CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from lxml import etree

from discogs_tools import manifest
from discogs_tools.discogs.ingest import run
from discogs_tools.io import read_table
from discogs_tools.schemas import load_schema

ERAS = ["alexquintino_2015", "xml2db_20200806", "xml2db_dotnet_single", "tgmz_20250101"]


def _open(path: Path):
    return gzip.open(path) if path.suffix == ".gz" else open(path, "rb")


def _records_by_entity(folder: Path) -> dict[str, int]:
    """Record counts per entity, counted with a plain XML parser (independent of the code under test)."""
    counts: dict[str, int] = {}
    for f in sorted(folder.iterdir()):
        if ".xml" not in f.name:
            continue
        with _open(f) as fh:
            root = etree.parse(fh).getroot()
        single = root.tag in ("release", "master", "artist", "label")
        entity = root.tag + "s" if single else root.tag
        counts[entity] = counts.get(entity, 0) + (1 if single else len(root))
    return counts


@pytest.fixture(scope="module")
def tables(tmp_path_factory, samples_dir=None):
    """Every era ingested into its own workspace (2 workers), read back per table."""
    from discogs_tools.resources import sample_data_dir
    from discogs_tools.workspace import Workspace

    out = {}
    for era in ERAS:
        ws = Workspace(tmp_path_factory.mktemp(era) / "ws")
        report = run([sample_data_dir() / "discogs" / era], ws, workers=2)
        out[era] = (ws, report, {t: read_table(ws.table(f"discogs/{t}")) for t in
                                 ("releases", "masters", "artists", "labels") if ws.has_table(f"discogs/{t}")})
    return out


def _row(table, column: str, value):
    rows = [r for r in table.to_pylist() if r[column] == value]
    assert len(rows) == 1, f"{column}={value}: {len(rows)} rows"
    return rows[0]


@pytest.mark.parametrize("era", ERAS)
def test_row_counts_equal_record_counts(tables, samples, era):
    ws, report, t = tables[era]
    expected = _records_by_entity(samples / era)
    assert {name: tab.num_rows for name, tab in t.items()} == expected
    assert report.counts["rejects"] == 0
    assert report.counts["records"] == report.counts["rows"] == sum(expected.values())


@pytest.mark.parametrize("era", ERAS)
def test_tables_match_declared_schema(tables, era):
    ws, _, t = tables[era]
    for name in t:
        declared = load_schema(f"discogs/{name}")
        for part in ws.table(f"discogs/{name}").glob("*.parquet"):
            assert pq.read_schema(part).remove_metadata().equals(declared.remove_metadata()), part


def test_release_artists_with_anv_and_join(tables):
    releases = tables["xml2db_20200806"][2]["releases"]
    r = _row(releases, "release_id", 41)
    assert r["artists"] == [
        {"id": 92, "name": "Fredrik Stark", "anv": "", "join": "&", "role": "", "tracks": ""},
        {"id": 17757, "name": "City Dreams", "anv": "Citydreams", "join": "", "role": "", "tracks": ""},
    ]


def test_release_1_full_row_2020(tables):
    r = _row(tables["xml2db_20200806"][2]["releases"], "release_id", 1)
    assert (r["title"], r["status"], r["country"], r["released"], r["year"]) == \
        ("Stockholm", "Accepted", "Sweden", "1999-03-00", 1999)
    assert (r["master_id"], r["is_main_release"]) == (1660109, True)
    assert r["labels"] == [{"id": 5, "name": "Svek", "catno": "SK032"}]
    assert r["formats"] == [{"name": "Vinyl", "qty": "2", "text": "", "descriptions": ['12"', "33 ⅓ RPM"]}]
    assert [t["position"] for t in r["tracklist"]] == ["A", "B1", "B2", "C1", "C2", "D"]
    assert r["tracklist"][0]["title"] == "Östermalm"
    assert (r["tracklist"][0]["duration"], r["tracklist"][0]["duration_s"]) == ("4:45", 285.0)
    assert r["identifiers"][0] == {"type": "Matrix / Runout", "description": "A-Side Runout",
                                   "value": "MPO SK 032 A1"}
    assert r["images"][0] == {"type": "primary", "uri": "", "uri150": "", "width": 600, "height": 600}
    assert r["videos"][0]["src"] == "https://www.youtube.com/watch?v=MpmbntGDyNE"
    assert (r["videos"][0]["duration"], r["videos"][0]["embed"]) == (296, True)
    assert r["extra"] is None and r["record_ordinal"] == 0 and r["source_offset"] == len(b"<releases>\n")


def test_track_with_sub_tracks_and_heading(tables):
    releases = tables["xml2db_dotnet_single"][2]["releases"]
    r = _row(releases, "release_id", 4497890)
    karn = next(t for t in r["tracklist"] if t["title"] == "Karn Evil 9")
    assert (karn["position"], karn["duration"], karn["duration_s"], karn["type_"]) == ("", "", None, "index")
    first = karn["sub_tracks"][0]
    assert (first["position"], first["title"], first["duration_s"]) == ("1-4", "First Impression Pt. 2", 325.0)
    assert first["extraartists"][0] == {"id": 259120, "name": "Greg Lake", "anv": "Lake", "join": "",
                                        "role": "Written-By", "tracks": ""}
    # A heading: no position, no duration, no sub-tracks (2020 dump, release 25).
    r25 = _row(tables["xml2db_20200806"][2]["releases"], "release_id", 25)
    heading = r25["tracklist"][0]
    assert (heading["title"], heading["position"], heading["type_"], heading["sub_tracks"]) == \
        ("This Side", "", "heading", None)
    assert r25["tracklist"][1]["type_"] == "track"


def test_label_with_catno_none(tables):
    r = _row(tables["xml2db_20200806"][2]["releases"], "release_id", 1586308)
    assert {"id": 82336, "name": "Mansfield Deathtrap Rerecordings", "catno": "none"} in r["labels"]


def test_2025_extraartist_without_id_and_omitted_empty_elements(tables):
    r = _row(tables["tgmz_20250101"][2]["releases"], "release_id", 10222)
    gore = [a for a in r["extraartists"] if a["anv"] == "M.L. Gore"]
    assert gore == [{"id": None, "name": "Martin L. Gore", "anv": "M.L. Gore", "join": None,
                     "role": "Written By [All Songs Written By]", "tracks": None}]
    # 2025 dumps omit empty <anv/><join/>...: null, not ''.
    assert r["artists"] == [{"id": 2725, "name": "Depeche Mode", "anv": None, "join": None, "role": None,
                             "tracks": None}]
    assert r["images"] is None


def test_2013_release_label_without_id_and_images_with_urls(tables):
    r = _row(tables["alexquintino_2015"][2]["releases"], "release_id", 1)
    assert r["labels"] == [{"id": None, "name": "Svek", "catno": "SK032"}]
    assert (r["master_id"], r["is_main_release"]) == (5427, None)
    assert r["artists"][0]["name"] == "Persuader, The"
    assert r["images"][0]["uri"] == "http://api.discogs.com/images/R-1-1193812031.jpeg"


def test_artist_members_in_three_eras(tables):
    dm = _row(tables["tgmz_20250101"][2]["artists"], "artist_id", 2725)  # 2025: only <name id>
    assert dm["members"][:2] == [{"id": 25411, "name": "Alan Wilder"}, {"id": 26847, "name": "Martin L. Gore"}]
    assert dm["images"] is None
    a2 = _row(tables["xml2db_20200806"][2]["artists"], "artist_id", 2)  # 2020: <id> + <name id>
    assert a2["members"] == [{"id": 26, "name": "Alexi Delano"}, {"id": 27, "name": "Cari Lekebusch"}]
    assert a2["realname"] == "Cari Lekebusch & Alexi Delano"
    old = tables["alexquintino_2015"][2]["artists"].to_pylist()  # 2013: <name> only, images with URLs
    assert all(m["id"] is None for a in old for m in (a["members"] or []))
    assert any(m["name"] for a in old for m in (a["members"] or []))
    assert all(a["images"] for a in old)


def test_labels_parent_and_sublabels(tables):
    labels = tables["tgmz_20250101"][2]["labels"]
    reprise = _row(labels, "label_id", 157)
    assert reprise["name"] == "Reprise Records"
    assert reprise["contactinfo"].startswith("8380 Melrose Avenue\r\nHollywood")
    single = tables["xml2db_dotnet_single"][2]["labels"].to_pylist()[0]
    assert single["sublabels"] and all(s["id"] and s["name"] for s in single["sublabels"])


def test_masters_values(tables):
    m = _row(tables["xml2db_20200806"][2]["masters"], "master_id", 113)
    assert (m["main_release"], m["title"], m["year"]) == (116925, "Moments In Time", 2002)
    assert m["styles"] == ["Techno", "Tech House"]
    assert m["artists"][0]["name"] == "Vince Watson"


def test_unknown_elements_and_comments_are_kept_in_extra(tmp_path, ws, samples):
    xml = (samples / "xml2db_dotnet_single" / "release.xml").read_text(encoding="utf-8")
    xml = xml.replace("<title>", "<mood rating=\"5\">calm</mood><title>", 1)
    xml = xml.replace("</tracklist>", "<!-- checked --></tracklist>", 1)
    f = tmp_path / "release.xml"
    f.write_text(xml, encoding="utf-8")
    run([f], ws, workers=0)
    row = read_table(ws.table("discogs/releases")).to_pylist()[0]
    extra = json.loads(row["extra"])
    assert {"path": "mood", "xml": '<mood rating="5">calm</mood>'} in extra
    assert {"path": "tracklist/comment()", "xml": "<!-- checked -->"} in extra


def _edited_release_row(tmp_path, ws, samples, monkeypatch, edits: list[tuple[str, str]]) -> dict:
    """The 2020 single-release sample with ``edits`` (first occurrence each), ingested through
    both conversion paths; the row, after checking that the two paths agree."""
    xml = (samples / "xml2db_dotnet_single" / "release.xml").read_text(encoding="utf-8")
    for old, new in edits:
        xml = xml.replace(old, new, 1)
    f = tmp_path / "release.xml"
    f.write_text(xml, encoding="utf-8")
    rows = []
    for fast in ("0", "1"):
        monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", fast)
        run([f], ws, workers=0)
        rows.append(read_table(ws.table("discogs/releases")).to_pylist()[0])
    assert rows[0] == rows[1]
    return rows[0]


def test_unknown_attributes_are_kept_in_extra_once(tmp_path, ws, samples, monkeypatch):
    """Attributes the converters do not read, anywhere in a record (the record element, a leaf,
    an element whose other attributes are columns, a namespaced one), land in `extra` with
    their path; those inside an element kept whole as XML are not repeated. Both conversion
    paths give the same row."""
    row = _edited_release_row(tmp_path, ws, samples, monkeypatch, [
        ('status="Accepted"', 'status="Accepted" vote="7"'),
        ("<title>", '<title lang="sv">'),
        ('<image type="primary"', '<image crop="1:1" type="primary"'),
        ("<country>", '<country xmlns:x="urn:x" x:iso="SE">'),
        ("<genres>", '<mood rating="5">calm</mood><genres>'),
    ])
    assert row["status"] == "Accepted" and row["title"] and row["country"]
    assert row["images"][0]["type"] == "primary"
    extra = json.loads(row["extra"])
    assert {"path": "", "attr": "vote", "value": "7"} in extra
    assert {"path": "title", "attr": "lang", "value": "sv"} in extra
    assert {"path": "images/image[1]", "attr": "crop", "value": "1:1"} in extra
    assert {"path": "country", "attr": "{urn:x}iso", "value": "SE"} in extra
    assert {"path": "mood", "xml": '<mood rating="5">calm</mood>'} in extra
    assert not any(e.get("attr") == "rating" for e in extra)  # kept in the <mood> XML already
    assert len(extra) == 5


def test_stray_text_and_children_of_leaves_are_kept_in_extra(tmp_path, ws, samples, monkeypatch):
    """Text in a container or an attribute-only element, and nodes inside a leaf (after its
    value), land in `extra`; whitespace between elements does not. Both paths agree."""
    row = _edited_release_row(tmp_path, ws, samples, monkeypatch, [
        ("<genres>", "<genres>\n  stray\n  "),
        ("<tracklist>", "<tracklist>\n    "),
        ("<country>", "<country>Swe<!-- sic -->den"),
        ('<image type="primary"', '<image type="primary" note="x"'),
    ])
    assert row["country"] == "Swe"  # the leading text is the value (the sample's country is US)
    extra = json.loads(row["extra"])
    assert [e["text"].strip() for e in extra if e["path"] == "genres"] == ["stray"]  # as written, with its whitespace
    assert {"path": "country/comment()", "xml": "<!-- sic -->"} in extra
    assert {"path": "country", "text": "denUS"} in extra
    assert {"path": "images/image[1]", "attr": "note", "value": "x"} in extra
    assert not any(e["path"] == "tracklist" for e in extra)
    assert len(extra) == 4


def test_leftovers_are_recorded_once_in_order():
    """A child inside a leaf is kept as XML with its attributes inside (not again as an
    attribute), the text after it is kept, and text after a comment in a container too."""
    from discogs_tools.discogs.parse_releases import convert

    root = etree.fromstring('<releases><release id="7"><title>A<b x="1"/>B</title>'
                            '<genres><!-- c -->stray<genre>Rock</genre></genres></release></releases>')
    row = convert(root[0])
    assert row[0] == 7 and row[2] == "A"
    assert json.loads(row[-1]) == [
        {"path": "genres/comment()", "xml": "<!-- c -->"},  # from the converter
        {"path": "title/b", "xml": '<b x="1"/>'},
        {"path": "title", "text": "B"},
        {"path": "genres", "text": "stray"},
    ]


def test_two_files_of_one_entity_go_to_one_table_and_workers_do_not_change_it(tmp_path, samples):
    from discogs_tools.workspace import Workspace

    folder = samples / "tgmz_20250101"
    files = [folder / "discogs_20250101_releases.extract.xml.gz", folder / "discogs_20250101_release_2460568.xml"]
    outputs = []
    for workers, chunk in ((0, 1 << 20), (2, 4096), (2, 4096)):
        ws = Workspace(tmp_path / f"ws{len(outputs)}")
        run(files, ws, workers=workers, chunk_bytes=chunk)
        outputs.append(read_table(ws.table("discogs/releases")))
    assert outputs[0].num_rows == 4
    assert outputs[0].column("release_id").to_pylist()[-1] == 2460568
    assert outputs[0].column("source_file").to_pylist() == [files[0].name] * 3 + [files[1].name]
    assert outputs[0].column("record_ordinal").to_pylist() == [0, 1, 2, 0]
    assert outputs[0].equals(outputs[1]) and outputs[1].equals(outputs[2])


def test_rerun_is_deterministic_and_replaces_the_table(tmp_path, ws, samples):
    f = samples / "xml2db_20200806" / "discogs_20200806_labels.sample1000.xml.gz"
    run([f], ws, workers=2, chunk_bytes=64 << 10)
    first = {p.name: p.read_bytes() for p in ws.table("discogs/labels").glob("*.parquet")}
    assert len(first) > 1  # several chunks
    run([f], ws, workers=1, chunk_bytes=64 << 10)
    second = {p.name: p.read_bytes() for p in ws.table("discogs/labels").glob("*.parquet")}
    assert first == second
    assert [p.name for p in ws.table("discogs").iterdir()] == ["labels"]  # no staging leftovers


def test_manifest_records_each_file(ws, samples):
    f = samples / "xml2db_20200806" / "discogs_20200806_masters.sample1000.xml.gz"
    run([f], ws, workers=0)
    entry = manifest.get(ws.manifest_path, "ingest discogs masters")
    assert entry["inputs"][0]["bytes"] == f.stat().st_size
    assert entry["inputs"][0]["checksum"] == manifest.file_checksum(f)
    detail = entry["files"][0]
    assert (detail["records"], detail["rows"], detail["rejects"]) == (1000, 1000, 0)
    assert detail["seconds"] > 0 and detail["mb_per_s"] > 0


def test_cli_ingest(tmp_path, samples):
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    result = CliRunner().invoke(app, ["ingest", "discogs", str(samples / "alexquintino_2015"),
                                      "--workspace", str(tmp_path / "ws"), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "releases_sample.xml: releases 6 records, 6 rows, 0 rejects" in result.output
    assert (tmp_path / "ws" / "tables" / "discogs" / "masters").is_dir()


def test_report_and_manifest_say_which_conversion_path_ran(ws, samples, monkeypatch):
    from discogs_tools.discogs import fastpath

    f = samples / "xml2db_20200806" / "discogs_20200806_labels.sample1000.xml.gz"
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "1")
    report = run([f], ws, workers=0)
    assert any("Python converters used" in w and "DISCOGS_TOOLS_NO_FAST_PATH" in w for w in report.warnings)
    assert manifest.get(ws.manifest_path, "ingest discogs labels")["compiled_walker"] is False
    monkeypatch.delenv("DISCOGS_TOOLS_NO_FAST_PATH")
    report = run([f], ws, workers=0)
    on = fastpath.unavailable_reason() is None
    assert manifest.get(ws.manifest_path, "ingest discogs labels")["compiled_walker"] is on
    assert any("Python converters used" in w for w in report.warnings) is not on
