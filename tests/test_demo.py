"""The end-to-end demo on bundled data, run for real through the CLI, plus its synthetic audio."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.demo.audio import artist_group, synthesize
from discogs_tools.demo.run import probe_summary


def test_synthetic_audio_is_deterministic_and_carries_artist():
    a = synthesize(artist_id=7, label_id=3, track_seed=1, duration_s=3.0)
    assert np.array_equal(a, synthesize(artist_id=7, label_id=3, track_seed=1, duration_s=3.0))
    assert a.dtype == np.float32 and 0.3 < np.max(np.abs(a)) <= 1.0 and len(a) == 48000
    assert not np.array_equal(a, synthesize(artist_id=8, label_id=3, track_seed=1, duration_s=3.0))
    groups = {artist_group(i) for i in range(200)}
    assert groups == {0, 1, 2, 3}


@pytest.mark.slow
def test_demo_runs_end_to_end_and_the_artist_model_beats_random_weights(tmp_path):
    ws = tmp_path / "ws"
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "Demo finished" in result.output
    # On similarity triplets of held-out artists the trained model must beat its random-weight twin.
    scores = {(name, metric): mean for name, metric, mean, _std in
              probe_summary(ws / "runs/demo-artist/probe/artist_triplets.json")}
    assert {name for name, _ in scores} == {"demo-artist", "random-init"}
    for metric in ("triplet_accuracy", "frozen_triplet_accuracy"):
        assert scores["demo-artist", metric] > scores["random-init", metric], scores
    assert scores["demo-artist", "frozen_triplet_accuracy"] > scores["random-init", "frozen_triplet_accuracy"] + 0.05
    assert (ws / "runs/demo-artist/probe/artist_group.json").exists()
    # Every stage recorded what it did, and the pairs respect their rules.
    stages = json.loads((ws / "manifest.json").read_text())["stages"]
    assert {"ingest discogs releases", "ingest collection", "ingest playlists", "match discogs", "match playlists",
            "build-dataset demo", "features demo", "train demo-artist", "probe demo-artist/artist_group",
            "probe demo-artist/artist_triplets"} <= set(stages)
    check = runner.invoke(app, ["validate-pairs", "--association", "artist", "--dataset", "demo",
                                "--workspace", str(ws)])
    assert check.exit_code == 0, check.output
    # A second run finds everything up to date and reruns nothing.
    again = runner.invoke(app, ["demo", "--workspace", str(ws)])
    assert again.exit_code == 0, again.output
    assert again.output.count("up to date, skipped") >= 20
