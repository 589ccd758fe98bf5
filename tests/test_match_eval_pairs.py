"""``match-eval --set pairs``: a labelled record-pair set (tableA.csv, tableB.csv, test.csv, the
layout of the entity-matching benchmarks) through ingest collection + ingest playlists + match
--against playlists, scored pair by pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError, InputError
from discogs_tools.match import pairs
from pairs_example import make

# A store-like set written for this test: two shops list songs of the bundled Discogs release 1
# (The Persuader, Stockholm) and look-alikes, each in its own style.
TABLE_A = """id,Song_Name,Artist_Name,Album_Name,Genre,Price,Time,Released
1,Östermalm,The Persuader,Stockholm [Explicit],Electronic,$0.99,4:45,1999
2,Vasastaden (Album Version),The Persuader,Stockholm,Electronic,$0.99,6:11,1999
3,Kungsholmen,The Persuader,Stockholm,Electronic,$0.99,2:49,1999
4,Södermalm Pt. 2,The Persuader,Stockholm,Electronic,$1.29,5:07,1999
"""
TABLE_B = """id,title,artist,album,duration
b1,Östermalm,The Persuader,Stockholm,285000
b2,Vasastaden,Persuader,Stockholm (Deluxe Edition),371000
b3,Kungsholmen,The Persuader,Stockholm,169000
b4,Södermalm,The Persuader,Stockholm,307000
b5,Kungsholmen (Live),The Persuader,Live In Stockholm,231000
"""
TEST = """ltable_id,rtable_id,label
1,b1,1
2,b2,1
3,b3,1
3,b5,0
4,b4,0
1,b3,0
"""


def write_set(folder: Path, a: str = TABLE_A, b: str = TABLE_B, test: str = TEST) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("tableA.csv", a), ("tableB.csv", b), ("test.csv", test)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_bundled_example_is_made_from_the_musicbrainz_extract():
    for name, text in make().items():
        assert (pairs.example_path() / name).read_text(encoding="utf-8") == text, name


@pytest.mark.parametrize(("header", "chosen", "expected"), [
    (["id", "Song_Name", "Artist_Name", "Album_Name", "Genre", "Price", "Time", "Released"], {},
     {"title": "Song_Name", "artist": "Artist_Name", "album": "Album_Name", "duration": "Time"}),
    (["id", "title", "artist", "album", "length", "year"], {},
     {"title": "title", "artist": "artist", "album": "album", "duration": "length"}),
    (["id", "track_name", "artist_name", "album_name", "duration_ms"], {},
     {"title": "track_name", "artist": "artist_name", "album": "album_name", "duration": "duration_ms"}),
    (["id", "name", "performer"], {}, {"title": "name", "artist": "performer"}),
    (["id", "Name", "Song", "Who"], {"title": "Song", "artist": "Who"}, {"title": "Song", "artist": "Who"}),
])
def test_columns_found_by_name_or_chosen(header, chosen, expected):
    assert pairs.find_columns(Path("t.csv"), header, chosen) == expected


def test_column_errors_name_the_file_and_the_columns():
    with pytest.raises(ConfigError, match=r"t.csv: no title column found \(has: id, artist\)"):
        pairs.find_columns(Path("t.csv"), ["id", "artist"], {})
    with pytest.raises(ConfigError, match="names 'Song' for the title, but the file has no such column"):
        pairs.find_columns(Path("t.csv"), ["id", "title"], {"title": "Song"})
    with pytest.raises(ConfigError, match="not ROLE=COLUMN"):
        pairs.parse_columns("genre=Genre")
    assert pairs.parse_columns(" title = Song_Name , artist=Artist_Name") == {"title": "Song_Name",
                                                                             "artist": "Artist_Name"}


@pytest.mark.parametrize(("text", "seconds"), [
    ("4:45", 285.0), ("1:02:03", 3723.0), ("6m 21sec", 381.0), ("285", 285.0), ("285000", 285.0),
    ("241.5", 241.5), ("0:00", None), ("", None), ("n/a", None),
])
def test_durations(text, seconds):
    assert pairs.parse_duration(text) == seconds


def test_bad_pair_files_name_file_and_line(tmp_path):
    folder = write_set(tmp_path / "s", test="ltable_id,rtable_id,label\n1,b1,1\n9,b1,0\n")
    with pytest.raises(InputError, match=r"test.csv.*line 3: ltable_id '9' is not in tableA"):
        pairs.run(_ws(tmp_path), folder)
    write_set(folder, test="ltable_id,rtable_id,label\n1,b1,yes\n")
    with pytest.raises(InputError, match="line 2: label 'yes' is not 0 or 1"):
        pairs.run(_ws(tmp_path), folder)
    write_set(folder, test="ltable_id,rtable_id\n1,b1\n")
    with pytest.raises(ConfigError, match="lacks column"):
        pairs.run(_ws(tmp_path), folder)
    write_set(folder, a=TABLE_A + "1,Again,X,Y,Z,$1,1:00,2000\n")
    with pytest.raises(InputError, match="tableA.csv.*line 6: duplicate id '1'"):
        pairs.run(_ws(tmp_path), folder)


def _ws(tmp_path):
    from discogs_tools.workspace import Workspace

    return Workspace(tmp_path / "ws").ensure()


def test_store_like_set_scores_pair_by_pair(tmp_path):
    folder = write_set(tmp_path / "shops")
    result = CliRunner().invoke(app, ["match-eval", "--set", "pairs", "--data", str(folder),
                                      "-w", str(tmp_path / "ws"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    ev = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert ev["columns"]["tableA"]["title"] == "Song_Name" and ev["columns"]["tableB"]["duration"] == "duration"
    assert ev["reference_tracks"] == 5 and ev["left_records"] == 4
    for variant in ("in_place", "mixed_up"):
        m = ev[variant]
        # Explicit, Album Version and Deluxe Edition are the same recording; the live version, the
        # part 2 against the plain title and another song are not
        assert (m["tp"], m["fp"], m["fn"]) == (3, 0, 0), (variant, m["errors"])
        assert m["f1"] == 1.0
    assert "in_place: precision 1.0000, recall 1.0000" in result.output


def test_wrong_pairs_are_listed_with_what_the_matcher_linked(tmp_path):
    # the same set, labelled wrongly on purpose: each wrong label is one listed error
    folder = write_set(tmp_path / "shops", test="ltable_id,rtable_id,label\n1,b1,0\n3,b5,1\n3,b3,1\n")
    pairs.run(_ws(tmp_path), folder, out_dir=tmp_path / "out")
    m = json.loads((tmp_path / "out" / "eval.json").read_text())["in_place"]
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    fp, fn = m["errors"]  # the false match first
    assert (fp["ltable_id"], fp["rtable_id"], fp["linked"], fp["label"]) == ("1", "b1", True, 0)
    assert (fn["ltable_id"], fn["rtable_id"], fn["linked"]) == ("3", "b5", False)
    assert fn["left_linked_to"] == ["b3"] and fn["left"]["Song_Name"] == "Kungsholmen"


def test_bundled_example_runs_through_the_real_stages(tmp_path):
    report = pairs.run(_ws(tmp_path), out_dir=tmp_path / "out")
    ev = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert ev["in_place"]["positives"] == 36 and ev["in_place"]["pairs"] == 132
    for variant in ("in_place", "mixed_up"):
        m = ev[variant]
        assert m["precision"] == 1.0 and m["recall"] >= 0.9, m["errors"]
        assert m["tp"] + m["fn"] == 36 and len(m["errors"]) == m["fp"] + m["fn"]
    assert report.figures["in_place_f1"] == ev["in_place"]["f1"]
    assert (tmp_path / "out" / "workspace" / "tables" / "links" / "track_playlist_tracks").exists()
