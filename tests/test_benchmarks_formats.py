"""MagnaTagATune, FMA-small and GTZAN from small fixtures in their official file formats.

No real files of these benchmarks are in the project: the fixtures follow the formats as
published (checked against public loaders, see docs/benchmarks.md), with made-up rows.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discogs_tools.benchmarks.mtat import OFFICIAL_TOP50
from discogs_tools.benchmarks.prepare import prepare
from discogs_tools.cli import app
from discogs_tools.errors import InputError, RejectsWriter
from discogs_tools.probe.datasets import BadRecords, DatasetOptions, load_dataset


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- MagnaTagATune

OTHER_TAGS = ["tribal", "baroque", "irish"]  # stand-ins for the other 138 tag columns


def _mtat(root: Path, clips: list[tuple[int, str, list[str]]]) -> Path:
    """annotations_final.csv: TAB-separated, every field double-quoted, clip_id .. mp3_path."""
    tags = list(OFFICIAL_TOP50[::-1]) + OTHER_TAGS  # column order is not frequency order
    lines = ["\t".join(f'"{c}"' for c in ["clip_id", *tags, "mp3_path"])]
    for clip_id, mp3, on in clips:
        lines.append("\t".join(f'"{v}"' for v in [clip_id, *("1" if t in on else "0" for t in tags), mp3]))
    root.mkdir(parents=True, exist_ok=True)
    (root / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    return root


def _mtat_clips(extra: dict[int, list[str]] | None = None) -> list[tuple[int, str, list[str]]]:
    # Tag k of the official list occurs on 60 - k clips: the frequency order is the official one.
    clips = []
    folders = "0123456789abcdef"
    for i in range(64):
        on = [t for k, t in enumerate(OFFICIAL_TOP50) if i < 60 - k]
        clips.append((i * 3 + 2, f"{folders[i % 16]}/artist_{i}-album-{i:02d}-song-30-59.mp3", on))
    clips.append((999, "d/nobody-silence-01-untagged-0-29.mp3", ["tribal"]))
    for clip_id, on in (extra or {}).items():
        clips.append((clip_id, f"0/x-y-{clip_id}-0-29.mp3", on))
    return clips


def test_mtat_top50_and_12_1_3_split_by_folder(tmp_path: Path) -> None:
    root = _mtat(tmp_path / "mtat", _mtat_clips())
    report = prepare("mtat", root, output=tmp_path / "mtat.csv")
    rows = _rows(tmp_path / "mtat.csv")
    assert len(rows) == 65
    by_folder = {r["track_id"]: r for r in rows}
    # folders 0-b train (12 of 16), c validation, d-f test: 64 clips -> 48 / 4 / 12, plus one more in d.
    assert (report.counts["tracks_train"], report.counts["tracks_validation"], report.counts["tracks_test"]) \
        == (48, 4, 13)
    assert by_folder["mtat-2"]["split"] == "train" and by_folder["mtat-2"]["path"].startswith("0/")
    assert all(r["split"] == "validation" for r in rows if r["path"].startswith("c/"))
    info = json.loads((tmp_path / "mtat.json").read_text())
    assert info["vocabulary"] == list(OFFICIAL_TOP50)
    labels = {lab for r in rows for lab in r["labels"].split(",") if lab}
    assert labels <= set(OFFICIAL_TOP50) and "tribal" not in labels
    # The clip without a top-50 tag is kept with an empty label set (seed 004 counts 25,860 clips).
    assert by_folder["mtat-999"]["labels"] == ""
    assert any("5 clip(s) have no top-50 tag" in w for w in report.warnings)  # clips 60-63 and 999
    assert not any("official vocabulary" in w for w in report.warnings)
    # probe reads the manifest with --allow-empty-labels: the untagged clips are kept as
    # negatives for every tag (docs/benchmarks.md).
    manifest = tmp_path / "mtat.csv"
    with RejectsWriter(tmp_path / "probe-rejects.jsonl") as rejects:
        bad = BadRecords(manifest, rejects)
        dataset = load_dataset(manifest, DatasetOptions(allow_empty_labels=True), bad)
    assert len(dataset) == 65 and bad.count == 0 and dataset.fixed_split
    assert sum(1 for labels in dataset.columns["labels"] if labels == []) == 5


def test_mtat_top50_that_differs_from_the_literature_is_reported(tmp_path: Path) -> None:
    # "irish" on 70 clips: more frequent than any official tag, so it enters the top 50.
    root = _mtat(tmp_path / "mtat", _mtat_clips({1000 + i: ["irish"] for i in range(70)}))
    report = prepare("mtat", root, output=tmp_path / "mtat.csv")
    assert any("not in the official vocabulary" in w and "irish" in w for w in report.warnings)
    assert any("official tag(s) absent" in w for w in report.warnings)
    assert json.loads((tmp_path / "mtat.json").read_text())["vocabulary"][0] == "irish"


def test_mtat_rejects_a_comma_separated_file(tmp_path: Path) -> None:
    root = tmp_path / "mtat"
    root.mkdir()
    (root / "annotations_final.csv").write_text("clip_id,guitar,mp3_path\n2,1,f/a-b-c.mp3\n")
    with pytest.raises(InputError, match="TAB-separated"):
        prepare("mtat", root, output=tmp_path / "m.csv")


# --------------------------------------------------------------------------- FMA-small


def _fma(root: Path, tracks: list[tuple[int, str, str, str, str]]) -> Path:
    """tracks.csv: two header rows (top level, second level), then the ``track_id,,,`` row."""
    columns = [("album", "title"), ("artist", "name"), ("set", "split"), ("set", "subset"),
               ("track", "genre_top"), ("track", "genres"), ("track", "title")]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "tracks.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", *(a for a, _ in columns)])
        w.writerow(["", *(b for _, b in columns)])
        w.writerow(["track_id", *([""] * len(columns))])
        for tid, split, subset, genre, title in tracks:
            w.writerow([tid, "An album, with a comma", "Artist", split, subset, genre, "[21]", title])
    return root


GENRES8 = ["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock"]


def _fma_tracks() -> list[tuple[int, str, str, str, str]]:
    tracks = []
    for i in range(40):
        split = "training" if i % 5 < 3 else "validation" if i % 5 == 3 else "test"
        tracks.append((2 + i, split, "small", GENRES8[i % 8], f"Song {i}\nsecond line"))
    tracks.append((99_001, "training", "medium", "Blues", "not small"))
    tracks.append((99_002, "test", "large", "", "not small"))
    return tracks


def test_fma_small_subset_genre_top_and_split(tmp_path: Path) -> None:
    root = _fma(tmp_path / "fma_metadata", _fma_tracks())
    report = prepare("fma-small", root, output=tmp_path / "fma.csv")
    rows = _rows(tmp_path / "fma.csv")
    assert len(rows) == 40 and report.counts["classes"] == 8
    assert (report.counts["tracks_train"], report.counts["tracks_validation"], report.counts["tracks_test"]) \
        == (24, 8, 8)
    first = rows[0]
    assert first["track_id"] == "fma-000002" and first["path"] == "000/000002.mp3" and first["label"] == "Electronic"
    assert first["title"] == "Song 0\nsecond line"
    manifest = tmp_path / "fma.csv"
    dataset = load_dataset(manifest, DatasetOptions(), BadRecords(manifest))
    assert dataset.kind == "multiclass" and len(dataset) == 40
    assert any("fma_small.zip not present" in w for w in report.warnings)


def test_fma_checksums_are_verified_when_the_archives_are_there(tmp_path: Path) -> None:
    root = _fma(tmp_path / "fma", _fma_tracks())
    (root / "fma_small.zip").write_bytes(b"not the real archive")
    with pytest.raises(InputError, match=r"fma_small.zip.*sha1 .* differs from the published "
                                         r"ade154f733639d52e35e32f5593efe5be76c6d70"):
        prepare("fma-small", root, output=tmp_path / "fma.csv")


def test_fma_rejects_a_single_header_csv(tmp_path: Path) -> None:
    root = tmp_path / "fma"
    root.mkdir()
    (root / "tracks.csv").write_text("track_id,subset,split,genre_top\n2,small,training,Hip-Hop\n")
    with pytest.raises(InputError, match="two-row header"):
        prepare("fma-small", root, output=tmp_path / "f.csv")


# --------------------------------------------------------------------------- GTZAN

GENRES10 = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
SPLITS = {"train": [30, 31, 131, 250, 999], "valid": [1, 2, 401], "test": [101, 600, 1000]}


def test_gtzan_index_lists_and_path_lists_give_the_same_task(tmp_path: Path) -> None:
    index_root, path_root = tmp_path / "dnn-mgr", tmp_path / "GTZAN_split"
    index_root.mkdir()
    path_root.mkdir()
    for split, indices in SPLITS.items():
        # coreyker/dnn-mgr: right-aligned 1-based indices; jongpillee: genre/genre.NNNNN.wav
        (index_root / f"{split}_filtered.txt").write_text("".join(f"{i:>12}\n" for i in indices))
        (path_root / f"{split}_filtered.txt").write_text("".join(
            f"{GENRES10[(i - 1) // 100]}/{GENRES10[(i - 1) // 100]}.{(i - 1) % 100:05d}.wav\n" for i in indices))
    prepare("gtzan", index_root, output=tmp_path / "a.csv")
    prepare("gtzan", path_root, output=tmp_path / "b.csv")
    a, b = _rows(tmp_path / "a.csv"), _rows(tmp_path / "b.csv")
    assert a == b and len(a) == 11
    first = a[0]
    assert (first["track_id"], first["path"], first["label"], first["split"]) == \
        ("gtzan-blues.00029", "blues/blues.00029.wav", "blues", "train")
    last = a[-1]
    assert (last["path"], last["label"], last["split"]) == ("rock/rock.00099.wav", "rock", "test")


def test_gtzan_bad_line_and_missing_list(tmp_path: Path) -> None:
    root = tmp_path / "g"
    root.mkdir()
    for n, split in enumerate(SPLITS):
        (root / f"{split}_filtered.txt").write_text(f"blues/blues.0000{n}.wav\n")
    with pytest.raises(InputError, match="valid_filtered.txt: line 1: record gtzan-blues.00000: excerpt listed again"):
        (root / "valid_filtered.txt").write_text("1\n")
        prepare("gtzan", root, output=tmp_path / "g.csv")
    (root / "valid_filtered.txt").write_text("2\n")
    (root / "test_filtered.txt").write_text("1001\n")
    with pytest.raises(InputError, match="index 1001 outside 1..1000"):
        prepare("gtzan", root, output=tmp_path / "g.csv")
    (root / "valid_filtered.txt").unlink()
    out = CliRunner().invoke(app, ["benchmark", "prepare", "gtzan", "--root", str(root)])
    assert out.exit_code == 2 and "missing valid_filtered.txt" in out.output and "coreyker/dnn-mgr" in out.output


# --------------------------------------------------------------------------- MSD (Lee et al.) and CALS


def _msd_lee(root: Path, n_train: int, n_valid: int, n_test: int) -> list[str]:
    """MSD_split as distributed: pickles (protocol 2, as Python 2's cPickle writes) + 50tagList.txt."""
    import pickle

    import numpy as np

    from discogs_tools.benchmarks import msd

    root.mkdir(parents=True, exist_ok=True)
    ids = [f"TR{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}ZZZ128F4{i:05d}" for i in range(n_train + n_valid + n_test)]
    vectors = {t: np.array([[1 if (i + j) % 7 == 0 else 0] for j in range(50)], dtype=np.int64)
               for i, t in enumerate(ids)}
    dump = {"filtered_list_train.cP": ids[: n_train + n_valid], "filtered_list_test.cP": ids[n_train + n_valid:],
            "msd_id_to_tag_vector.cP": vectors,
            "MSD_id_to_7D_id.pkl": {t: 8_000_000 + i for i, t in enumerate(ids)},
            "7D_id_to_path.pkl": {8_000_000 + i: f"{i % 10}/{i // 10 % 10}/{8_000_000 + i}.clip.mp3"
                                  for i in range(len(ids))}}
    for name, obj in dump.items():
        (root / name).write_bytes(pickle.dumps(obj, protocol=2))
    (root / "50tagList.txt").write_text("".join(t + "\n" for t in msd.LEE_TAGS))
    return ids


def test_msd_lee_split_first_201680_train_rest_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from discogs_tools.benchmarks import msd

    monkeypatch.setattr(msd, "LEE_TRAIN", 6)  # the real list holds 201,680 train ids, then 11,774 validation
    ids = _msd_lee(tmp_path / "MSD_split", 6, 2, 3)
    report = prepare("msd", tmp_path / "MSD_split", output=tmp_path / "msd.csv")
    rows = _rows(tmp_path / "msd.csv")
    assert [r["split"] for r in rows] == ["train"] * 6 + ["validation"] * 2 + ["test"] * 3
    assert [r["track_id"] for r in rows] == ids
    assert rows[0]["path"] == "0/0/8000000.clip.mp3"
    assert rows[0]["labels"].split(",") == [msd.LEE_TAGS[j] for j in range(50) if j % 7 == 0]
    assert any("241,889" in w for w in report.warnings)  # the seed's size is shown next to the 11 read


def test_msd_pickles_that_would_run_code_are_refused(tmp_path: Path) -> None:
    import pickle

    _msd_lee(tmp_path / "m", 1, 1, 1)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "m" / "filtered_list_test.cP").write_bytes(pickle.dumps([Evil()], protocol=2))
    with pytest.raises(InputError, match=r"refusing to load (__builtin__|builtins).print"):
        prepare("msd", tmp_path / "m", output=tmp_path / "m.csv")


def test_msd_cals_npy_splits(tmp_path: Path) -> None:
    import numpy as np

    from discogs_tools.benchmarks.msd import CALS_TAGS

    root = tmp_path / "splits"
    root.mkdir()
    sizes = {"train": 5, "valid": 2, "test": 3}
    for n, (split, size) in enumerate(sizes.items()):
        ids = np.array([f"TRAB{chr(67 + n)}DE128F{n}{i:05d}" for i in range(size)])
        binaries = np.zeros((size, 50), dtype=np.int64)
        binaries[:, n] = 1
        binaries[0, 49] = 1
        np.save(root / f"{split}_ids.npy", ids)
        np.save(root / f"{split}_binaries.npy", binaries)
    # object arrays (as np.save writes lists of Python strings) load through the restricted unpickler
    np.save(root / "test_ids.npy", np.array([f"TRABEDE128F2{i:05d}" for i in range(3)], dtype=object),
            allow_pickle=True)
    prepare("msd-cals", root, output=tmp_path / "cals.csv")
    rows = _rows(tmp_path / "cals.csv")
    assert [r["split"] for r in rows] == ["train"] * 5 + ["validation"] * 2 + ["test"] * 3
    assert rows[0]["path"] == "A/B/C/TRABCDE128F000000.wav"
    assert rows[0]["labels"] == f"{CALS_TAGS[0]},{CALS_TAGS[49]}" and rows[8]["labels"] == CALS_TAGS[2]
    np.save(root / "valid_binaries.npy", np.zeros((2, 49)))
    with pytest.raises(InputError, match=r"shape \(2, 49\), expected \(2, 50\)"):
        prepare("msd-cals", root, output=tmp_path / "cals.csv")


def _clean_lists(root: Path, lists: dict[str, list[str]], binary, tags) -> Path:
    """Won et al.'s split/mtat files: unicode arrays of "<row>\\t<mp3_path>", binary.npy, tags.npy."""
    import numpy as np

    for name, entries in lists.items():
        np.save(root / name, np.array(entries))
    np.save(root / "binary.npy", np.array(binary, dtype=np.int64))
    np.save(root / "tags.npy", np.array(tags))
    return root


def test_mtat_clean_reads_the_published_clip_lists(tmp_path: Path) -> None:
    clips = _mtat_clips()
    root = _mtat(tmp_path / "mtat", clips)
    tags = list(OFFICIAL_TOP50)
    paths = [mp3 for _, mp3, _ in clips]
    binary = [[1 if t in on else 0 for t in tags] for _, _, on in clips]
    # the lists pick clips regardless of their folder: clip 0 (folder 0) is a test clip here
    _clean_lists(root, {"train.npy": [f"{i}\t{paths[i]}" for i in range(1, 40)],
                        "valid.npy": [f"{i}\t{paths[i]}" for i in range(40, 45)],
                        "test.npy": [f"0\t{paths[0]}"] + [f"{i}\t{paths[i]}" for i in range(45, 55)]},
                 binary, tags)
    report = prepare("mtat-clean", root, output=tmp_path / "clean.csv")
    rows = {r["track_id"]: r for r in _rows(tmp_path / "clean.csv")}
    assert len(rows) == 55 and (report.counts["tracks_train"], report.counts["tracks_validation"],
                                report.counts["tracks_test"]) == (39, 5, 11)
    assert rows["mtat-2"]["split"] == "test" and rows["mtat-2"]["path"] == paths[0]
    assert rows["mtat-2"]["labels"].split(",") == [t for t in tags if t in clips[0][2]]
    assert "mtat-999" not in rows                                    # not listed: not in the clean split
    assert not any("official vocabulary" in w for w in report.warnings)
    (root / "valid.npy").unlink()
    with pytest.raises(InputError, match="valid.npy"):
        prepare("mtat-clean", root, output=tmp_path / "clean2.csv")
    _clean_lists(root, {"valid.npy": ["40 " + paths[40]]}, binary, tags)
    with pytest.raises(InputError, match="is not '<row of binary.npy>"):
        prepare("mtat-clean", root, output=tmp_path / "clean3.csv")
