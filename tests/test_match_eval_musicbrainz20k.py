"""``match-eval --set musicbrainz-20k``: the Leipzig MusicBrainz 20K benchmark as a matching task.

Runs on the bundled 60-record extract (sample_data/musicbrainz20k/, see its SOURCES.md): 18 clusters
of records of one song, 12 with a record of source 5 (the reference), 6 without (negatives).
"""

from __future__ import annotations

import json

import pytest

from discogs_tools.errors import ConfigError
from discogs_tools.match import musicbrainz20k
from discogs_tools.workspace import Workspace

DARK_TRANQUILLITY = 3070  # TID of the source-5 record "Ex Nihilo" (cluster 1593)


@pytest.mark.parametrize(("source", "text", "seconds"), [
    ("1", "04:31", 271.0), ("4", "4m 31sec", 271.0), ("4", "4m  59sec", 299.0), ("3", "4.518", 271.0),
    ("2", "271", 271.0), ("5", "271093", 271.093), ("5", "6000", 6.0), ("2", "1854", 1854.0),
    ("1", "00:00", None), ("4", "unk.", None), ("2", "null", None), ("3", "", None), ("5", "26 6000", None),
])
def test_lengths_in_each_sources_format(source, text, seconds):
    assert musicbrainz20k.record_length({"SourceID": source, "length": text}) == seconds


def test_labels_follow_the_clusters(tmp_path):
    ev = Workspace(tmp_path / "ev").ensure()
    rows, labels, n_ref = musicbrainz20k.build(musicbrainz20k.fixture_path(), ev.table("discogs/releases"))
    assert n_ref == 12  # one source-5 record per cluster that has one
    by_tid = {lab["source"]["tid"]: lab for t, lab in labels.items() if lab["variant"] == "in_place"}
    assert len(by_tid) == 60 - 12
    assert by_tid[10142]["truth"] == {DARK_TRANQUILLITY} and by_tid[10142]["kind"] == "source4_NNN-title"
    assert by_tid[6736]["kind"] == "source2_artist_-_title"
    # cluster 2178 has no source-5 record: its rows are negatives
    negatives = [lab for lab in by_tid.values() if not lab["truth"]]
    assert negatives and all(lab["kind"] == "song_not_in_reference" for lab in negatives)
    row = {r["track_id"]: r for r in rows}
    assert row["in_place-010142"] == {"track_id": "in_place-010142", "artist": "Dark Tranquillity",
                                      "title": "012-Ex Nihilo", "album": "Damage Done (2002)", "duration_s": 271.0}
    mixed = row["mixed_up-010142"]
    assert mixed["artist"] is None and mixed["album"] is None and mixed["duration_s"] is None
    assert mixed["title"].startswith("Dark Tranquillity 012-Ex Nihilo Damage Done (2002) ")
    assert mixed["title"].endswith(" 4:31")  # the year was "null": left out


def test_evaluation_on_the_extract(tmp_path):
    ws = Workspace(tmp_path / "ws").ensure()
    report = musicbrainz20k.run(ws, out_dir=tmp_path / "eval")
    for variant in ("in_place", "mixed_up"):
        assert report.figures[f"{variant}_precision"] >= 0.98
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    missed = {e["track_id"] for e in result["in_place"]["errors"]}
    # "012-Ex Nihilo": the track number left in the title is not a word of it
    assert "in_place-010142" not in missed
    assert "mixed_up-010142" not in {e["track_id"] for e in result["mixed_up"]["errors"]}
    assert result["in_place"]["by_kind"]["song_not_in_reference"]["false_match_rate"] == 0.0


def test_a_file_of_another_layout_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "songs.csv"
    bad.write_text("id,title,artist\n1,Flower,Moby\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="songs.csv: not the MusicBrainz 20K layout"):
        musicbrainz20k.build(bad, Workspace(tmp_path / "ev").ensure().table("discogs/releases"))


def test_the_command_line_runs_a_seeded_sample_and_refuses_a_bad_limit(tmp_path):
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    runner = CliRunner()
    ws = tmp_path / "ws"
    out = tmp_path / "eval"
    result = runner.invoke(app, ["match-eval", "--set", "musicbrainz-20k", "--limit", "20", "-o", str(out),
                                 "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "in_place: precision" in result.output and "mixed_up: precision" in result.output
    data = json.loads((out / "eval.json").read_text())
    assert data["limit"] == 20 and data["in_place"]["rows"] == 20 and data["mixed_up"]["rows"] == 20
    result = runner.invoke(app, ["match-eval", "--set", "musicbrainz-20k", "--limit", "0", "-w", str(ws)])
    assert result.exit_code != 0 and "--limit must be at least 1" in result.output
    result = runner.invoke(app, ["match-eval", "--set", "musicbrainz-20", "-w", str(ws)])
    assert result.exit_code != 0 and "musicbrainz-20k" in result.output
