"""The manifest writer of `benchmark prepare` for triplet benchmarks (a stand-in benchmark whose
audio is partly missing), option checks, and dim-sim from a fixture in its file format."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from discogs_tools.benchmarks import registry
from discogs_tools.benchmarks.common import TRIPLETS, Loaded, Triplet
from discogs_tools.benchmarks.prepare import prepare
from discogs_tools.errors import ConfigError, InputError
from discogs_tools.probe.datasets import BadRecords, DatasetOptions, load_dataset


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def triplet_benchmark(monkeypatch: pytest.MonkeyPatch) -> str:
    def load(root: Path) -> Loaded:
        triplets = [Triplet("a", "b", "c", "test"), Triplet("a", "d", "c", "test"), Triplet("e", "b", "d", "test")]
        return Loaded(kind=TRIPLETS, triplets=triplets, paths={t: f"x/{t}.mp3" for t in "abcde"})

    bench = registry.Benchmark(name="stand-in-triplets", kind=TRIPLETS, needs=(), published="nowhere", load=load,
                               description="stand-in", audio="x/", seed={"tracks": 3, "unit": "triplets",
                                                                         "where": "none"})
    monkeypatch.setitem(registry.BENCHMARKS, bench.name, bench)
    return bench.name


def test_triplet_manifest_and_tracks_file(tmp_path: Path, triplet_benchmark: str) -> None:
    audio = tmp_path / "audio"
    for t in "abce":
        (audio / "x").mkdir(parents=True, exist_ok=True)
        (audio / "x" / f"{t}.mp3").write_bytes(b"ID3 data")
    out = tmp_path / "sim.csv"
    report = prepare(triplet_benchmark, tmp_path, output=out, audio_root=audio, max_missing_fraction=0.5)
    # d is missing: both triplets with d are dropped, the tracks file lists the tracks used.
    assert report.counts["audio_missing"] == 1 and report.counts["triplets"] == 1
    assert report.counts["triplets_dropped"] == 2
    assert _rows(out) == [{"anchor": "a", "positive": "b", "negative": "c", "split": "test"}]
    tracks = _rows(tmp_path / "sim.tracks.csv")
    assert [t["track_id"] for t in tracks] == ["a", "b", "c"]
    assert all(Path(t["path"]).is_file() for t in tracks)
    dataset = load_dataset(out, DatasetOptions(), BadRecords(out))
    assert dataset.kind == "triplets" and len(dataset) == 1


def test_options_are_checked(tmp_path: Path, triplet_benchmark: str) -> None:
    with pytest.raises(ConfigError, match="max-missing-fraction"):
        prepare(triplet_benchmark, tmp_path, output=tmp_path / "o.csv", max_missing_fraction=1.5)
    with pytest.raises(ConfigError, match="give a .csv file name"):
        prepare(triplet_benchmark, tmp_path, output=tmp_path / "o.parquet")
    with pytest.raises(InputError, match="--audio-root is not a folder"):
        prepare(triplet_benchmark, tmp_path, output=tmp_path / "o.csv", audio_root=tmp_path / "nope")


def _dimsim(root: Path, rows: list[tuple[str, str, str, str, str, str, str]]) -> Path:
    """clean-dim-sim.csv: comma-separated with a header, one triplet of 3-s clips a row."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "clean-dim-sim.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["triplet_id", "anchor_id", "anchor_start_seconds", "song1_id", "song1_start_seconds",
                    "song2_id", "song2_start_seconds", "song1_vote", "agreement"])
        for n, row in enumerate(rows):
            w.writerow([n, *row, "1.0"])
    return root


def test_dim_sim_votes_pick_the_positive_and_every_triplet_is_test(tmp_path: Path) -> None:
    root = _dimsim(tmp_path / "dim-sim", [
        ("TRAAA", "12.0", "TRBBB", "30.5", "TRCCC", "3.0", "1"),
        ("TRAAA", "40.0", "TRBBB", "30.5", "TRDDD", "0.0", "0"),
    ])
    report = prepare("dim-sim", root, output=tmp_path / "sim.csv")
    assert _rows(tmp_path / "sim.csv") == [
        {"anchor": "TRAAA@12.0", "positive": "TRBBB@30.5", "negative": "TRCCC@3.0", "split": "test"},
        {"anchor": "TRAAA@40.0", "positive": "TRDDD@0.0", "negative": "TRBBB@30.5", "split": "test"},
    ]
    tracks = {t["track_id"]: t["path"] for t in _rows(tmp_path / "sim.tracks.csv")}
    assert tracks == {"TRAAA@12.0": "TRAAA.mp3", "TRAAA@40.0": "TRAAA.mp3", "TRBBB@30.5": "TRBBB.mp3",
                      "TRCCC@3.0": "TRCCC.mp3", "TRDDD@0.0": "TRDDD.mp3"}
    assert report.counts["triplets_test"] == 2
    assert any("879" in w for w in report.warnings)  # seed 004 Table 5.2, shown next to the 2 read
    (root / "clean-dim-sim.csv").write_text("anchor_id,song1_id,song2_id\nA,B,C\n")
    with pytest.raises(InputError, match="missing column.*anchor_start_seconds"):
        prepare("dim-sim", root, output=tmp_path / "sim.csv")
