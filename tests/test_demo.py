"""The end-to-end demo on bundled data, run for real through the CLI, plus its synthetic audio."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.demo.audio import artist_group, synthesize
from discogs_tools.demo.run import probe_summary, probe_verdicts


def test_synthetic_audio_is_deterministic_and_carries_artist():
    a = synthesize(artist_id=7, label_id=3, track_seed=1, duration_s=3.0)
    assert np.array_equal(a, synthesize(artist_id=7, label_id=3, track_seed=1, duration_s=3.0))
    assert a.dtype == np.float32 and 0.3 < np.max(np.abs(a)) <= 1.0 and len(a) == 48000
    assert not np.array_equal(a, synthesize(artist_id=8, label_id=3, track_seed=1, duration_s=3.0))
    groups = {artist_group(i) for i in range(200)}
    assert groups == {0, 1, 2, 3}


def write_result(path, scores: dict[str, dict[str, tuple[float, float]]]) -> None:
    """A probe result file in the layout probe writes (only the fields the demo reads)."""
    path.write_text(json.dumps({"primary_metric": "accuracy", "models": [
        {"name": name, "summary": {metric: {"mean": mean, "std": std, "n": 3} for metric, (mean, std) in metrics.items()}}
        for name, metrics in scores.items()]}))


def test_verdict_lines_say_whether_the_trained_model_beats_its_twin_beyond_the_seed_spread(tmp_path):
    wins, within, loses = tmp_path / "wins.json", tmp_path / "within.json", tmp_path / "loses.json"
    write_result(wins, {"m": {"accuracy": (0.61, 0.02)}, "random-init": {"accuracy": (0.40, 0.03)}})
    write_result(within, {"m": {"accuracy": (0.42, 0.02)}, "random-init": {"accuracy": (0.40, 0.03)}})
    write_result(loses, {"m": {"accuracy": (0.373, 0.0)}, "random-init": {"accuracy": (0.4222, 0.0434)}})
    [v] = probe_verdicts(wins, "m")
    assert v.beats and abs(v.margin - 0.21) < 1e-9 and abs(v.spread - 0.05) < 1e-9
    assert v.line() == ("wins: trained model beats its random-weight twin: accuracy 0.6100 ± 0.0200 vs "
                        "0.4000 ± 0.0300 (margin +0.2100, seed spread 0.0500)")
    [v] = probe_verdicts(within, "m")
    assert not v.beats and "only within the seed spread" in v.line()
    [v] = probe_verdicts(loses, "m")
    assert not v.beats and "does NOT beat" in v.line() and "margin -0.0492" in v.line()


@pytest.mark.slow
def test_demo_runs_end_to_end_and_the_artist_model_beats_random_weights(demo_run):
    ws, output = demo_run
    runner = CliRunner()
    assert "Demo finished" in output
    assert "discogs-tools similar " in output and "discogs-tools serve -w " in output
    # On similarity triplets of held-out artists the trained model must beat its random-weight twin.
    scores = {(name, metric): mean for name, metric, mean, _std in
              probe_summary(ws / "runs/demo-artist/probe/artist_triplets.json")}
    assert {name for name, _ in scores} == {"demo-artist", "random-init"}
    # On every probe metric the trained model beats its random-weight twin by more than the seed
    # spread (the demo's data is designed so; seeds fixed in pipelines/demo.toml), and says so.
    verdicts = [v for task in ("artist_triplets", "artist_group")
                for v in probe_verdicts(ws / f"runs/demo-artist/probe/{task}.json", "demo-artist")]
    assert {(v.task, v.metric) for v in verdicts} == {
        ("artist_triplets", "triplet_accuracy"), ("artist_triplets", "frozen_triplet_accuracy"),
        ("artist_group", "accuracy")}
    for v in verdicts:
        assert v.beats, v.line()
        assert v.line() in output
    # Every stage recorded what it did, and the pairs respect their rules.
    stages = json.loads((ws / "manifest.json").read_text())["stages"]
    assert {"ingest discogs releases", "ingest collection", "ingest playlists", "match discogs", "match playlists",
            "build-dataset demo", "features demo", "train demo-artist", "probe demo-artist/artist_group",
            "probe demo-artist/artist_triplets", "embed demo-artist"} <= set(stages)
    check = runner.invoke(app, ["validate-pairs", "--association", "artist", "--dataset", "demo",
                                "--workspace", str(ws)])
    assert check.exit_code == 0, check.output
    # A second run finds everything up to date and reruns nothing.
    again = runner.invoke(app, ["demo", "--workspace", str(ws)])
    assert again.exit_code == 0, again.output
    assert again.output.count("up to date, skipped") >= 20


def test_the_demo_ends_with_a_similar_query_and_how_to_open_serve(ws):
    """The last lines name a real track of the collection as `artist - title`, quoted for the shell."""
    import shlex

    import pyarrow as pa
    import pyarrow.parquet as pq

    from discogs_tools.demo.run import _print_listen_hint

    folder = ws.table("collection/tracks")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"track_id": ["demo-b", "demo-a", "demo-c"], "artist": ["B", "Guns N' Roses", None],
                             "title": ["x", "Don't Cry", "y"]}), folder / "part-0.parquet")
    lines: list[str] = []
    _print_listen_hint(ws, {"run": "demo-artist", "dataset": "demo"}, lines.append)
    similar = next(line for line in lines if "discogs-tools similar" in line)
    argv = shlex.split(similar)
    assert argv[:3] == ["discogs-tools", "similar", "Guns N' Roses - Don't Cry"]   # the first track id
    assert argv[-2:] == ["-w", str(ws.root)]
    assert any(line.strip().startswith(f"discogs-tools serve -w {shlex.quote(str(ws.root))}") for line in lines)
