"""MTG-Jamendo split-0 from the real official split files (shared/data/benchmarks, SOURCES.md).

Counts are those of the files; each is compared with the figure the seeds print:
seed 004 sec. 4.3.3 Table 4.2 and sec. 6.3.3 Table 6.1 (tracks, classes, labels per track),
seed 004 sec. 3.3.7 (11,356 test tracks of split-0, the top-50 test file).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discogs_tools.benchmarks import get
from discogs_tools.benchmarks.prepare import prepare
from discogs_tools.cli import app
from discogs_tools.errors import InputError
from discogs_tools.probe.datasets import BadRecords, DatasetOptions, load_dataset

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks" / "mtg-jamendo" / "split-0"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="real MTG-Jamendo split files not present")

# name -> (train, validation, test, tags, labels per track), counted from the official files.
COUNTS = {
    "mtg-jamendo-genre": (32_572, 11_043, 11_479, 87, 2.44),
    "mtg-jamendo-instrument": (14_395, 5_466, 5_115, 40, 2.57),
    "mtg-jamendo-moodtheme": (9_949, 3_802, 4_231, 56, 1.77),
    "mtg-jamendo-top50": (32_136, 10_888, 11_356, 50, 3.07),
}
# seed 004 Table 4.2 / Table 6.1: tracks per subset. The split-0 files of the genre, instrument
# and mood/theme subsets hold fewer tracks than the subsets the tables describe (the tables give
# the whole subset, split-0 leaves some tracks out); top-50 matches exactly.
SEED_TRACKS = {"mtg-jamendo-genre": 55_215, "mtg-jamendo-instrument": 25_135,
               "mtg-jamendo-moodtheme": 18_486, "mtg-jamendo-top50": 54_380}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", list(COUNTS))
def test_real_split_files_parse_with_exact_counts(name: str, tmp_path: Path) -> None:
    train, validation, test, tags, per_track = COUNTS[name]
    report = prepare(name, REAL, output=tmp_path / f"{name}.csv")
    assert report.counts["tracks_train"] == train
    assert report.counts["tracks_validation"] == validation
    assert report.counts["tracks_test"] == test
    assert report.counts["classes"] == tags == get(name).seed["classes"]
    rows = _rows(tmp_path / f"{name}.csv")
    assert len(rows) == train + validation + test
    assert round(sum(len(r["labels"].split(",")) for r in rows) / len(rows), 2) == per_track \
        == get(name).seed["labels_per_track"]
    info = json.loads((tmp_path / f"{name}.json").read_text())
    assert len(info["vocabulary"]) == tags
    # The official vocabulary, no differences to report.
    assert not any("vocabulary" in w or "absent" in w for w in report.warnings)
    # The seed's table figure is shown next to the count of the files when they differ.
    total = train + validation + test
    assert (total == SEED_TRACKS[name]) == (name == "mtg-jamendo-top50")
    if total != SEED_TRACKS[name]:
        assert any(f"{SEED_TRACKS[name]:,}" in w and f"{total:,}" in w for w in report.warnings)


def test_top50_test_split_matches_seed_external_validation_size(tmp_path: Path) -> None:
    # seed 004 sec. 3.3.7: "the split-0 test subset ... containing 11,356 tracks".
    report = prepare("mtg-jamendo-top50", REAL, output=tmp_path / "t.csv")
    assert report.counts["tracks_test"] == 11_356


def test_manifest_is_read_unchanged_by_probe(tmp_path: Path) -> None:
    out = tmp_path / "genre.csv"
    prepare("mtg-jamendo-genre", REAL, output=out)
    dataset = load_dataset(out, DatasetOptions(), BadRecords(out))
    assert dataset.kind == "multilabel" and dataset.fixed_split
    assert dataset.split_sizes() == {"train": 32_572, "validation": 11_043, "test": 11_479}
    first = dataset.columns["track_id"].index("track_0000241")
    assert dataset.columns["labels"][first] == ["genre---rock"]


def _copy_slice(dest: Path, subset: str = "genre", rows: int = 20) -> Path:
    """The first ``rows`` tracks of each real split file of a subset."""
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        name = f"autotagging_{subset}-{split}.tsv"
        lines = (REAL / name).read_text().splitlines(keepends=True)
        (dest / name).write_text("".join(lines[: rows + 1]))
    return dest


def test_vocabulary_difference_is_reported_not_remapped(tmp_path: Path) -> None:
    root = _copy_slice(tmp_path / "root")
    path = root / "autotagging_genre-train.tsv"
    path.write_text(path.read_text().replace("genre---rock", "genre---rocks", 1))
    report = prepare("mtg-jamendo-genre", root, output=tmp_path / "g.csv")
    assert any("not in the official vocabulary" in w and "genre---rocks" in w for w in report.warnings)
    assert any("official tag(s) absent" in w for w in report.warnings)
    labels = {lab for r in _rows(tmp_path / "g.csv") for lab in r["labels"].split(",")}
    assert "genre---rocks" in labels  # kept as written


def test_root_without_the_files_names_them_and_the_publisher(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["benchmark", "prepare", "mtg-jamendo-instrument", "--root", str(tmp_path)])
    assert out.exit_code == 2
    line = out.output.strip().splitlines()[-1]
    assert "autotagging_instrument-train.tsv" in line and "autotagging_instrument-test.tsv" in line
    assert "github.com/MTG/mtg-jamendo-dataset" in line
    assert "Traceback" not in out.output


def test_unknown_benchmark_is_one_line(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["benchmark", "prepare", "mtg-jamendo-genres", "--root", str(tmp_path)])
    assert out.exit_code == 2 and "unknown benchmark 'mtg-jamendo-genres'" in out.output


def _audio(root: Path, rel: str, data: bytes = b"ID3\x03\x00fake mp3 bytes") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_missing_and_empty_audio_are_listed_and_fatal_only_above_threshold(tmp_path: Path) -> None:
    root = _copy_slice(tmp_path / "root")
    audio = tmp_path / "audio"
    rows = []
    for split in ("train", "validation", "test"):
        rows += [line.split("\t") for line in (root / f"autotagging_genre-{split}.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 60
    missing, empty = rows[3][0], rows[40][0]
    for r in rows:
        if r[0] == missing:
            continue
        _audio(audio, r[3], b"" if r[0] == empty else b"ID3\x03\x00fake mp3 bytes")
    out = tmp_path / "g.csv"
    # 2 of 60 = 3.3 %: above the default 1 %.
    with pytest.raises(InputError, match=r"2 of 60 tracks \(3.3%\).*max-missing-fraction 0.01") as exc:
        prepare("mtg-jamendo-genre", root, output=out, audio_root=audio)
    assert "no manifest written" in str(exc.value)
    assert not out.exists()
    rejects = [json.loads(line) for line in (tmp_path / "g.rejects.jsonl").read_text().splitlines()]
    assert {r["record"]: r["reason"] for r in rejects} == {missing: "audio file missing",
                                                           empty: "audio file is empty (0 bytes)"}
    report = prepare("mtg-jamendo-genre", root, output=out, audio_root=audio, max_missing_fraction=0.05)
    assert report.counts["audio_missing"] == 2 and report.counts["tracks"] == 58
    written = _rows(out)
    assert {r["track_id"] for r in written} == {r[0] for r in rows} - {missing, empty}
    assert all(Path(r["path"]).is_absolute() and Path(r["path"]).is_file() for r in written)
    # Everything present: no rejects file left from the previous run.
    _audio(audio, rows[3][3])
    _audio(audio, rows[40][3])
    report = prepare("mtg-jamendo-genre", root, output=out, audio_root=audio)
    assert report.counts["tracks"] == 60 and not (tmp_path / "g.rejects.jsonl").exists()


def test_manifest_feeds_ingest_collection_and_probe_by_track_id(tmp_path: Path, ws) -> None:
    root = _copy_slice(tmp_path / "root", subset="moodtheme", rows=5)
    audio = tmp_path / "audio"
    for split in ("train", "validation", "test"):
        for line in (root / f"autotagging_moodtheme-{split}.tsv").read_text().splitlines()[1:]:
            _audio(audio, line.split("\t")[3])
    out = tmp_path / "mood.csv"
    prepare("mtg-jamendo-moodtheme", root, output=out, audio_root=audio)
    from discogs_tools.collection import ingest
    from discogs_tools.io import read_table

    report = ingest.run(out, ws)
    assert report.counts["tracks"] == 15 and report.counts["rejected"] == 0
    tracks = read_table(ws.table("collection/tracks")).to_pylist()
    manifest = _rows(out)
    assert sorted(t["track_id"] for t in tracks) == sorted(r["track_id"] for r in manifest)
    assert {t["path"] for t in tracks} == {r["path"] for r in manifest}


def test_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first command of docs/benchmarks.md runs as written (real split files)."""
    import shlex

    doc = (Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text()
    command = next(line for line in doc.splitlines() if line.startswith("discogs-tools benchmark prepare"))
    monkeypatch.chdir(tmp_path)
    args = shlex.split(command.replace("../shared", str(REAL.parents[3])))[1:]
    out = CliRunner().invoke(app, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "tracks: 55,094" in out.output
    assert (tmp_path / "tasks" / "mtg-jamendo-genre.csv").is_file()
