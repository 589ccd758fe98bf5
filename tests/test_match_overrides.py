"""User overrides: forced and forbidden links, applied again on reruns; unknown ids listed, not fatal."""

from __future__ import annotations

import json

import pytest

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.errors import InputError
from discogs_tools.io import read_table
from discogs_tools.match import stage
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"

TRACKS = """track_id,artist,title,album,duration_s
persuader,The Persuader,Östermalm,Stockholm,285
absent,Nobody Known,A Song Not In Any Sample,,200
"""

OVERRIDES = """track_id,ref_id,action
persuader,1,forbid
absent,1,force
ghost,1,force
persuader,999999999,force
"""


@pytest.fixture
def ws(tmp_path):
    ws = Workspace(tmp_path / "workspace").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    (tmp_path / "tracks.csv").write_text(TRACKS, encoding="utf-8")
    collection_ingest.run(tmp_path / "tracks.csv", ws)
    return ws


def _links(ws):
    return {(l["track_id"], l["release_id"]): l["method"] for l in read_table(ws.table("links/track_releases")).to_pylist()}


def test_overrides_force_forbid_and_survive_a_rerun(ws, tmp_path):
    stage.run(ws, "discogs")
    plain = _links(ws)
    assert ("persuader", 1) in plain and not any(t == "absent" for t, _ in plain)
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(OVERRIDES, encoding="utf-8")
    report = stage.run(ws, "discogs", overrides=overrides)
    links = _links(ws)
    assert ("persuader", 1) not in links
    assert links[("absent", 1)] == "override"
    # other releases of the Östermalm recording stay linked: only the named link is forbidden
    assert {k for k in plain if k[0] == "persuader"} - {("persuader", 1)} <= set(links)
    saved = json.loads((ws.tables / "match" / "discogs_report.json").read_text())["overrides"]
    assert saved["unknown_track_ids"] == ["ghost"] and saved["unknown_ref_ids"] == ["999999999"]
    assert saved["forced_linked"] >= 1 and saved["forbidden_removed"] == 1
    assert any("unknown" in w for w in report.warnings)
    # a rerun without the option applies the kept copy: the same links
    overrides.unlink()
    stage.run(ws, "discogs", rebuild_index=True)
    assert _links(ws) == links


def test_overrides_with_a_bad_action_name_the_line(ws, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("track_id,ref_id,action\npersuader,1,maybe\n", encoding="utf-8")
    with pytest.raises(InputError, match="action must be force or forbid"):
        stage.run(ws, "discogs", overrides=bad)
