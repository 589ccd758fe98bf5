"""Reference tracks that are mixed-up text (a playlist track without an artist, its title holding
the whole record) are matched from the collection's side (``discogs_tools.match.text_reference``).

The reference holds tracks of Kanye West and Adele, some with their fields in place, some written
as one text in the issue-16 recipe (artist + title + album + price + m:ss + date) or the
"dirty" benchmark way (the title first, other fields appended)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.io import read_table
from discogs_tools.match import stage
from discogs_tools.workspace import Workspace
from playlist_reference import write_playlist_tracks

REFERENCE = [
    ("in-place", "Rolling in the Deep", "Adele", "21", 228_000),
    ("recipe", "Adele Rumour Has It 21 $1.29 3:43 2011-01-24", None, None, None),
    ("dirty", "Crack In the Pearl Kanye West My Beautiful Dark Twisted Fantasy", None, None, 201_000),
    ("dirty-part-2", "Crack In the Pearl, Pt. II Kanye West My Beautiful Dark Twisted Fantasy", "", None, 189_000),
    ("live", "Adele Set Fire to the Rain (Live at the Royal Albert Hall) 2011", None, None, None),
    ("other-artist", "Someone Else Rolling in the Deep 3:48", None, None, None),
    ("sibling", "Adele Rumour Has It Too 21 $1.29 2011-01-24", None, None, 223_000),
    ("album-a", "Frutti Extrats Courante Music Rocker Wiem Mazurska 1066-1069 £0.79 1961", None, None, None),
]
COLLECTION = [
    # track_id, artist, title, album, duration_s
    ("rumour", "Adele", "Rumour Has It", "21", 223.0),
    ("pearl", "Kanye West", "Crack In the Pearl", None, 201.0),
    ("pearl-2", "Kanye West", "Crack In the Pearl, Part 2", None, 189.0),
    ("rolling", "Adele", "Rolling in the Deep", None, 228.0),  # linked in place: the text rows are not tried
    ("fire", "Adele", "Set Fire to the Rain", None, 242.0),  # the reference has the live version only
    ("someone", "Nobody Known", "Rumour Has It", None, 223.0),  # the title, by another artist
    ("dash", None, "Kanye West - Crack In the Pearl", None, 201.0),  # no artist, but "Artist - Title"
    # text against text: both texts must hold the same names (4 of the 5 words of "recipe" here,
    # the duration agreeing), their part numbers and versions equal
    ("text", None, "Adele Rumour Has It 3:43", None, None),
    ("text-title-only", None, "Rumour Has It", None, 223.0),  # 3 of 5 words: a bare title names no recording
    ("text-remix", None, "Adele Rumour Has It (Remix) 21", None, 223.0),
    ("text-live", None, "Adele Set Fire to the Rain 2011", None, 242.0),  # the text row is a live version
    # another song of the same artist and album: 8 of 9 words shared, one word unlike any of the other's
    ("text-album-b", None, "Frutti Extrats Ouvertüre Music Rocker Wiem Mazurska 1066-1069 $0.99 1961", None, None),
    # the same song with typos the word-level rule misses ("Mazurskaa", "Rokcer")
    ("text-album-a", None, "Frutti Extrats Courante Music Rokcer Wiem Mazurskaa 1066-1069 £0.79 1961", None, None),
]
EXPECTED = {("rumour", "recipe"), ("pearl", "dirty"), ("pearl-2", "dirty-part-2"), ("rolling", "in-place"),
            ("dash", "dirty"), ("text", "recipe"), ("text-album-a", "album-a")}


def _collection(ws: Workspace, rows=COLLECTION) -> None:
    manifest = ws.root.parent / "collection.parquet"
    pq.write_table(pa.Table.from_pylist([dict(zip(("track_id", "artist", "title", "album", "duration_s"), r))
                                         for r in rows]), manifest)
    collection_ingest.run(manifest, ws)


@pytest.fixture()
def text_ws(tmp_path):
    ws = Workspace(tmp_path / "workspace").ensure()
    write_playlist_tracks(ws, REFERENCE)
    _collection(ws)
    return ws


def _links(ws: Workspace) -> dict[tuple[str, str], str]:
    return {(r["track_id"], r["track_key"]): r["method"]
            for r in read_table(ws.table("links/track_playlist_tracks")).to_pylist()}


def test_text_rows_are_matched_from_the_collection_side(text_ws):
    report = stage.run(text_ws, "playlists")
    links = _links(text_ws)
    assert set(links) == EXPECTED
    assert links[("rumour", "recipe")] == "text_reference" and links[("rolling", "in-place")] != "text_reference"
    # tried: every track left without a link by the index (not "rolling")
    assert report.counts["text_reference_tried"] == 12 and report.counts["text_reference_linked"] == 6
    best = {r["track_id"]: r for r in read_table(text_ws.table("match/playlist_best")).to_pylist()}
    assert best["pearl"]["ref_id"] == "dirty" and best["pearl"]["method"] == "text_reference"
    assert not best["fire"]["matched"] and not best["someone"]["matched"]


def test_text_tables_hold_the_tracks_without_an_artist(text_ws):
    stage.run(text_ws, "playlists")
    rows = read_table(text_ws.table("match/playlist_text_rows")).to_pylist()
    assert [r["track_key"] for r in rows] == ["album-a", "dirty", "dirty-part-2", "live", "other-artist", "recipe",
                                              "sibling"]
    by_key = {r["track_key"]: r for r in rows}
    assert by_key["recipe"]["duration_s"] == 223.0  # the m:ss of the text
    assert by_key["dirty"]["duration_s"] == 201.0  # the column's
    words = read_table(text_ws.table("match/playlist_text_words")).to_pylist()
    df = {(w["word"], w["track_key"]): w["df"] for w in words}
    assert df[("adele", "recipe")] == 3 and df[("pearl", "dirty")] == 2  # held by three and two text rows
    assert not any(w["word"] in ("129", "1", "3", "43") for w in words)  # price and duration left out
    index_keys = {r["track_key"] for r in read_table(text_ws.table("match/playlist_track_index")).to_pylist()}
    assert index_keys == {"in-place"}
    report = json.loads((text_ws.tables / "match" / "playlist_report.json").read_text())
    assert report["index"]["text_rows"] == 7 and report["index"]["dropped_no_artist_or_title"] == 0


def test_forbidden_text_links_are_removed(text_ws):
    overrides = text_ws.root / "overrides.csv"
    overrides.write_text("track_id,ref_id,action\npearl,dirty,forbid\n", encoding="utf-8")
    report = stage.run(text_ws, "playlists", overrides=overrides)
    assert set(_links(text_ws)) == EXPECTED - {("pearl", "dirty")}
    assert report.counts["overrides_forbidden_removed"] == 1


def test_links_forced_to_text_rows_are_made_and_kept_without_the_fallback(text_ws):
    from discogs_tools.match.scoring import MatchConfig

    overrides = text_ws.root / "overrides.csv"
    # "fire" is not the live version by its text, "rolling" already links in place: the user's word is final
    overrides.write_text("track_id,ref_id,action\nfire,live,force\nrolling,other-artist,force\n", encoding="utf-8")
    for config in (MatchConfig(), MatchConfig(text_fallback=False)):
        report = stage.run(text_ws, "playlists", config, overrides=overrides)
        links = _links(text_ws)
        assert links[("fire", "live")] == "override" and links[("rolling", "other-artist")] == "override"
        assert links[("rolling", "in-place")] != "override"
        assert report.counts["overrides_forced_linked"] == 2 and not report.warnings
        best = {r["track_id"]: r for r in read_table(text_ws.table("match/playlist_best")).to_pylist()}
        assert best["fire"]["matched"] and best["fire"]["method"] == "override"
        assert best["rolling"]["n_links"] == 2 and best["rolling"]["ref_id"] == "in-place"


def test_no_text_fallback_turns_the_text_rows_off(text_ws):
    from discogs_tools.match.scoring import MatchConfig

    stage.run(text_ws, "playlists", MatchConfig(text_fallback=False))
    assert set(_links(text_ws)) == {("rolling", "in-place")}


def test_a_reference_of_text_rows_only(tmp_path):
    ws = Workspace(tmp_path / "workspace").ensure()
    write_playlist_tracks(ws, [t for t in REFERENCE if t[2] is None])
    _collection(ws)
    report = stage.run(ws, "playlists")
    assert set(_links(ws)) == {("rumour", "recipe"), ("pearl", "dirty"), ("dash", "dirty"), ("text", "recipe"),
                               ("text-album-a", "album-a")}
    assert report.figures["index_rows"] == 0
