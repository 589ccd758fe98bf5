"""`match`: known matches and non-matches on the real Discogs samples, expansion to every release
of a recording, playlists, index reuse, missing tables, determinism and the evaluation."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.errors import MissingInputError
from discogs_tools.io import read_table, write_table
from discogs_tools.match import evaluate, stage
from discogs_tools.match.scoring import MatchConfig
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


@pytest.fixture(scope="module")
def discogs_ws(tmp_path_factory):
    """A workspace with discogs/releases ingested from the real 1,000-release dump sample."""
    ws = Workspace(tmp_path_factory.mktemp("match") / "workspace").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    return ws


def _releases_with_title(ws: Workspace, artist_word: str, title: str) -> set[int]:
    """Independent truth: releases whose tracklist has this exact title (any case) by this artist."""
    found = set()
    for r in read_table(ws.table("discogs/releases"), ["release_id", "artists", "tracklist"]).to_pylist():
        for t in r["tracklist"] or []:
            artists = t["artists"] or r["artists"] or []
            if (t["title"] or "").lower() == title.lower() and any(artist_word in (a["name"] or "").lower()
                                                                   for a in artists):
                found.add(r["release_id"])
    return found


COLLECTION = [
    # track_id, artist, title, album, duration_s, discogs_release_id
    ("persuader", "Persuader, The", "Ostermalm (Remastered 2011)", "Stockholm", 287.0, None),
    ("persuader-live", "The Persuader", "Östermalm (Live)", None, 350.0, None),
    ("persuader-other", "Adam Beyer", "Gamla Stan", None, 316.0, None),
    ("speckrolle", "Feine Trinkers bei Pinkels Daheim", "Hungerhaken's Speckrole", None, 3871.0, None),
    ("funeral", "FUNERAL CIRCLE", "Burning a Sinner", "Lord Vicar / Funeral Circle", 219.0, None),
    ("wrong-length", "The Persuader", "Vasastaden", "Stockholm", 150.0, None),
    ("absent", "Nobody Known", "A Song Not In Any Sample", None, 200.0, None),
    ("tagged", "Persuader", "Kungsholmen", None, 169.0, 1),
]


@pytest.fixture(scope="module")
def matched_ws(discogs_ws, tmp_path_factory):
    manifest = tmp_path_factory.mktemp("collection") / "tracks.parquet"
    cols = list(zip(*COLLECTION))
    pq.write_table(pa.table({"track_id": cols[0], "artist": cols[1], "title": cols[2], "album": cols[3],
                             "duration_s": pa.array(cols[4], pa.float64()),
                             "discogs_release_id": pa.array(cols[5], pa.int64())}), manifest)
    collection_ingest.run(manifest, discogs_ws)
    report = stage.run(discogs_ws, "discogs")
    return discogs_ws, report


def _links(ws):
    rows = read_table(ws.table("links/track_releases")).to_pylist()
    out: dict[str, dict[int, dict]] = {}
    for r in rows:
        out.setdefault(r["track_id"], {})[r["release_id"]] = r
    return out


def test_known_matches_link_the_source_release(matched_ws):
    ws, report = matched_ws
    links = _links(ws)
    assert links["persuader"][1]["position"] == "A"
    assert links["persuader"][1]["master_id"] == 1660109
    assert links["persuader"][1]["method"] == "key"  # inverted article, accent and remaster suffix normalised away
    assert links["speckrolle"][min(links["speckrolle"])]["method"] == "fuzzy"  # a typo
    assert 0.85 <= links["persuader"][1]["score"] <= 1.0
    assert set(links["funeral"]) == _releases_with_title(ws, "funeral circle", "Burning A Sinner")
    assert {r["method"] for r in links["funeral"].values()} == {"key"}


def test_every_release_carrying_the_recording_is_linked(matched_ws):
    ws, _ = matched_ws
    links = _links(ws)
    truth = _releases_with_title(ws, "feine trinkers", "Hungerhaken's Speckrolle")
    assert len(truth) >= 5
    assert set(links["speckrolle"]) == truth
    assert {r["master_id"] for r in links["speckrolle"].values()} == {1436652}


def test_known_non_matches(matched_ws):
    ws, _ = matched_ws
    links = _links(ws)
    for track in ("persuader-live", "persuader-other", "wrong-length", "absent"):
        assert track not in links, track
    best = {r["track_id"]: r for r in read_table(ws.table("match/discogs_best")).to_pylist()}
    # The near miss is reported with its best candidate, so a user can see why it missed.
    assert best["wrong-length"]["ref_id"] == "1" and best["wrong-length"]["duration_diff_s"] == pytest.approx(221)
    assert not best["wrong-length"]["matched"] and best["wrong-length"]["score"] < 0.85
    assert best["absent"]["score"] is None


def test_release_id_tag_links_with_method_id(matched_ws):
    ws, _ = matched_ws
    link = _links(ws)["tagged"][1]
    assert (link["method"], link["position"]) == ("id", "B2")


def test_report_counts_and_outputs(matched_ws):
    ws, report = matched_ws
    assert report.counts["tracks"] == len(COLLECTION)
    assert report.counts["matched"] == 4
    links = read_table(ws.table("links/track_releases"))
    assert report.counts["links"] == links.num_rows
    import json

    data = json.loads((ws.tables / "match" / "discogs_report.json").read_text())
    assert data["matched"] == 4 and sum(data["links_per_track_histogram"].values()) == len(COLLECTION)
    assert {b["track_id"] for b in data["unmatched_best_candidates"]} >= {"wrong-length", "persuader-live"}


def test_rerun_reuses_index_and_is_identical(matched_ws):
    ws, first_report = matched_ws
    before = read_table(ws.table("links/track_releases"))
    again = stage.run(ws, "discogs")
    assert again.figures["index_built"] is False
    assert read_table(ws.table("links/track_releases")).equals(before)
    rebuilt = stage.run(ws, "discogs", rebuild_index=True, config=MatchConfig(chunk_tracks=3))
    assert rebuilt.figures["index_built"] is True
    assert read_table(ws.table("links/track_releases")).equals(before)  # chunking does not change results


def test_stricter_threshold_drops_fuzzy_links(matched_ws):
    ws, _ = matched_ws
    stage.run(ws, "discogs", MatchConfig(threshold=0.999, expand_masters=False))
    strict = _links(ws)
    assert "speckrolle" not in strict and {"funeral", "persuader"} <= set(strict)
    stage.run(ws, "discogs")  # restore for other tests


def test_matching_before_inputs_exist_names_the_command(tmp_path):
    ws = Workspace(tmp_path / "empty").ensure()
    with pytest.raises(MissingInputError, match="ingest collection"):
        stage.run(ws, "discogs")
    write_table(ws.table("collection/tracks"), _one_track_table(), "collection/tracks")
    with pytest.raises(MissingInputError, match="ingest discogs"):
        stage.run(ws, "discogs")
    with pytest.raises(MissingInputError, match="ingest playlists"):
        stage.run(ws, "playlists")
    result = CliRunner().invoke(app, ["match", "-w", str(ws.root)])
    assert result.exit_code == 2 and "run `discogs-tools ingest discogs" in result.output


def _one_track_table() -> pa.Table:
    from discogs_tools.schemas import load_schema

    schema = load_schema("collection/tracks")
    row = {n: None for n in schema.names}
    row.update(track_id="t1", artist="A", title="B", tags=[])
    return pa.Table.from_pylist([row], schema=schema)


def test_match_against_playlists(matched_ws, tmp_path):
    ws, _ = matched_ws
    from discogs_tools.schemas import load_schema

    schema = load_schema("playlists/tracks")
    tracks = [
        ("spotify:track:1", "Östermalm - 2011 Remaster", "The Persuader", "Stockholm", 286_000),
        ("spotify:track:2", "Östermalm", "The Persuader", "Stockholm (Deluxe)", 284_500),
        ("spotify:track:3", "Östermalm - Live", "The Persuader", "Live", 350_000),
        ("spotify:track:4", "Burning A Sinner", "Funeral Circle", None, 217_000),
        ("spotify:track:5", "Burning A Sinner", "Lord Vicar", None, 217_000),
    ]
    rows = [dict(zip(["track_key", "track_name", "artist_name", "album_name", "duration_ms"], t)) for t in tracks]
    for r in rows:
        r.update(artist_key=None, album_key=None)
    write_table(ws.table("playlists/tracks"), pa.Table.from_pylist([{n: r[n] for n in schema.names} for r in rows],
                                                                  schema=schema), "playlists/tracks")
    report = stage.run(ws, "playlists")
    links = read_table(ws.table("links/track_playlist_tracks")).to_pylist()
    got = {(l["track_id"], l["track_key"]) for l in links}
    assert got == {("persuader", "spotify:track:1"), ("persuader", "spotify:track:2"),
                   ("funeral", "spotify:track:4"), ("persuader-live", "spotify:track:3")}
    assert report.counts["links"] == 4


def test_playlist_tracks_without_an_artist_are_read_from_artist_dash_title(matched_ws):
    # a playlist without an artist column (a radio log, a scraped list): "Artist - Title" names
    ws, _ = matched_ws
    from discogs_tools.schemas import load_schema

    schema = load_schema("playlists/tracks")
    tracks = [("r1", "The Persuader - Östermalm", None, 286_000), ("r2", "Funeral Circle \u2013 Burning A Sinner", "", 217_000),
              ("r3", "Burning A Sinner", None, 217_000), ("r4", "Lord Vicar - Burning A Sinner", None, 217_000)]
    rows = [{n: None for n in schema.names} | dict(zip(["track_key", "track_name", "artist_name", "duration_ms"], t))
            for t in tracks]
    write_table(ws.table("playlists/tracks"), pa.Table.from_pylist(rows, schema=schema), "playlists/tracks")
    report = stage.run(ws, "playlists")
    got = {(l["track_id"], l["track_key"]) for l in read_table(ws.table("links/track_playlist_tracks")).to_pylist()}
    # r3 names no artist at all: not indexed; r4 is another band's song of the same title
    assert got == {("persuader", "r1"), ("funeral", "r2")}
    assert report.figures["index_rows"] == 3


def test_evaluation_on_the_samples(discogs_ws, tmp_path):
    report = evaluate.run(discogs_ws, out_dir=tmp_path / "eval", positives=250, negatives=100, seed=3)
    assert report.counts["positives"] == 250
    assert report.figures["precision"] >= 0.95 and report.figures["recall"] >= 0.9
    import json

    data = json.loads((tmp_path / "eval" / "eval.json").read_text())
    curve = data["pr_curve"]
    assert [c["threshold"] for c in curve] == sorted(c["threshold"] for c in curve)
    assert all(a["recall"] >= b["recall"] for a, b in zip(curve, curve[1:]))  # recall falls as threshold rises
    again = evaluate.run(discogs_ws, out_dir=tmp_path / "eval2", positives=250, negatives=100, seed=3)
    assert again.figures == report.figures
    shutil.rmtree(tmp_path / "eval2")
