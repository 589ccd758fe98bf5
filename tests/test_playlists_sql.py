"""The ready playlist queries in sql/queries/ run on ingested tables and give the right numbers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from discogs_tools.io import parquet_glob
from discogs_tools.playlists import cooccurrence, ingest
from discogs_tools.resources import resource_dir

DATA = Path(__file__).parent / "data" / "playlists"
SLICES = [DATA / "mpd.slice.0-2.json", DATA / "mpd.slice.3-4.json"]
QUERIES = sorted(resource_dir("sql").joinpath("queries").glob("playlists_*.sql"))


@pytest.fixture
def con(ws):
    ingest.run(SLICES, ws, workers=1)
    cooccurrence.run(ws, workers=1)
    connection = duckdb.connect()
    for table in ("playlists", "playlist_tracks", "tracks", "cooccurrence"):
        connection.execute(f"CREATE VIEW playlists_{table} AS SELECT * FROM "
                           f"read_parquet('{parquet_glob(ws.table(f'playlists/{table}'))}')")
    yield connection
    connection.close()


def run_query(con, name: str) -> list[dict]:
    rel = con.sql((resource_dir("sql") / "queries" / f"{name}.sql").read_text())
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def test_queries_exist_and_are_documented():
    assert {q.stem for q in QUERIES} >= {"playlists_top_tracks", "playlists_top_artists",
                                         "playlists_length_distribution", "playlists_track_neighbors"}
    for query in QUERIES:
        header = query.read_text().splitlines()
        assert header[0].startswith("-- ") and any(line.startswith("-- grain:") for line in header)


def test_top_tracks_counts_distinct_playlists(con):
    result = run_query(con, "playlists_top_tracks")
    playlists_per_track: Counter = Counter()
    for _, tracks in [("0", ["0UaM", "6I9V", "0WqI"]), ("1", ["6I9V", "1AWQ"]), ("2", ["1AWQ"]),
                      ("3", ["0WqI", "0UaM"])]:
        playlists_per_track.update(tracks)
    got = {r["track_key"].split(":")[-1][:4]: r["playlists"] for r in result}
    assert got == dict(playlists_per_track)
    timberlake = next(r for r in result if r["artist_name"] == "Justin Timberlake")
    assert timberlake["entries"] == 3 and timberlake["playlists"] == 2
    assert timberlake["share"] == pytest.approx(2 / 5)


def test_length_distribution_and_artists(con):
    buckets = {r["bucket_start"]: (r["bucket_end"], r["playlists"], r["entries"])
               for r in run_query(con, "playlists_length_distribution")}
    assert buckets == {0: (0, 1, 0), 1: (4, 4, 9)}
    artists = {r["artist_name"]: r["playlists"] for r in run_query(con, "playlists_top_artists")}
    assert artists == {"Missy Elliott": 2, "Britney Spears": 2, "Beyoncé": 2, "Justin Timberlake": 2}


def test_track_neighbors(con):
    result = run_query(con, "playlists_track_neighbors")
    crazy = [(r["rank"], r["neighbor_name"], r["count"]) for r in result if r["track_name"] == "Crazy In Love"]
    # Crazy In Love shares playlists 0 and 3 with Lose Control, playlist 0 with Toxic.
    assert crazy == [(1, "Lose Control (feat. Ciara & Fat Man Scoop)", 2), (2, "Toxic", 1)]
