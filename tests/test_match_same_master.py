"""The real-world evaluation: tracklists of one release against the other releases of its master.

Built from the bundled real 2020-08 Discogs sample (CC0, see sample_data/discogs/SOURCES.md):
Frampton Comes Alive! (master 101332) was entered twice, once as an 18-track edition with a typo
("It's A Plane Shame") and unreleased bonus tracks, once as a 14-track one.
"""

from __future__ import annotations

import pytest

from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.match import realworld
from discogs_tools.match.scoring import MatchConfig
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("same-master") / "workspace").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    return ws


def test_labels_follow_the_sibling_releases(sample_ws, tmp_path):
    ev = Workspace(tmp_path / "ev").ensure()
    rows, labels, n_ref = realworld.build(sample_ws.table("discogs/releases"), ev.table("discogs/releases"))
    frampton = {labels[r["track_id"]]["source"]["title"]: labels[r["track_id"]] for r in rows
                if r["track_id"].startswith("in_place") and labels[r["track_id"]]["source"]["source_release"] == 11058794}
    assert frampton["It's A Plane Shame"]["truth"] == {14220571}  # the reviewed typo
    assert frampton["It's A Plane Shame"]["kind"] == "other_text"
    assert frampton["Doobie Wah"]["truth"] == {14220571} and frampton["Doobie Wah"]["kind"] == "same_text"
    assert frampton["White Sugar (Previously Unreleased)"]["truth"] == set()
    assert frampton["White Sugar (Previously Unreleased)"]["kind"] == "not_on_sibling"
    # the query release is not in the reference, so it cannot be its own answer
    assert all(11058794 not in lab["truth"] for lab in labels.values())
    assert 0 < n_ref < 1000


def test_mixed_up_rows_follow_the_recipe(sample_ws, tmp_path):
    ev = Workspace(tmp_path / "ev").ensure()
    rows, labels, _ = realworld.build(sample_ws.table("discogs/releases"), ev.table("discogs/releases"))
    by_id = {r["track_id"]: r for r in rows}
    plain = next(r for r in rows if r["track_id"].startswith("in_place")
                 and labels[r["track_id"]]["source"]["title"] == "It's A Plane Shame")
    mixed = by_id[plain["track_id"].replace("in_place", "mixed_up")]
    assert mixed["artist"] is None and mixed["album"] is None and mixed["duration_s"] is None
    assert mixed["title"].startswith("Peter Frampton It's A Plane Shame Frampton Comes Alive!")
    assert " 4:04 " in mixed["title"]  # 244 s


def test_same_master_evaluation_meets_the_precision_target(sample_ws, tmp_path):
    report = realworld.run(sample_ws, out_dir=tmp_path / "eval", config=MatchConfig())
    for variant in realworld.VARIANTS:
        assert report.figures[f"{variant}_precision"] >= 0.98
        assert report.figures[f"{variant}_recall"] > 0.9
    assert (tmp_path / "eval" / "eval.json").exists()
