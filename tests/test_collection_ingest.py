"""`ingest collection`: tags and durations from generated audio, manifests, rejects, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.collection import ingest
from discogs_tools.errors import InputError, MissingInputError
from discogs_tools.io import read_table


def _tone(path, seconds: float, rate: int = 8000, channels: int = 1) -> None:
    t = np.arange(int(seconds * rate)) / rate
    data = 0.1 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(path), np.repeat(data[:, None], channels, axis=1), rate)


def _flac(path, seconds: float, **tags: str) -> None:
    from mutagen.flac import FLAC

    _tone(path, seconds)
    f = FLAC(str(path))
    for k, v in tags.items():
        f[k] = v
    f.save()


@pytest.fixture
def audio_folder(tmp_path):
    root = tmp_path / "music"
    (root / "Persuader" / "Stockholm").mkdir(parents=True)
    _flac(root / "Persuader" / "Stockholm" / "01.flac", 2.5, artist="The Persuader", title="Östermalm",
          album="Stockholm", albumartist="The Persuader", tracknumber="1/6", date="1999-03-01",
          discogs_release_id="[r1]", isrc="SEAAA9900001", catalognumber="SK032")
    _tone(root / "Persuader" / "Stockholm" / "02.wav", 1.25, channels=2)
    (root / "broken.flac").write_bytes(b"not audio at all" * 8)
    (root / "cover.jpg").write_bytes(b"\xff\xd8")
    return root


def test_folder_tags_durations_and_rejects(ws, audio_folder):
    report = ingest.run(audio_folder, ws)
    rows = {Path(r["path"]).relative_to(audio_folder).as_posix(): r
            for r in read_table(ws.table("collection/tracks")).to_pylist()}
    assert set(rows) == {"Persuader/Stockholm/01.flac", "Persuader/Stockholm/02.wav"}
    assert all(Path(r["path"]).is_absolute() and Path(r["path"]).exists() for r in rows.values())
    flac = rows["Persuader/Stockholm/01.flac"]
    assert (flac["artist"], flac["title"], flac["album"], flac["album_artist"]) == \
        ("The Persuader", "Östermalm", "Stockholm", "The Persuader")
    assert (flac["track_number"], flac["year"], flac["discogs_release_id"]) == (1, 1999, 1)
    assert (flac["isrc"], flac["catalog_number"]) == ("SEAAA9900001", "SK032")
    assert flac["duration_s"] == pytest.approx(2.5, abs=0.01)
    assert flac["format"] == "FLAC" and flac["sample_rate"] == 8000
    assert {"key": "title", "value": "Östermalm"} in flac["tags"]
    wav = rows["Persuader/Stockholm/02.wav"]
    assert wav["duration_s"] == pytest.approx(1.25, abs=0.01) and wav["channels"] == 2 and wav["title"] is None
    # records in = rows out + rejects; the jpg is not audio and is only counted as skipped
    assert report.counts == {"read": 3, "tracks": 2, "rejected": 1, "skipped_not_audio": 1}
    rejects = [json.loads(l) for l in (ws.rejects / "collection" / "tracks.jsonl").read_text().splitlines()]
    assert [r["record"] for r in rejects] == ["broken.flac"]
    assert "not readable audio" in rejects[0]["reason"]


def test_track_ids_are_stable_and_reruns_identical(ws, audio_folder):
    ingest.run(audio_folder, ws)
    first = read_table(ws.table("collection/tracks"))
    ingest.run(audio_folder, ws)
    second = read_table(ws.table("collection/tracks"))
    assert first.equals(second)
    assert first.column("track_id").to_pylist() == [
        ingest.path_track_id(Path(p).relative_to(audio_folder).as_posix()) for p in first.column("path").to_pylist()]


def test_non_utf8_vorbis_tag_is_rejected(ws, tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    path = root / "latin1.flac"
    _flac(path, 1.0, artist="PLACEHOLDER", title="Song")
    data = path.read_bytes().replace(b"PLACEHOLDER", "Mötley Crüe".encode("latin-1").ljust(11, b" "))
    path.write_bytes(data)
    _flac(root / "utf8.flac", 1.0, artist="Mötley Crüe", title="Song")
    report = ingest.run(root, ws)
    assert report.counts["rejected"] == 1 and report.counts["tracks"] == 1
    reject = json.loads((ws.rejects / "collection" / "tracks.jsonl").read_text())
    assert "'artist' is not valid UTF-8" in reject["reason"]


def test_csv_manifest_with_bad_rows_and_duplicates(ws, tmp_path):
    manifest = tmp_path / "tracks.csv"
    manifest.write_text(
        "track_id,artist,title,album,duration_ms,mood\n"
        "a1,The Persuader,Östermalm,Stockholm,285000,dark\n"
        "a2,Funeral Circle,Burning A Sinner,,217000,\n"
        "a3,,No Artist,,1000,\n"
        "a1,Someone,Duplicate,,1000,\n"
        "a4,X,Bad Duration,,soon,\n", encoding="utf-8")
    report = ingest.run(manifest, ws)
    rows = read_table(ws.table("collection/tracks")).to_pylist()
    # a row without an artist is kept: matching reads its title as the whole record
    assert [r["track_id"] for r in rows] == ["a1", "a2", "a3"]
    assert rows[0]["duration_s"] == 285.0 and rows[0]["tags"] == [{"key": "mood", "value": "dark"}]
    assert rows[1]["album"] is None
    assert rows[2]["artist"] is None and rows[2]["title"] == "No Artist"
    assert report.counts["read"] == 5 and report.counts["rejected"] == 2
    reasons = [json.loads(l)["reason"] for l in (ws.rejects / "collection" / "tracks.jsonl").read_text().splitlines()]
    assert reasons[0].startswith("duplicate track_id 'a1'")
    assert "duration_ms 'soon' is not a number" in reasons[1]


def test_untagged_files_take_artist_and_title_from_their_path(ws, tmp_path):
    root = tmp_path / "music"
    (root / "Portishead" / "Dummy").mkdir(parents=True)
    (root / "loose").mkdir()
    _tone(root / "Portishead" / "Dummy" / "03 - Sour Times.wav", 1.0)
    _tone(root / "loose" / "Massive Attack - Teardrop.wav", 1.0)
    _flac(root / "Portishead" / "Dummy" / "04 - Strangers.flac", 1.0, title="Strangers (Tagged)")
    _tone(root / "loose" / "01.wav", 1.0)
    report = ingest.run(root, ws)
    rows = {Path(r["path"]).relative_to(root).as_posix(): r for r in read_table(ws.table("collection/tracks")).to_pylist()}
    sour = rows["Portishead/Dummy/03 - Sour Times.wav"]
    assert (sour["artist"], sour["title"], sour["album"], sour["track_number"]) == \
        ("Portishead", "Sour Times", "Dummy", 3)
    assert {"key": "discogs_tools:from_path", "value": "artist,title,album"} in sour["tags"]
    tear = rows["loose/Massive Attack - Teardrop.wav"]
    assert (tear["artist"], tear["title"], tear["album"]) == ("Massive Attack", "Teardrop", None)
    tagged = rows["Portishead/Dummy/04 - Strangers.flac"]  # the tag wins, the path fills the rest
    assert (tagged["artist"], tagged["title"], tagged["album"]) == ("Portishead", "Strangers (Tagged)", "Dummy")
    assert rows["loose/01.wav"]["title"] is None  # a bare number says nothing
    assert report.figures["from_filename"] == 3


def test_manifest_rows_without_title_use_their_path(ws, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,artist,title\n"
                        "Björk/Post/01 - Army of Me.mp3,,\n"
                        "x/Army of Me.mp3,Björk,\n"
                        "x/07.mp3,Björk,\n", encoding="utf-8")
    report = ingest.run(manifest, ws)
    rows = read_table(ws.table("collection/tracks")).to_pylist()
    assert [(r["artist"], r["title"], r["album"], r["track_number"]) for r in rows] == [
        ("Björk", "Army of Me", "Post", 1), ("Björk", "Army of Me", None, None)]
    reasons = [json.loads(l)["reason"] for l in (ws.rejects / "collection" / "tracks.jsonl").read_text().splitlines()]
    assert reasons == ["title is empty and the path gives none"]
    assert report.figures["from_filename"] == 2


@pytest.mark.parametrize(("path", "expected"), [
    ("Portishead/Dummy/03 - Sour Times.flac", ("Portishead", "Sour Times", "Dummy", 3)),
    ("Portishead - Dummy/03. Sour Times.flac", ("Portishead", "Sour Times", "Dummy", 3)),
    ("Portishead/Dummy/03 - Portishead - Sour Times.flac", ("Portishead", "Sour Times", "Dummy", 3)),
    ("Portishead - Sour Times.mp3", ("Portishead", "Sour Times", None, None)),
    ("50 Cent - In Da Club.mp3", ("50 Cent", "In Da Club", None, None)),
    ("01 Sour_Times.mp3", (None, "Sour Times", None, 1)),
    ("Sour Times by Portishead.ogg", ("Portishead", "Sour Times", None, None)),
    ("Track 01.mp3", (None, None, None, None)),
])
def test_fields_from_path_layouts(path, expected):
    from discogs_tools.collection.filename import fields_from_path

    got = fields_from_path(path)
    assert (got["artist"], got["title"], got["album"], got["track_number"]) == expected


def test_parquet_manifest_ids_from_paths(ws, tmp_path):
    manifest = tmp_path / "tracks.parquet"
    pq.write_table(pa.table({"path": ["x/1.flac", "x/2.flac"], "artist": ["A", "B"], "title": ["S", "T"],
                             "duration_s": [200.0, None]}), manifest)
    ingest.run(manifest, ws)
    rows = read_table(ws.table("collection/tracks")).to_pylist()
    assert [r["track_id"] for r in rows] == [ingest.path_track_id("x/1.flac"), ingest.path_track_id("x/2.flac")]
    assert rows[1]["duration_s"] is None


def test_manifest_missing_columns_is_a_clear_error(ws, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("name,title\nA,B\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"m\.csv: manifest lacks required column\(s\): artist, track_id or path"):
        ingest.run(manifest, ws)
    assert not ws.has_table("collection/tracks")


def test_non_utf8_manifest_names_the_line(ws, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"track_id,artist,title\n1,A,B\n2,M\xf6tley Cr\xfce,C\n")
    with pytest.raises(InputError, match="not valid UTF-8"):
        ingest.run(manifest, ws)


def test_missing_source(ws, tmp_path):
    with pytest.raises(MissingInputError, match="collection source not found"):
        ingest.run(tmp_path / "nope", ws)


def test_cli_ingest_collection(ws, audio_folder):
    result = CliRunner().invoke(app, ["ingest", "collection", str(audio_folder), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "tracks: 2" in result.output
    bad = CliRunner().invoke(app, ["ingest", "collection", str(audio_folder / "missing"), "-w", str(ws.root)])
    assert bad.exit_code == 2 and "collection source not found" in bad.output
