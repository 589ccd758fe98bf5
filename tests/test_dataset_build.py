"""build-dataset: entities, master-level styles, artist-filtered stratified splits, determinism,
on seeded synthetic Discogs tables and on the bundled real dump sample."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.dataset import run
from discogs_tools.dataset.splits import artist_groups, resolve_size, stratify
from discogs_tools.dataset.synthetic import synthetic_releases, write_synthetic_workspace
from discogs_tools.errors import ConfigError, MissingInputError
from discogs_tools.io import read_table, write_table
from discogs_tools.workspace import Workspace


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "workspace"
    write_synthetic_workspace(root, 1500, n_artists=400, n_labels=100, n_styles=25, seed=7)
    ws = Workspace(root)
    report = run(ws, min_releases=8, top_styles=20, seed=3)
    return ws, report


def _tracks(ws, name="discogs20"):
    return read_table(ws.dataset(name) / "tracks").to_pylist()


def test_no_artist_in_two_splits_and_splits_sized(built):
    ws, report = built
    rows = _tracks(ws)
    split_of_artist = defaultdict(set)
    for row in rows:
        for a in row["artists"]:
            split_of_artist[a].add(row["split"])
    assert split_of_artist and all(len(s) == 1 for s in split_of_artist.values())
    assert report.counts["artist_overlap"] == 0
    n = len(rows)
    sizes = {s: sum(r["split"] == s for r in rows) for s in ("train", "validation", "test")}
    assert sizes["validation"] == pytest.approx(0.1 * n, rel=0.25)
    assert sizes["test"] == pytest.approx(0.1 * n, rel=0.25)
    assert report.counts["train_tracks"] == sizes["train"]
    # Placeholder artists never count as artists.
    assert not any(194 in r["artists"] or 355 in r["artists"] for r in rows)


def test_style_recipe(built):
    ws, report = built
    rows = _tracks(ws)
    releases = read_table(ws.table("discogs/releases"), columns=["release_id", "master_id", "styles"]).to_pylist()
    group_styles = defaultdict(set)
    group_of = {}
    for r in releases:
        g = r["master_id"] if r["master_id"] is not None else -r["release_id"]
        group_of[r["release_id"]] = g
        group_styles[g] |= set(r["styles"])
    vocab = {row["style"] for row in read_table(ws.dataset("discogs20") / "labels").to_pylist()}
    assert len(vocab) == 20
    for row in rows:
        assert row["styles"] and set(row["styles"]) <= vocab
        groups = {group_of[r] for r in row["releases"]}
        kept = [g for g in groups if len(group_styles[g]) <= 5 and group_styles[g] & vocab]
        assert kept, row["track_id"]
        assert set(row["styles"]) == set().union(*(group_styles[g] & vocab for g in kept))
        assert row["duration_s"] is None or row["duration_s"] >= 20
    assert report.counts["style_groups_too_many_styles"] > 0
    c = report.counts
    assert c["linked_tracks"] == c["tracks"] + c["dropped_too_short"] + c["dropped_no_kept_style"] \
        + c["tracks_unknown_release_only"]


def test_style_minimums_in_validation_and_test(built):
    ws, report = built
    rows = _tracks(ws)
    releases_per = defaultdict(set)
    for row in rows:
        for style in row["styles"]:
            for r in row["releases"]:
                releases_per[(style, row["split"])].add(r)
    labels = read_table(ws.dataset("discogs20") / "labels").to_pylist()
    for lab in labels:
        assert lab["validation_releases"] == len(releases_per[(lab["style"], "validation")])
        assert lab["test_releases"] == len(releases_per[(lab["style"], "test")])
        assert lab["meets_minimum"] == (lab["validation_releases"] >= 8 and lab["test_releases"] >= 8)
    # Every style that has enough releases to give 8 to both held-out splits gets them.
    assert all(lab["meets_minimum"] for lab in labels if lab["releases"] >= 60)
    assert report.counts["styles_below_minimum"] == sum(not lab["meets_minimum"] for lab in labels)


def test_deterministic_given_seed(built, tmp_path):
    ws, _ = built
    first = read_table(ws.dataset("discogs20") / "tracks")
    run(ws, "again", min_releases=8, top_styles=20, seed=3)
    assert read_table(ws.dataset("again") / "tracks").equals(first)
    run(ws, "other", min_releases=8, top_styles=20, seed=4)
    other = read_table(ws.dataset("other") / "tracks")
    assert other.column("track_id").equals(first.column("track_id"))
    assert not other.column("split").equals(first.column("split"))


def test_artist_groups_hand_example():
    # tracks 0-1 share artist 5, 1-2 share artist 6; track 3 alone; track 4 has no artist.
    groups = artist_groups(5, np.array([0, 1, 1, 2, 3]), np.array([5, 5, 6, 6, 9]))
    assert groups.tolist() == [0, 0, 0, 1, 2]


def test_stratify_respects_capacity_and_minimum():
    # 40 one-track groups with style 0 (one release each), a 30-track group with style 1.
    sizes = np.array([1] * 40 + [30])
    g = np.arange(41)
    s = np.array([0] * 40 + [1])
    result = stratify(sizes, g, s, np.ones(41), 2, validation=10, test=10, min_releases=5, seed=0)
    assert result.group_split[40] == 0  # too large for a held-out split
    for split in (1, 2):
        assert 5 <= np.count_nonzero(result.group_split[:40] == split) <= 10


def test_resolve_size():
    assert resolve_size(0.1, 1000, "validation") == 100
    assert resolve_size(250, 1000, "test") == 250
    with pytest.raises(ConfigError):
        resolve_size(2.5, 1000, "test")


def test_missing_tables_give_clear_error(tmp_path):
    ws = Workspace(tmp_path / "empty").ensure()
    with pytest.raises(MissingInputError, match="links/track_releases.*discogs-tools match"):
        run(ws)
    result = CliRunner().invoke(app, ["build-dataset", "--workspace", str(ws.root)])
    assert result.exit_code == 2 and "links/track_releases" in result.output


def test_cli_defaults_and_manifest(tmp_path):
    root = tmp_path / "ws"
    write_synthetic_workspace(root, 300, n_artists=80, n_labels=30, seed=2)
    result = CliRunner().invoke(app, ["build-dataset", "--workspace", str(root), "--min-releases", "2"])
    assert result.exit_code == 0, result.output
    assert "artist_overlap: 0" in result.output
    assert (root / "datasets" / "discogs20" / "report.json").exists()
    assert "build-dataset discogs20" in (root / "manifest.json").read_text()


def test_compilation_track_artists_and_extra_credits(tmp_path):
    releases, links = synthetic_releases(200, n_artists=60, n_labels=10, seed=11)
    root = tmp_path / "ws"
    write_table(root / "tables" / "discogs" / "releases", releases, "discogs/releases")
    write_table(root / "tables" / "links" / "track_releases", links, "links/track_releases")
    run(Workspace(root), min_releases=1, min_duration=0)
    by_release = {r["release_id"]: r for r in releases.to_pylist()}
    for row in _tracks(Workspace(root)):
        expected = set()
        extra = set()
        pos = "A" + str(int(row["track_id"].rsplit("-", 1)[1]))
        for rid in row["releases"]:
            rel = by_release[rid]
            expected |= {a["id"] for a in rel["artists"]}
            entry = next(t for t in rel["tracklist"] if t["position"] == pos)
            expected |= {a["id"] for a in entry["artists"]}
            extra |= {a["id"] for a in entry["extraartists"]}
        assert row["artists"] == sorted(expected - {194, 355})
        assert row["extra_artists"] == sorted(extra)


def test_real_discogs_sample(tmp_path, samples):
    """Ingest the real 2020 sample, link one collection track per (master, title) to every release
    of that master carrying the title, and build a dataset from it."""
    from discogs_tools.discogs.ingest import run as ingest

    ws = Workspace(tmp_path / "ws").ensure()
    ingest([samples / "xml2db_20200806" / "discogs_20200806_releases.sample1000.xml.gz"], ws, workers=0,
           record_manifest=False)
    con = duckdb.connect()
    links = con.sql(f"""
        WITH t AS (
            SELECT release_id, master_id, coalesce(master_id, -release_id) AS grp,
                   unnest(tracklist) AS tr FROM read_parquet('{ws.table("discogs/releases")}/*.parquet'))
        SELECT 'real-' || grp || '-' || md5(lower(tr.title)) AS track_id, release_id, master_id,
               first(tr.position) AS position, 1.0 AS score, 'master' AS method
        FROM t WHERE tr.title IS NOT NULL AND tr.position IS NOT NULL AND tr.position <> ''
        GROUP BY ALL
    """).to_arrow_table()
    write_table(ws.table("links/track_releases"), links.select(
        ["track_id", "release_id", "master_id", "position", "score", "method"]), "links/track_releases")
    report = run(ws, top_styles=50, min_releases=2, seed=0)
    rows = _tracks(ws)
    assert report.counts["tracks"] == len(rows) > 100
    assert report.counts["artist_overlap"] == 0
    assert {r["split"] for r in rows} == {"train", "validation", "test"}
    assert all(1 <= len(r["styles"]) <= 5 for r in rows if len(r["masters"]) <= 1)
    # Release 1 (The Persuader, Stockholm; Svek, Deep House) is in the sample.
    persuader = [r for r in rows if 1 in r["releases"]]
    assert persuader and all(1 in r["artists"] and 5 in r["labels"] and "Deep House" in r["styles"]
                             for r in persuader)
    assert pq.read_table(ws.dataset("discogs20") / "splits").num_rows == len(rows)
