"""Reliability of `ingest discogs` (issue 11): nothing read is lost or silently changed.

Each test is a regression test for one item of the issue, on the real samples edited the way a
bad dump (or a hostile one) would be; the conversion tests run through both conversion paths
(the compiled walker and the Python converters) and check that they give the same table.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.compute as pc
import pytest

from discogs_tools.discogs import fastpath
from discogs_tools.discogs.ingest import run
from discogs_tools.errors import DiscogsToolsError, InputError
from discogs_tools.io import read_table, table_version
from discogs_tools.workspace import Workspace

RELEASES_GZ = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"
MASTERS_GZ = "xml2db_20200806/discogs_20200806_masters.sample1000.xml.gz"
ARTISTS_GZ = "xml2db_20200806/discogs_20200806_artists.sample1000.xml.gz"
LABELS_GZ = "xml2db_20200806/discogs_20200806_labels.sample1000.xml.gz"
PATHS = [pytest.param(True, id="walker"), pytest.param(False, id="converters")]


def _xml(samples: Path, name: str) -> bytes:
    return gzip.decompress((samples / name).read_bytes())


def _excerpt(xml: bytes, entity: str, n: int) -> bytes:
    """The first ``n`` records of a 2020 sample as a small dump (a record tag per line start)."""
    root = entity.encode()
    end_tag = b"</" + root[:-1] + b">"
    body = xml[xml.index(b">") + 1:]
    cut = 0
    for _ in range(n):
        cut = body.index(end_tag, cut) + len(end_tag)
    return b"<" + root + b">" + body[:cut] + b"\n</" + root + b">\n"


def _edit(xml: bytes, anchor: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the first ``old`` after ``anchor`` by ``new``."""
    at = xml.index(old, xml.index(anchor))
    return xml[:at] + new + xml[at + len(old):]


def _both(tmp_path: Path, monkeypatch, f: Path, entity: str, **kw):
    """(table, report) through the walker and through the converters, checked equal."""
    out = []
    for fast in (True, False):
        monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "0" if fast else "1")
        ws = Workspace(tmp_path / f"ws-{fast}")
        report = run([f], ws, workers=0, **kw)
        out.append((read_table(ws.table(f"discogs/{entity}")), report))
    (fast_t, fast_r), (slow_t, slow_r) = out
    assert fast_t.equals(slow_t)
    assert fast_r.counts == slow_r.counts
    return fast_t, fast_r


def _row(table, column: str, value) -> dict:
    rows = table.filter(pc.equal(table.column(column), value)).to_pylist()
    assert len(rows) == 1
    return rows[0]


# -- item 1: an ingest that read nothing usable fails and keeps the previous table ----------------


def test_ingest_where_every_record_is_rejected_fails_and_keeps_the_table(tmp_path, ws, samples):
    good = samples / "alexquintino_2015" / "releases_sample.xml"
    run([good], ws, workers=0)
    before = table_version(ws.table("discogs/releases"))
    bad = tmp_path / "releases.xml"
    bad.write_bytes(good.read_bytes().replace(b"<title>", b"<title>&bogus;"))  # every record malformed
    with pytest.raises(DiscogsToolsError, match=r"releases\.xml: 6 records, 6 rejected") as err:
        run([bad], ws, workers=0)
    assert "no usable record" in str(err.value) and "kept" in str(err.value)
    assert table_version(ws.table("discogs/releases")) == before
    assert read_table(ws.table("discogs/releases")).num_rows == 6
    # This run's reasons stay readable, aside: the rejects files describe the tables in place.
    assert not (ws.rejects / "ingest-discogs" / "releases.xml.jsonl").exists()
    assert len((ws.rejects / "ingest-discogs" / "releases.xml.failed.jsonl").read_text().splitlines()) == 6
    assert "releases.xml.failed.jsonl" in str(err.value)
    bad.write_bytes(good.read_bytes())  # repaired: the next run replaces the table and drops them
    run([bad], ws, workers=0)
    assert not (ws.rejects / "ingest-discogs" / "releases.xml.failed.jsonl").exists()


def test_rejects_of_two_inputs_with_one_name_do_not_mix(tmp_path, ws, samples):
    xml = (samples / "alexquintino_2015" / "releases_sample.xml").read_bytes()
    for folder, title in (("a", b"<title>&bogus;"), ("b", b"<title>\x01")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "releases.xml").write_bytes(xml.replace(b"<title>", title, 1))
    report = run([tmp_path / "a", tmp_path / "b"], ws, workers=0)
    assert report.counts["rejects"] == 2
    first = json.loads((ws.rejects / "ingest-discogs" / "releases.xml.jsonl").read_text())
    second = json.loads((ws.rejects / "ingest-discogs" / "releases.xml.2.jsonl").read_text())
    assert "bogus" in first["reason"] and first["file"].endswith("a/releases.xml")
    assert second["file"].endswith("b/releases.xml")


@pytest.mark.parametrize("content", [b"<releases></releases>", b"<releases/>",
                                     b"<?xml version='1.0'?>\n<masters>\n<!-- none -->\n</masters>\n"])
def test_dump_without_records_fails_and_keeps_the_table(tmp_path, ws, samples, content):
    run([samples / "alexquintino_2015"], ws, workers=0)
    versions = {t: table_version(ws.table(f"discogs/{t}")) for t in ("releases", "masters", "artists")}
    f = tmp_path / "empty.xml"
    f.write_bytes(content)
    with pytest.raises(DiscogsToolsError, match=r"empty\.xml: 0 records"):
        run([f], ws, workers=0)
    assert {t: table_version(ws.table(f"discogs/{t}")) for t in versions} == versions


def test_one_table_without_rows_replaces_no_table(tmp_path, ws, samples):
    """Two entities in one run, one of them all rejected: neither table is replaced."""
    run([samples / "alexquintino_2015"], ws, workers=0)
    versions = {t: table_version(ws.table(f"discogs/{t}")) for t in ("releases", "masters")}
    bad = tmp_path / "masters.xml"
    bad.write_bytes((samples / "alexquintino_2015" / "masters_sample.xml").read_bytes()
                    .replace(b"<title>", b"<title>&bogus;"))
    with pytest.raises(DiscogsToolsError, match="masters"):
        run([samples / "alexquintino_2015" / "releases_sample.xml", bad], ws, workers=0)
    assert {t: table_version(ws.table(f"discogs/{t}")) for t in versions} == versions


def test_cli_exit_2_when_nothing_usable(tmp_path):
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    f = tmp_path / "empty.xml"
    f.write_text("<artists>\n</artists>\n")
    result = CliRunner().invoke(app, ["ingest", "discogs", str(f), "-w", str(tmp_path / "ws"), "-j", "0"])
    assert result.exit_code == 2
    assert "empty.xml: 0 records" in result.output and "Traceback" not in result.output


# -- item 8: ids beyond int64 -------------------------------------------------------------------


@pytest.mark.parametrize("fast", PATHS)
def test_record_id_beyond_int64_is_a_reject(tmp_path, samples, monkeypatch, fast):
    xml = _excerpt(_xml(samples, ARTISTS_GZ), "artists", 20)
    xml = _edit(xml, b"<id>2</id>", b"<id>2</id>", b"<id>9223372036854775808</id>")
    f = tmp_path / "artists.xml"
    f.write_bytes(xml)
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "0" if fast else "1")
    ws = Workspace(tmp_path / "ws")
    report = run([f], ws, workers=0)
    assert (report.counts["records"], report.counts["rows"], report.counts["rejects"]) == (20, 19, 1)
    reject = json.loads((ws.rejects / "ingest-discogs" / "artists.xml.jsonl").read_text())
    assert reject["record"] == "9223372036854775808" and "out of range" in reject["reason"]


def test_nested_id_beyond_int64_is_kept_as_raw_text(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, RELEASES_GZ), "releases", 20)
    xml = _edit(xml, b'<release id="7" ', b"<id>28</id>", b"<id>99999999999999999999</id>")
    xml = _edit(xml, b'<release id="8" ', b'<release id="8" ', b'<release id="18446744073709551616" ')
    f = tmp_path / "releases.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "releases")
    assert (report.counts["rows"], report.counts["rejects"]) == (19, 1)
    row = _row(table, "release_id", 7)
    assert row["artists"][0]["id"] is None and row["artists"][0]["name"] == "Moonchildren"
    assert {"path": "artists/artist/id", "raw": "99999999999999999999",
            "error": "out of range (int64)"} in json.loads(row["extra"])


# -- item 11: 0 and missing stay distinguishable -------------------------------------------------


@pytest.mark.parametrize("fast", PATHS)
def test_zero_ids_and_years_keep_their_source_value(tmp_path, ws, samples, monkeypatch, fast):
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "0" if fast else "1")
    run([samples / RELEASES_GZ, samples / MASTERS_GZ], ws, workers=0)
    releases = read_table(ws.table("discogs/releases"))
    r7 = _row(releases, "release_id", 7)
    assert r7["extraartists"][0]["id"] is None and r7["extraartists"][0]["name"] == "Koibito & Boku"
    assert json.loads(r7["extra"]) == [{"path": "extraartists/artist[1]/id", "raw": "0"}]
    # A credit without any <id> element stays null without an entry.
    masters = read_table(ws.table("discogs/masters"))
    m = _row(masters, "master_id", 517026)
    assert m["year"] is None and {"path": "year", "raw": "0"} in json.loads(m["extra"])
    # Every one of the 58 zeros of these samples is kept, and nothing else was added.
    extras = [json.loads(e) for e in releases.column("extra").to_pylist() + masters.column("extra").to_pylist() if e]
    assert sum(len(e) for e in extras) == 58
    assert all(entry["raw"] == "0" for e in extras for entry in e)


def test_walker_keeps_zero_ids_without_declining(samples):
    """The zeros of the real samples are common enough to stay on the fast path."""
    if not fastpath.enabled("releases"):
        pytest.skip("compiled walker not built")
    from lxml import etree

    from discogs_tools.schemas import load_schema

    for name, entity in ((RELEASES_GZ, "releases"), (MASTERS_GZ, "masters")):
        records = list(enumerate(etree.fromstring(_xml(samples, name))))
        columns, _, declined = fastpath.walk(entity, records, load_schema(f"discogs/{entity}"))
        assert declined == []
        assert columns["extra"].null_count < len(records)


def test_missing_id_and_empty_id_differ(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, RELEASES_GZ), "releases", 10)
    xml = _edit(xml, b'<release id="7" ', b"<id>0</id>", b"")           # no <id> at all
    xml = _edit(xml, b'<release id="8" ', b"<id>29</id>", b"<id/>")       # an empty <id/>
    f = tmp_path / "releases.xml"
    f.write_bytes(xml)
    table, _ = _both(tmp_path, monkeypatch, f, "releases")
    r7, r8 = _row(table, "release_id", 7), _row(table, "release_id", 8)
    assert r7["extraartists"][0]["id"] is None and r7["extra"] is None
    assert r8["artists"][0]["id"] is None
    assert json.loads(r8["extra"]) == [{"path": "artists/artist/id", "raw": ""}]


# -- item 12: a malformed number nulls the field, not the record ---------------------------------


def test_malformed_numbers_keep_the_record(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, RELEASES_GZ), "releases", 20)
    xml = _edit(xml, b'<release id="1" ', b'duration="296"', b'duration="abc"')
    xml = _edit(xml, b'<release id="1" ', b'<label name="Svek" catno="SK032" id="5"/>',
                b'<label name="Svek" catno="SK032" id="abc"/>')
    xml = _edit(xml, b'<release id="2" ', b'width="', b'width="1e3')
    f = tmp_path / "releases.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "releases")
    assert (report.counts["rows"], report.counts["rejects"], report.counts["fields_unparsed"]) == (20, 0, 3)
    assert report.details[0]["fields_unparsed"] == 3
    assert any("3 field value(s)" in w for w in report.warnings)
    r1 = _row(table, "release_id", 1)
    assert r1["videos"][0]["duration"] is None and r1["labels"][0] == {"id": None, "name": "Svek", "catno": "SK032"}
    extra = json.loads(r1["extra"])
    assert {"path": "videos/video[1]", "attr": "duration", "raw": "abc", "error": "not an integer"} in extra
    assert {"path": "labels/label", "attr": "id", "raw": "abc", "error": "not an integer"} in extra
    r2 = _row(table, "release_id", 2)
    assert r2["images"][0]["width"] is None and json.loads(r2["extra"])[0]["raw"].startswith("1e3")


def test_malformed_year_of_a_master_keeps_the_master(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, MASTERS_GZ), "masters", 10)
    xml = _edit(xml, b'<master id="113">', b"<year>2002</year>", b"<year>199x</year>")
    f = tmp_path / "masters.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "masters")
    assert (report.counts["rows"], report.counts["fields_unparsed"]) == (10, 1)
    m = _row(table, "master_id", 113)
    assert m["year"] is None and json.loads(m["extra"]) == [{"path": "year", "raw": "199x", "error": "not an integer"}]


def test_value_beyond_an_int32_column_is_kept_as_raw_text(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, RELEASES_GZ), "releases", 10)
    xml = _edit(xml, b'<release id="1" ', b'width="600"', b'width="99999999999"')
    f = tmp_path / "releases.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "releases")
    assert (report.counts["rows"], report.counts["rejects"], report.counts["fields_unparsed"]) == (10, 0, 1)
    r1 = _row(table, "release_id", 1)
    assert r1["images"][0]["width"] is None
    assert {"path": "images/image[1]", "attr": "width", "raw": "99999999999",
            "error": "out of range (int32)"} in json.loads(r1["extra"])


# -- item 14: normalised spellings keep their raw form -------------------------------------------


def test_normalised_spellings_keep_their_raw_form(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, RELEASES_GZ), "releases", 10)
    xml = _edit(xml, b'<release id="1" ', b"<id>1</id>", b"<id>00001</id>")  # Persuader, The
    xml = _edit(xml, b'<release id="1" ', b'embed="true"', b'embed="TRUE"')
    xml = _edit(xml, b'<release id="1" ', b'width="600"', b'width=""')
    xml = _edit(xml, b'<release id="1" ', b'height="600"', b"")             # absent: no entry
    xml = _edit(xml, b'<release id="1" ', b'is_main_release="true"', b'is_main_release=" true"')
    f = tmp_path / "releases.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "releases")
    assert report.counts["fields_unparsed"] == 0
    r1 = _row(table, "release_id", 1)
    assert r1["artists"][0]["id"] == 1 and r1["videos"][0]["embed"] is True and r1["is_main_release"] is True
    assert (r1["images"][0]["width"], r1["images"][0]["height"]) == (None, None)
    assert json.loads(r1["extra"]) == [
        {"path": "images/image[1]", "attr": "width", "raw": ""},
        {"path": "artists/artist/id", "raw": "00001"},
        {"path": "master_id", "attr": "is_main_release", "raw": " true"},
        {"path": "videos/video[1]", "attr": "embed", "raw": "TRUE"},
    ]


@pytest.mark.parametrize("fast", PATHS)
def test_record_id_with_leading_zeros_keeps_its_raw_form(tmp_path, samples, monkeypatch, fast):
    xml = _excerpt(_xml(samples, LABELS_GZ), "labels", 5)
    first_id = xml[xml.index(b"<id>") + 4:xml.index(b"</id>")]
    xml = xml.replace(b"<id>" + first_id + b"</id>", b"<id>00" + first_id + b"</id>", 1)
    f = tmp_path / "labels.xml"
    f.write_bytes(xml)
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "0" if fast else "1")
    ws = Workspace(tmp_path / "ws")
    run([f], ws, workers=0)
    row = _row(read_table(ws.table("discogs/labels")), "label_id", int(first_id))
    assert json.loads(row["extra"]) == [{"path": "id", "raw": "00" + first_id.decode()}]


# -- item 13: duplicate ids are counted and reported ---------------------------------------------


def test_duplicate_ids_across_files_are_counted_and_warned(ws, samples):
    report = run([samples / "tgmz_20250101"], ws, workers=0)
    assert report.counts["releases_duplicate_ids"] == 1
    assert report.counts["masters_duplicate_ids"] == 0
    warning = next(w for w in report.warnings if "duplicate" in w)
    assert "2460568" in warning and "discogs_20250101_release_2460568.xml" in warning
    from discogs_tools.io import table_info

    assert table_info(ws.table("discogs/releases"))["duplicate_ids"] == 1
    assert read_table(ws.table("discogs/releases")).num_rows == 4  # every row is kept


def test_duplicate_ids_within_a_file(tmp_path, ws, samples):
    xml = _excerpt(_xml(samples, MASTERS_GZ), "masters", 10)
    xml = xml.replace(b"</masters>", xml[xml.index(b"<master "):xml.index(b"</master>") + 9] * 2 + b"</masters>")
    f = tmp_path / "masters.xml"
    f.write_bytes(xml)
    report = run([f], ws, workers=0)
    assert report.counts["masters_rows"] == 12 and report.counts["masters_duplicate_ids"] == 1
    assert report.details[0]["duplicate_rows"] == 2  # rows beyond the first of each id, in the table


# -- item 16 and 17: truncated and corrupt gzip ----------------------------------------------------


def test_allow_truncated_accepts_a_gzip_cut_with_head(tmp_path, ws, samples):
    data = (samples / RELEASES_GZ).read_bytes()
    f = tmp_path / "releases.xml.gz"
    f.write_bytes(data[: len(data) // 2])  # what `head -c` makes
    with pytest.raises(InputError, match="truncated gzip"):
        run([f], ws, workers=0)
    report = run([f], ws, workers=0, allow_truncated=True)
    assert report.counts["rows"] > 300 and report.counts["rejects"] == 1
    assert report.counts["records"] == report.counts["rows"] + 1
    assert any("truncated gzip" in w for w in report.warnings)
    ids = read_table(ws.table("discogs/releases"), columns=["release_id"]).column(0).to_pylist()
    xml = _xml(samples, RELEASES_GZ)
    assert ids == [int(x) for x in __import__("re").findall(rb'<release id="(\d+)"', xml)[:len(ids)]]


def test_gzip_error_names_the_real_offset(tmp_path, ws, samples):
    data = (samples / RELEASES_GZ).read_bytes()
    f = tmp_path / "releases.xml.gz"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip") as err:
        run([f], ws, workers=0)
    xml_bytes = int(str(err.value).split("after ")[1].split(" bytes")[0].replace(",", ""))
    assert xml_bytes > 1_000_000  # about half of the 4.5 MB, not the first 64 KiB
    corrupt = bytearray(data)
    corrupt[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    f.write_bytes(bytes(corrupt))
    with pytest.raises(InputError, match="corrupt gzip|invalid") as err:
        run([f], ws, workers=0)
    assert "after 65,536 bytes" not in str(err.value)


def test_gzip_members_and_what_follows_them(tmp_path, ws, samples):
    """The reader inflates gzip itself (for exact offsets): every member of a multi-member file
    is read, and bytes after the last member that are not gzip are an error, not ignored."""
    xml = (samples / "alexquintino_2015" / "releases_sample.xml").read_bytes()
    f = tmp_path / "releases.xml.gz"
    f.write_bytes(gzip.compress(xml[:5000]) + gzip.compress(xml[5000:]))
    assert run([f], ws, workers=0).counts["rows"] == 6
    f.write_bytes(gzip.compress(xml) + b"garbage!")
    with pytest.raises(InputError, match=r"after the end of the gzip stream .* after 24,571 bytes of XML"):
        run([f], ws, workers=0)


# -- item 17: comments and CDATA holding an end tag; two root elements ----------------------------


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 2048])
def test_end_tag_inside_cdata_or_comment_does_not_split_a_record(tmp_path, samples, monkeypatch, chunk_bytes):
    xml = _excerpt(_xml(samples, ARTISTS_GZ), "artists", 30)
    xml = _edit(xml, b"<id>3</id>", b"<profile>", b"<profile><![CDATA[a <b>tag</b> and </artist> here]]>")
    xml = _edit(xml, b"<id>4</id>", b"<name>", b"<!-- </artist><artist> --><name>")
    xml = _edit(xml, b"<id>5</id>", b"<name>", b"<?note </artist> ?><name>")
    f = tmp_path / "artists.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "artists", chunk_bytes=chunk_bytes)
    assert (report.counts["records"], report.counts["rows"], report.counts["rejects"]) == (30, 30, 0)
    assert _row(table, "artist_id", 3)["profile"].startswith("a <b>tag</b> and </artist> hereAfter forming")
    assert json.loads(_row(table, "artist_id", 4)["extra"]) == [{"path": "comment()",
                                                                  "xml": "<!-- </artist><artist> -->"}]
    assert table.column("record_ordinal").to_pylist() == list(range(30))


def test_end_tag_inside_a_comment_in_labels(tmp_path, samples, monkeypatch):
    xml = _excerpt(_xml(samples, LABELS_GZ), "labels", 10)
    at = xml.index(b"<name>", xml.index(b"<label>", 100))
    xml = xml[:at] + b"<!-- was <label>x</label> --><profile><![CDATA[</label>]]></profile>" + xml[at:]
    f = tmp_path / "labels.xml"
    f.write_bytes(xml)
    table, report = _both(tmp_path, monkeypatch, f, "labels", chunk_bytes=2048)
    assert (report.counts["records"], report.counts["rows"], report.counts["rejects"]) == (10, 10, 0)


def test_two_root_elements_are_an_error(tmp_path, ws, samples):
    one = (samples / "xml2db_dotnet_single" / "release.xml").read_bytes()
    f = tmp_path / "release.xml"
    f.write_bytes(one + b"\n" + one[one.index(b"<release"):])
    with pytest.raises(InputError, match="after the root element"):
        run([f], ws, workers=0)
    dump = _excerpt(_xml(samples, RELEASES_GZ), "releases", 3)
    g = tmp_path / "releases.xml"
    g.write_bytes(dump + dump)
    with pytest.raises(InputError, match="root"):
        run([g], ws, workers=0)
    assert not ws.has_table("discogs/releases")


# -- item 7: concurrent ingests ------------------------------------------------------------------


def test_concurrent_ingest_is_refused_with_the_holder(ws, samples):
    from discogs_tools.locks import OutputLockedError, output_lock

    with output_lock(ws.root, "ingest discogs"):
        with pytest.raises(OutputLockedError, match=r"ingest discogs.*pid"):
            run([samples / "alexquintino_2015"], ws, workers=0)
    assert not ws.has_table("discogs/releases")
    run([samples / "alexquintino_2015"], ws, workers=0)  # free again afterwards
