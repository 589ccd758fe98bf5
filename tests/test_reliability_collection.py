"""Reliability of `ingest collection` and `match` (issue 11): a run that read nothing usable fails
and keeps the previous table; `match` refuses empty inputs; truncated audio is rejected at ingest;
Excel-style and oversized CSV manifests; one writer per output; read-only / full workspaces give
one line, not a traceback.

The disk tests mount a small tmpfs, so they need root (else they are skipped with the reason).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.collection import ingest
from discogs_tools.errors import InputError
from discogs_tools.io import read_table, table_version, write_table
from discogs_tools.locks import output_lock
from discogs_tools.match import stage
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace
from faults import small_tmpfs

RATE = 16_000


def tone(path: Path, seconds: float, **kw) -> Path:
    """Real audio: a 440 Hz tone written by libsndfile (format from ``kw`` or the file name)."""
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(str(path), (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE, **kw)
    return path


def cut(path: Path, keep: float) -> Path:
    """Keep the first ``keep`` share of the bytes, like ``head -c``."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def good_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tone(root / "a.wav", 1.0)
    tone(root / "b.flac", 1.5)
    return root


@pytest.fixture
def ingested(ws, tmp_path) -> tuple[Workspace, str]:
    """A workspace whose collection/tracks holds two tracks; returns it and the table's version."""
    assert ingest.run(good_folder(tmp_path / "good"), ws).counts["tracks"] == 2
    return ws, table_version(ws.table("collection/tracks"))


def assert_kept(ws: Workspace, version: str) -> None:
    assert table_version(ws.table("collection/tracks")) == version
    assert read_table(ws.table("collection/tracks")).num_rows == 2


# --- item 1: nothing usable read -> exit 2, previous table kept --------------------------------

def test_empty_folder_fails_and_keeps_the_previous_table(ingested, tmp_path):
    ws, version = ingested
    empty = tmp_path / "e"
    empty.mkdir()
    (empty / "cover.jpg").write_bytes(b"\xff\xd8")
    res = invoke("ingest", "collection", str(empty), "-w", str(ws.root))
    assert res.exit_code == 2, res.output
    assert "no audio files" in res.output and "1 other file skipped" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert_kept(ws, version)


def test_header_only_manifest_fails_and_keeps_the_previous_table(ingested, tmp_path):
    ws, version = ingested
    manifest = tmp_path / "m.csv"
    manifest.write_text("track_id,artist,title\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"m\.csv: .*no rows"):
        ingest.run(manifest, ws)
    assert_kept(ws, version)


def test_every_file_rejected_fails_names_counts_and_keeps_table_and_rejects(ingested, tmp_path):
    ws, version = ingested
    old_rejects = ws.rejects / "collection" / "tracks.jsonl"
    old_rejects.parent.mkdir(parents=True, exist_ok=True)
    old_rejects.write_text('{"record": "from the kept run"}\n')
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mp3").write_bytes(b"not audio" * 10)
    (bad / "y.flac").write_bytes(b"")
    res = invoke("ingest", "collection", str(bad), "-w", str(ws.root))
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert str(bad) in line and "2 audio files read, all 2 rejected" in line
    assert "tracks.failed.jsonl" in line
    assert_kept(ws, version)
    assert old_rejects.read_text() == '{"record": "from the kept run"}\n'  # describes the kept table
    failed = [json.loads(l) for l in (ws.rejects / "collection" / "tracks.failed.jsonl").read_text().splitlines()]
    assert [r["record"] for r in failed] == ["x.mp3", "y.flac"]
    # a later successful run removes the failed run's rejects
    ingest.run(good_folder(tmp_path / "good2"), ws)
    assert not (ws.rejects / "collection" / "tracks.failed.jsonl").exists()


def test_every_manifest_row_rejected_fails(ingested, tmp_path):
    ws, version = ingested
    manifest = tmp_path / "m.csv"
    # a row without an artist is kept (the mixed-up-field fallback matches its text); without a title
    # (and no path to read one from) it is rejected
    manifest.write_text("track_id,artist,title\n1,A,\n2,B,\n3,,\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"3 manifest rows read, all 3 rejected \(3× title is empty"):
        ingest.run(manifest, ws)
    assert_kept(ws, version)


# --- item 1, downstream: match refuses empty tables ---------------------------------------------

def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = load_schema(name)
    return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)


def one_track(ws: Workspace) -> None:
    write_table(ws.table("collection/tracks"),
                _table("collection/tracks", [{"track_id": "t1", "artist": "Funeral Circle",
                                              "title": "Burning A Sinner", "tags": []}]), "collection/tracks")


def playlist_tracks(ws: Workspace, n: int = 1) -> None:
    rows = [{"track_key": f"spotify:track:{i}", "track_name": "Burning A Sinner", "artist_name": "Funeral Circle",
             "duration_ms": 217_000} for i in range(n)]
    write_table(ws.table("playlists/tracks"), _table("playlists/tracks", rows), "playlists/tracks")


def one_release(ws: Workspace) -> None:
    row = {"release_id": 1, "source_file": "releases.xml", "record_ordinal": 0, "source_offset": 0,
           "title": "Lord Vicar / Funeral Circle", "artists": [{"name": "Funeral Circle"}],
           "tracklist": [{"position": "B1", "title": "Burning A Sinner"}]}
    write_table(ws.table("discogs/releases"), _table("discogs/releases", [row]), "discogs/releases")


@pytest.mark.parametrize("against", ["discogs", "playlists"])
def test_match_refuses_an_empty_collection(ws, against):
    write_table(ws.table("collection/tracks"), _table("collection/tracks", []), "collection/tracks")
    res = invoke("match", "--against", against, "-w", str(ws.root))
    assert res.exit_code == 2, res.output
    assert "collection/tracks is empty" in res.output and "discogs-tools ingest collection" in res.output
    assert not ws.has_table(stage.LINK_TABLES[against])


@pytest.mark.parametrize("against,table,command", [
    ("discogs", "discogs/releases", "discogs-tools ingest discogs"),
    ("playlists", "playlists/tracks", "discogs-tools ingest playlists")])
def test_match_refuses_an_empty_reference(ws, against, table, command):
    one_track(ws)
    write_table(ws.table(table), _table(table, []), table)
    res = invoke("match", "--against", against, "-w", str(ws.root))
    assert res.exit_code == 2, res.output
    assert f"{table} is empty" in res.output and command in res.output
    assert not ws.has_table(stage.LINK_TABLES[against])


def test_match_still_links_when_inputs_have_rows(ws):
    one_track(ws)
    playlist_tracks(ws)
    one_release(ws)
    assert stage.run(ws, "playlists").counts["links"] == 1
    assert stage.run(ws, "discogs").counts["links"] == 1


def test_match_refuses_a_reference_without_any_usable_track(ws):
    one_track(ws)
    write_table(ws.table("playlists/tracks"), _table("playlists/tracks", [{"track_key": "k", "artist_name": "A"}]),
                "playlists/tracks")  # no title: nothing can be indexed, not even as text
    with pytest.raises(InputError, match="playlists/tracks has no track with both an artist and a title"):
        stage.run(ws, "playlists")
    assert not ws.has_table("links/track_playlist_tracks")
    # a title without an artist is kept as text (the whole record may be in it), and matched
    write_table(ws.table("playlists/tracks"), _table("playlists/tracks", [{"track_key": "k", "track_name": "x"}]),
                "playlists/tracks")
    assert stage.run(ws, "playlists").counts["links"] == 0


# --- item 15: truncated audio rejected at ingest ------------------------------------------------

def _mp3_writable() -> bool:
    return "MP3" in sf.available_formats()


FORMATS = ["wav", "flac", pytest.param("mp3", marks=pytest.mark.skipif(
    not _mp3_writable(), reason=f"libsndfile {sf.__libsndfile_version__} cannot write MP3"))]


@pytest.mark.parametrize("ext", FORMATS)
def test_truncated_audio_is_rejected_at_ingest(ws, tmp_path, ext):
    root = tmp_path / "music"
    root.mkdir()
    tone(root / f"intact.{ext}", 25.0)
    cut(tone(root / f"truncated.{ext}", 25.0), 0.32)  # the header still says 25 s
    report = ingest.run(root, ws)
    assert report.counts == {"read": 2, "tracks": 1, "rejected": 1, "skipped_not_audio": 0}
    (row,) = read_table(ws.table("collection/tracks")).to_pylist()
    assert row["path"].endswith(f"intact.{ext}") and row["duration_s"] == pytest.approx(25.0, abs=0.1)
    (reject,) = [json.loads(l) for l in (ws.rejects / "collection" / "tracks.jsonl").read_text().splitlines()]
    assert reject["record"] == f"truncated.{ext}" and "truncated" in reject["reason"]


@pytest.mark.parametrize("ext", FORMATS)
def test_audio_cut_near_its_end_is_rejected_too(ws, tmp_path, ext):
    root = tmp_path / "music"
    root.mkdir()
    tone(root / f"intact.{ext}", 10.0)
    cut(tone(root / f"cut.{ext}", 10.0), 0.97)
    report = ingest.run(root, ws)
    assert report.counts["tracks"] == 1 and report.counts["rejected"] == 1


# --- item 17 / 10: manifests as Excel writes them, oversized fields -----------------------------

def test_manifest_with_utf8_bom_keeps_the_first_column_name(ws, tmp_path):
    manifest = tmp_path / "excel.csv"
    manifest.write_bytes("\ufefftrack_id,artist,title\r\nx1,Mötley Crüe,Kickstart\r\n".encode("utf-8"))
    assert ingest.run(manifest, ws).counts["tracks"] == 1
    (row,) = read_table(ws.table("collection/tracks")).to_pylist()
    assert row["track_id"] == "x1" and row["artist"] == "Mötley Crüe"


def test_manifest_in_utf16_is_a_one_line_error(ws, tmp_path):
    manifest = tmp_path / "unicode.csv"
    manifest.write_bytes("track_id,artist,title\r\nx1,A,B\r\n".encode("utf-16"))
    res = invoke("ingest", "collection", str(manifest), "-w", str(ws.root))
    assert res.exit_code == 2 and "UTF-16" in res.output and "re-save" in res.output


def test_manifest_field_over_128_kb_is_read(ws, tmp_path):
    manifest = tmp_path / "big.csv"
    notes = "la " * 70_000  # 210 KB: over the csv module's default field limit of 128 KB
    manifest.write_text(f'track_id,artist,title,notes\n1,A,B,"{notes}"\n2,C,D,short\n', encoding="utf-8")
    assert ingest.run(manifest, ws).counts["tracks"] == 2
    rows = read_table(ws.table("collection/tracks")).to_pylist()
    assert rows[0]["tags"] == [{"key": "notes", "value": notes}]


# --- item 7: one writer per output ---------------------------------------------------------------

def test_concurrent_ingest_collection_is_refused(ingested, tmp_path):
    ws, version = ingested
    with output_lock(ws.root, "ingest collection", "tracks"):
        res = invoke("ingest", "collection", str(good_folder(tmp_path / "other")), "-w", str(ws.root))
    assert res.exit_code == 2 and f"pid {os.getpid()}" in res.output
    assert_kept(ws, version)


@pytest.mark.parametrize("against", ["discogs", "playlists"])
def test_concurrent_match_is_refused(ws, against):
    one_track(ws)
    playlist_tracks(ws)
    one_release(ws)
    with output_lock(ws.root, "match", against):
        res = invoke("match", "--against", against, "-w", str(ws.root))
    assert res.exit_code == 2 and f"pid {os.getpid()}" in res.output and "Traceback" not in res.output


# --- item 9: read-only workspace, full disk ------------------------------------------------------

@pytest.fixture
def tmpfs(tmp_path):
    """A 2 MB tmpfs (root only)."""
    with small_tmpfs(tmp_path / "mnt", "2m") as mnt:
        yield mnt


def test_match_on_a_read_only_workspace_is_one_line(tmpfs):
    ws = Workspace(tmpfs / "w").ensure()
    one_track(ws)
    playlist_tracks(ws)
    assert stage.run(ws, "playlists").counts["links"] == 1  # index built while writable
    before = sorted(str(p.relative_to(tmpfs)) for p in tmpfs.rglob("*"))
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    for args in (["match", "--against", "playlists"], ["match", "--against", "playlists", "--rebuild-index"]):
        res = invoke(*args, "-w", str(ws.root))
        assert res.exit_code == 2, res.output
        assert "read-only file system" in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1
    assert sorted(str(p.relative_to(tmpfs)) for p in tmpfs.rglob("*")) == before


def test_match_on_a_full_disk_is_one_line_and_keeps_the_links(tmpfs):
    ws = Workspace(tmpfs / "w").ensure()
    one_track(ws)
    playlist_tracks(ws, 2)
    stage.run(ws, "playlists")
    links = ws.table("links/track_playlist_tracks")
    version = table_version(links)
    filler = tmpfs / "filler"
    with open(filler, "wb", buffering=0) as fh:  # fill the disk to the last block
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    res = invoke("match", "--against", "playlists", "--rebuild-index", "-w", str(ws.root))
    assert res.exit_code == 2, res.output
    assert "no space left on device" in res.output and "Traceback" not in res.output
    assert table_version(links) == version and read_table(links).num_rows == 2
    assert not [p for p in tmpfs.rglob(".*tmp-*")]  # no staging left behind


@pytest.mark.parametrize("ext", FORMATS)
def test_intact_tagged_audio_passes_the_decode_check(ws, tmp_path, ext):
    """Tags before the stream (ID3v2 with a 300 KB picture) or after it (ID3v1) are not a cut."""
    import mutagen
    from mutagen.id3 import APIC, ID3, TIT2, TPE1

    root = tmp_path / "music"
    root.mkdir()
    path = tone(root / f"tagged.{ext}", 3.0)
    if ext == "mp3":
        tags = ID3()
        tags.add(TPE1(encoding=3, text="Funeral Circle"))
        tags.add(TIT2(encoding=3, text="Burning A Sinner"))
        tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=b"\xff\xd8" + b"\0" * 300_000))
        tags.save(path)
        with open(path, "ab") as fh:  # an ID3v1 tag at the end
            fh.write(b"TAG" + b"Burning A Sinner".ljust(30, b"\0") + b"\0" * 95)
    elif ext == "wav":  # an ID3 chunk after the data chunk
        f = mutagen.File(path)
        f.add_tags()
        f.tags.add(TIT2(encoding=3, text="Burning A Sinner"))
        f.save()
    else:
        f = mutagen.File(path, easy=True)
        f["artist"], f["title"] = "Funeral Circle", "Burning A Sinner"
        f.save()
    report = ingest.run(root, ws)
    assert report.counts["tracks"] == 1, (ws.rejects / "collection" / "tracks.jsonl").read_text()
    (row,) = read_table(ws.table("collection/tracks")).to_pylist()
    assert row["duration_s"] == pytest.approx(3.0, abs=0.1)
    assert row["title"] == "Burning A Sinner" or ext == "wav"  # WAV's ID3 frames are kept in tags only


def test_match_when_duckdb_cannot_spill_is_one_line(ws, monkeypatch):
    """DuckDB spills to tables/match/.duckdb_tmp beyond --memory-limit; when that disk is full it
    raises OutOfMemoryException (no "No space left" in its text), which used to be a traceback."""
    from discogs_tools.match import blocking

    one_track(ws)
    playlist_tracks(ws)
    stage.run(ws, "playlists")
    links = ws.table("links/track_playlist_tracks")
    version = table_version(links)
    real = blocking.candidate_recordings

    def spill_first(con, *args, **kwargs):  # a real query larger than the memory limit, on match's connection
        con.execute("select i, md5(i::varchar) || md5((i + 1)::varchar) as s from range(3000000) t(i) order by s"
                    ).fetchall()
        yield from real(con, *args, **kwargs)

    monkeypatch.setattr(blocking, "candidate_recordings", spill_first)
    with small_tmpfs(ws.tables / "match" / ".duckdb_tmp", "1m"):
        res = invoke("match", "--against", "playlists", "--memory-limit", "20MB", "--workers", "1",
                     "-w", str(ws.root))
    assert res.exit_code == 2, res.output
    assert "DuckDB ran out of memory" in res.output and "free disk space" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert table_version(links) == version
