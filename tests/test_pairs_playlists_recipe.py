"""The ICASSP 2023 pair recipe (issue 12, seed 004 ch. 5): Artist CO, Table-5.1 pairs per epoch,
and playlist pairs over every collection track matched to the playlists (not only the dataset's
Discogs-matched tracks), without leaking held-out artists into training."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.dataset.version import write_tracks
from discogs_tools.io import write_table
from discogs_tools.pairs import ASSOCIATIONS, make_pairs, read_pairs, validate_pairs
from discogs_tools.workspace import Workspace

# track: (split or None = not in the dataset, Discogs artists, collection artist credit,
#         playlist artist_key, playlist artist_name)
TRACKS = {
    "t1": ("train", [1], "Alpha", "sp:a", "Alpha"),
    "t2": ("train", [1, 2], "Alpha & Beta", "sp:a", "Alpha"),
    "t3": ("train", [2], "Beta", "sp:b", "Beta"),
    "t4": ("train", [1], "Alpha", "sp:a", "Alpha"),
    "t5": ("train", [2], "Beta", "sp:b", "Beta"),
    "v1": ("validation", [9], "Held Out", "sp:h", "Held Out"),
    "v2": ("validation", [9], "Held Out", "sp:h", "Held Out"),
    "x1": ("test", [8], "Tested", "sp:x", "Tested"),
    "n1": (None, [], "Gamma", "sp:g", "Gamma"),            # outside the dataset, new artist: train
    "n5": (None, [], "Epsilon", None, None),               # no playlist artist, new credit: train
    "n2": (None, [], "  held   OUT ", "sp:z", "Zed"),      # the validation artist's credit
    "n3": (None, [], "Delta", "sp:h", "Held Out"),         # the validation artist's playlist key
    "n4": (None, [], None, None, None),                    # nothing known about its artist
    "n6": (None, [], "Omega", "sp:o", "tested"),           # the test artist's playlist name
}
PLAYLISTS = {
    "pl1": ["t1", "n1", "n5", "n2", "v1", "n3", "n4", "t3", "n6"],
    "pl2": ["n1", "n5", "t2"],
    "pl3": ["v1", "v2", "n1"],
}


def _full(name: str, columns: dict) -> pa.Table:
    """A table of schema ``name`` with the given columns; the others null."""
    from discogs_tools.schemas import load_schema

    schema = load_schema(name)
    n = len(next(iter(columns.values())))
    return pa.table({f.name: pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                     for f in schema}, schema=schema)


def _write(ws: Workspace) -> None:
    ds = {t: v for t, v in TRACKS.items() if v[0] is not None}
    ids = sorted(ds)
    n = len(ids)
    write_tracks(ws, "hand", pa.table({
        "track_id": ids, "releases": [[100 + i] for i in range(n)], "masters": [[]] * n,
        "artists": [ds[t][1] for t in ids], "extra_artists": [[]] * n, "labels": [[7]] * n, "genres": [[]] * n,
        "styles": [["House"]] * n, "duration_s": [200.0] * n, "split": [ds[t][0] for t in ids]}))
    write_table(ws.table("collection/tracks"), _full("collection/tracks", {
        "track_id": list(TRACKS), "artist": [v[2] for v in TRACKS.values()],
        "title": [f"Song {t}" for t in TRACKS]}), "collection/tracks")
    write_table(ws.table("playlists/tracks"), _full("playlists/tracks", {
        "track_key": [f"k:{t}" for t in TRACKS], "artist_key": [v[3] for v in TRACKS.values()],
        "artist_name": [v[4] for v in TRACKS.values()]}), "playlists/tracks")
    write_table(ws.table("links/track_playlist_tracks"), pa.table({
        "track_id": list(TRACKS), "track_key": [f"k:{t}" for t in TRACKS], "score": [1.0] * len(TRACKS),
        "method": ["key"] * len(TRACKS)}), "links/track_playlist_tracks")
    rows = [(p, i, f"k:{t}") for p, members in PLAYLISTS.items() for i, t in enumerate(members)]
    write_table(ws.table("playlists/playlist_tracks"), pa.table({
        "playlist_id": [r[0] for r in rows], "pos": pa.array([r[1] for r in rows], pa.int32()),
        "track_key": [r[2] for r in rows]}), "playlists/playlist_tracks")


@pytest.fixture
def hand(tmp_path):
    ws = Workspace(tmp_path / "ws").ensure()
    _write(ws)
    return ws


def _used(ws, association, split, epoch=0):
    table = read_pairs(ws, "hand", association, split, epoch)
    return table.column("anchor").to_pylist() + table.column("positive").to_pylist()


def test_playlist_pairs_take_collection_tracks_outside_the_dataset_into_train_only(hand):
    seen: set[str] = set()
    for seed in range(12):
        report = make_pairs(hand, "hand", "playlist-co", "train", seed=seed)
        assert report.counts["tracks_outside_dataset"] == 2           # n1, n5
        assert report.counts["tracks_outside_dataset_held_out"] == 4  # n2, n3, n4, n6
        assert report.counts["split_tracks"] == 5 + 2
        assert validate_pairs(hand, "hand", "playlist-co", "train", 0).counts["violations"] == 0
        seen.update(_used(hand, "playlist-co", "train"))
    assert {"n1", "n5"} <= seen
    assert not seen & {"n2", "n3", "n4", "n6", "v1", "v2", "x1"}
    for seed in range(6):
        report = make_pairs(hand, "hand", "playlist-co", "validation", seed=seed)
        assert report.counts["split_tracks"] == 2 and "tracks_outside_dataset" not in report.counts
        assert sorted(_used(hand, "playlist-co", "validation")) == ["v1", "v2"]


def test_outside_tracks_reach_every_playlist_strategy(hand):
    import pyarrow.parquet as pq

    from discogs_tools.io import read_table
    from discogs_tools.pairs import synthetic as ps

    playlist_tracks = read_table(hand.table("playlists/playlist_tracks"))
    write_table(hand.table("playlists/cooccurrence"), ps.cooccurrence_from_playlists(playlist_tracks, 10),
                "playlists/cooccurrence")
    folder = hand.dataset("hand") / "word2vec"
    folder.mkdir(parents=True)
    pq.write_table(ps.random_vectors([f"k:{t}" for t in TRACKS], seed=1), folder / "vectors.parquet")
    for association in ("playlist-tco", "playlist-w2v", "playlist-ico"):
        seen: set[str] = set()
        for seed in range(8):
            make_pairs(hand, "hand", association, "train", seed=seed)
            assert validate_pairs(hand, "hand", association, "train", 0).counts["violations"] == 0
            seen.update(_used(hand, association, "train"))
        assert seen & {"n1", "n5"}, association
        assert not seen & {"n2", "n3", "n4", "n6", "v1", "v2", "x1"}, association


def test_artist_co_pairs_each_artists_tracks_with_repetitions(hand):
    """Seed 004 sec. 5.3.3: Co-Occurrence over each artist's tracks as one playlist, without
    preventing track repetitions. Artist 1: t1, t2, t4 -> 1 pair; artist 2: t2, t3, t5 -> 1 pair."""
    assert "artist-co" in ASSOCIATIONS
    repeats = 0
    for seed in range(20):
        report = make_pairs(hand, "hand", "artist-co", "train", seed=seed)
        assert report.counts["pairs"] == 2
        assert validate_pairs(hand, "hand", "artist-co", "train", 0).counts["violations"] == 0
        rows = read_pairs(hand, "hand", "artist-co", "train", 0).to_pylist()
        assert sorted(r["shared_artists"][0] for r in rows) == [1, 2]
        for r in rows:
            artist = {1: {"t1", "t2", "t4"}, 2: {"t2", "t3", "t5"}}[r["shared_artists"][0]]
            assert {r["anchor"], r["positive"]} <= artist and r["anchor"] != r["positive"]
        repeats += max(Counter(_used(hand, "artist-co", "train")).values()) > 1
    assert repeats > 0  # t2 (two artists) is sometimes paired for both


def test_table_5_1_pairs_per_epoch_for_every_strategy(hand):
    """Seed 004 Table 5.1 reports, per model, the pairs of an epoch (in whole batches of 384:
    every figure there is a multiple of 384), the algorithm and whether pairs differ per epoch."""
    expected = {"track": ("SimCLR", "-", False), "artist-co": ("Artist CO", "Co-Occurrence", True),
                "playlist-co": ("Playlist CO", "Co-Occurrence", True)}
    for association, (model, algorithm, differs) in expected.items():
        report = make_pairs(hand, "hand", association, "train", seed=0, table_batch=2)
        assert report.details[-1]["table5_1"] == {
            "model": model, "algorithm": algorithm, "different_pairs_each_epoch": differs, "batch": 2,
            "pairs_per_epoch": report.counts["pairs"], "pairs_per_epoch_in_batches": report.counts["pairs"] // 2 * 2}
    from discogs_tools import manifest

    entry = manifest.get(hand.manifest_path, "make-pairs hand/artist-co/train/epoch-0")
    assert entry["table5_1"]["model"] == "Artist CO" and "table5_1" not in entry["table1"]
    info = json.loads((hand.dataset("hand") / "pairs" / "artist-co" / "train.parquet" / "_pairs.json").read_text())
    assert info["stats"]["0"]["table5_1"]["pairs_per_epoch"] == 2 and info["table_batch"] == 2
    result = CliRunner().invoke(app, ["make-pairs", "-a", "playlist-co", "--dataset", "hand", "--table-batch", "384",
                                      "-w", str(hand.root)])
    assert result.exit_code == 0, result.output
    assert "Playlist CO" in result.output and "pairs_per_epoch_in_batches" in result.output


def test_pairs_with_outside_tracks_stay_tied_to_the_dataset_version(hand):
    from discogs_tools.io import read_table
    from discogs_tools.pairs.provenance import StalePairsError

    make_pairs(hand, "hand", "playlist-co", "train", seed=0)
    info = json.loads((hand.dataset("hand") / "pairs" / "playlist-co" / "train.parquet" / "_pairs.json").read_text())
    assert info["stats"]["0"]["table5_1"]["model"] == "Playlist CO"
    write_tracks(hand, "hand", read_table(hand.dataset("hand") / "tracks"))  # a rebuild: a new version
    with pytest.raises(StalePairsError, match="make-pairs --dataset hand --association playlist-co"):
        read_pairs(hand, "hand", "playlist-co", "train")
