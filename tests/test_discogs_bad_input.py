"""Bad input for `ingest discogs`, built from the real samples: a clear error naming the file,
offset or record and the reason; malformed records rejected and counted (or fatal with strict)."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pytest

from discogs_tools.discogs.ingest import run
from discogs_tools.errors import DiscogsToolsError, InputError
from discogs_tools.io import read_table

RELEASES_GZ = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


@pytest.fixture
def releases_xml(samples) -> bytes:
    return gzip.decompress((samples / RELEASES_GZ).read_bytes())


def _with_broken_record(xml: bytes, release_id: int, old: bytes, new: bytes) -> bytes:
    start = xml.index(f'<release id="{release_id}" '.encode())
    at = xml.index(old, start)
    return xml[:at] + new + xml[at + len(old):]


def test_truncated_gzip_is_an_error_naming_file_and_offset(tmp_path, ws, samples):
    data = (samples / RELEASES_GZ).read_bytes()
    f = tmp_path / "releases.xml.gz"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip") as err:
        run([f], ws, workers=0)
    assert err.value.path == str(f) and err.value.offset and err.value.offset <= len(data) // 2
    assert not ws.has_table("discogs/releases")


def test_dump_cut_in_the_middle_of_a_record(tmp_path, ws, releases_xml):
    cut = releases_xml.index(b'<release id="13" ') + 500
    f = tmp_path / "releases.xml.gz"
    f.write_bytes(gzip.compress(releases_xml[:cut]))
    with pytest.raises(InputError, match=r"middle of a <release> record") as err:
        run([f], ws, workers=0)
    assert err.value.record == "13"
    assert err.value.offset == releases_xml.index(b'<release id="13" ')
    assert not ws.has_table("discogs/releases")
    # Accepted on request: the cut record is rejected, the complete ones are kept.
    report = run([f], ws, workers=0, allow_truncated=True)
    complete = releases_xml[:cut].count(b"</release>")
    assert (report.counts["rows"], report.counts["rejects"], report.counts["records"]) == \
        (complete, 1, complete + 1)
    rejects = (ws.rejects / "ingest-discogs" / "releases.xml.gz.jsonl").read_text().splitlines()
    assert json.loads(rejects[0])["record"] == "13"


def test_missing_closing_root_tag(tmp_path, ws, releases_xml):
    end = releases_xml.rindex(b"</release>") + len(b"</release>")
    f = tmp_path / "releases.xml"
    f.write_bytes(releases_xml[:end])
    with pytest.raises(InputError, match="without the closing </releases>"):
        run([f], ws, workers=0)
    report = run([f], ws, workers=0, allow_truncated=True)
    assert report.counts["rows"] == 1000 and any("closing" in w for w in report.warnings)


@pytest.mark.parametrize("old,new,reason", [
    (b"<title>", b"<title>&bogus;", "Entity 'bogus' not defined"),
    (b"<title>", b"<title>\x01", "invalid"),
    (b"<title>", b"<title><b>", "malformed XML"),
])
def test_malformed_record_is_rejected_and_counted(tmp_path, ws, releases_xml, old, new, reason):
    f = tmp_path / "releases.xml.gz"
    f.write_bytes(gzip.compress(_with_broken_record(releases_xml, 13, old, new)))
    report = run([f], ws, workers=2, chunk_bytes=256 << 10)
    assert (report.counts["records"], report.counts["rows"], report.counts["rejects"]) == (1000, 999, 1)
    ids = read_table(ws.table("discogs/releases"), columns=["release_id"]).column(0).to_pylist()
    assert 13 not in ids and len(set(ids)) == 999
    rejects = [json.loads(x) for x in (ws.rejects / "ingest-discogs" / "releases.xml.gz.jsonl").read_text().splitlines()]
    assert len(rejects) == 1
    assert rejects[0]["record"] == "13" and reason.lower() in rejects[0]["reason"].lower()
    assert rejects[0]["offset"] == releases_xml.index(b'<release id="13" ')
    assert rejects[0]["raw"].startswith('<release id="13"')
    assert any("1 malformed record" in w for w in report.warnings)


def test_strict_stops_at_the_first_malformed_record_and_keeps_no_table(tmp_path, ws, releases_xml):
    f = tmp_path / "releases.xml"
    f.write_bytes(_with_broken_record(releases_xml, 13, b"<title>", b"<title>&bogus;"))
    with pytest.raises(InputError, match=r"record 13: malformed XML.*bogus.*--strict"):
        run([f], ws, workers=2, strict=True)
    assert not ws.has_table("discogs/releases")
    assert not list(ws.table("discogs").glob(".*"))  # no staging folder left behind


def test_record_id_that_does_not_convert_is_a_reject(tmp_path, ws, releases_xml):
    f = tmp_path / "releases.xml"
    f.write_bytes(_with_broken_record(releases_xml, 13, b'<release id="13" ', b'<release id="x13" '))
    report = run([f], ws, workers=0)
    assert report.counts["rejects"] == 1
    line = json.loads((ws.rejects / "ingest-discogs" / "releases.xml.jsonl").read_text())
    assert line["record"] == "x13" and "not an integer" in line["reason"]


def test_value_that_does_not_convert_nulls_its_field_and_keeps_the_record(tmp_path, ws, releases_xml):
    f = tmp_path / "releases.xml"
    f.write_bytes(_with_broken_record(releases_xml, 13, b"<title>", b"<master_id>x1</master_id><title>"))
    report = run([f], ws, workers=0)
    assert (report.counts["rejects"], report.counts["rows"], report.counts["fields_unparsed"]) == (0, 1000, 1)
    table = read_table(ws.table("discogs/releases"))
    row = table.filter(pa.compute.equal(table.column("release_id"), 13)).to_pylist()[0]
    assert row["master_id"] is None
    assert {"path": "master_id[1]", "raw": "x1", "error": "not an integer"} in json.loads(row["extra"])


@pytest.mark.parametrize("content,reason", [
    (b"", "file is empty"),
    (b"   \n", "file is empty"),
    (b"release_id,title\n1,Stockholm\n", "not XML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not XML"),
    (b'<?xml version="1.0"?>\n<tracks><track/></tracks>', "unknown root element <tracks>"),
])
def test_files_that_are_not_dumps(tmp_path, ws, content, reason):
    f = tmp_path / "input.xml"
    f.write_bytes(content)
    with pytest.raises(InputError, match=reason) as err:
        run([f], ws, workers=0)
    assert err.value.path == str(f)
    g = tmp_path / "input.xml.gz"  # the same inside gzip
    g.write_bytes(gzip.compress(content))
    with pytest.raises(InputError, match=reason):
        run([g], ws, workers=0)


def test_missing_path_names_the_path(tmp_path, ws):
    with pytest.raises(DiscogsToolsError, match="nope.xml"):
        run([tmp_path / "nope.xml"], ws)


def test_cli_prints_one_line_error_and_exits_2(tmp_path):
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    f = tmp_path / "bad.xml"
    f.write_text("<playlists/>")
    result = CliRunner().invoke(app, ["ingest", "discogs", str(f), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "unknown root element <playlists>" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("fast", [True, False])
def test_parse_batches_do_not_change_rows_or_rejects(tmp_path, releases_xml, monkeypatch, fast):
    """A chunk is parsed a batch of records at a time; tiny batches (a malformed record and a
    record the walker declines land in different batches) give the same table and rejects as
    one batch for the whole chunk."""
    from discogs_tools.discogs import chunk
    from discogs_tools.workspace import Workspace

    xml = _with_broken_record(releases_xml, 13, b"<title>", b"<title>&bogus;")
    xml = _with_broken_record(xml, 6084166, b"<title>", b'<mood rating="5">calm</mood><title>')  # declined by the walker
    f = tmp_path / "releases.xml"
    f.write_bytes(xml)
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "0" if fast else "1")
    out = []
    for batch_bytes in (1 << 30, 50_000):
        monkeypatch.setattr(chunk, "PARSE_BATCH_BYTES", batch_bytes)
        ws = Workspace(tmp_path / f"ws{batch_bytes}")
        report = run([f], ws, workers=0)
        rejects = (ws.rejects / "ingest-discogs" / "releases.xml.jsonl").read_text()
        out.append((read_table(ws.table("discogs/releases")), report.counts, rejects))
    (one, one_counts, one_rejects), (many, many_counts, many_rejects) = out
    assert len(list(chunk._batches(chunk.record_spans(xml[xml.index(b"<release "):], chunk.ENTITIES["releases"]),
                                   50_000))) > 50
    assert (one_counts["records"], one_counts["rows"], one_counts["rejects"]) == (1000, 999, 1)
    assert one.equals(many) and one_counts == many_counts and one_rejects == many_rejects
    assert json.loads(one_rejects)["record"] == "13"
    extra = many.filter(pa.compute.equal(many.column("release_id"), 6084166)).column("extra").to_pylist()[0]
    assert "mood" in extra
