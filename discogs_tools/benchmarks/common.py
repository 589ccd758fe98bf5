"""What every benchmark reader returns, and the checks shared by all of them.

A reader turns a benchmark's files, as distributed, into a :class:`Loaded`: labelled records
(track id, audio path relative to the benchmark's audio root, labels, split) or similarity
triplets, plus notes (vocabulary differences, dropped rows, checksums checked). The reader never
renames or remaps a tag: differences from the official vocabulary are reported in ``notes``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

MULTILABEL = "multilabel"
MULTICLASS = "multiclass"
TRIPLETS = "triplets"


@dataclass
class Record:
    """One labelled track of a benchmark. ``path`` is relative to the audio root as published
    (e.g. ``14/214.mp3``); ``labels`` holds one class for multi-class benchmarks."""

    track_id: str
    path: str
    labels: list[str]
    split: str
    artist: str | None = None
    title: str | None = None
    duration_s: float | None = None


@dataclass
class Triplet:
    """One similarity triplet (track ids) and its split."""

    anchor: str
    positive: str
    negative: str
    split: str


@dataclass
class Loaded:
    """A benchmark read from its files.

    ``paths`` maps every track id of triplet benchmarks to its audio path (labelled records carry
    their own). ``vocabulary`` is the class list the benchmark defines (official order);
    ``notes`` are facts for the report (vocabulary differences, rows dropped by the protocol,
    checksums verified); ``files`` the files read.
    """

    kind: str
    records: list[Record] = field(default_factory=list)
    triplets: list[Triplet] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def audio_items(self) -> list[tuple[str, str]]:
        """(track id, relative audio path) of every track, in record order, each once."""
        if self.kind == TRIPLETS:
            return sorted(self.paths.items())
        return [(r.track_id, r.path) for r in self.records]


class MissingBenchmarkFiles(InputError):
    """The root lacks files the benchmark needs; the message names them and where to get them."""


def require_files(root: Path, name: str, expected: Sequence[str], published: str) -> list[Path]:
    """The expected files under ``root``; a one-line error naming every missing one otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise MissingBenchmarkFiles(root, f"benchmark {name}: --root is not a folder; it should hold "
                                    f"{', '.join(expected)} (published at {published})")
    missing = [f for f in expected if not (root / f).is_file()]
    if missing:
        raise MissingBenchmarkFiles(root, f"benchmark {name}: missing {', '.join(missing)} "
                                    f"(expected {', '.join(expected)}; published at {published})")
    return [root / f for f in expected]


def vocabulary_notes(name: str, found: Iterable[str], official: Sequence[str]) -> list[str]:
    """Report tags that differ from the official vocabulary (never remapped)."""
    found_set, official_set = set(found), set(official)
    notes = []
    extra = sorted(found_set - official_set)
    absent = sorted(official_set - found_set)
    if extra:
        notes.append(f"{name}: {len(extra)} tag(s) not in the official vocabulary, kept as they are: "
                     f"{', '.join(extra[:20])}{' ...' if len(extra) > 20 else ''}")
    if absent:
        notes.append(f"{name}: {len(absent)} official tag(s) absent from these files: "
                     f"{', '.join(absent[:20])}{' ...' if len(absent) > 20 else ''}")
    return notes


def sha_of(path: Path, algorithm: str) -> str:
    """Hex digest of a file (read in 1 MiB blocks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksums(root: Path, published: dict[str, tuple[str, str]], name: str) -> list[str]:
    """Check the published digests of the files present under ``root``.

    ``published``: file name -> (algorithm, hex digest). A file that is absent is skipped (it is
    an archive the user may have unpacked and deleted) and said so; a mismatch is an error.
    """
    notes = []
    for file, (algorithm, digest) in published.items():
        path = root / file
        if not path.is_file():
            notes.append(f"{name}: {file} not present, its published {algorithm} not checked")
            continue
        actual = sha_of(path, algorithm)
        if actual != digest:
            raise InputError(path, f"benchmark {name}: {algorithm} {actual} differs from the published {digest}; "
                             "the download is corrupt or another version")
        notes.append(f"{name}: {file} {algorithm} matches the published digest")
    return notes


def audio_problem(path: Path) -> str | None:
    """Why an audio file cannot be used (missing, not a file, empty, unreadable), or None.

    Only existence and the first bytes are checked (decoding 50,000 tracks here would take
    longer than the benchmark's probe); ``features`` rejects files that do not decode.
    """
    try:
        if not path.exists():
            return "audio file missing"
        if not path.is_file():
            return "audio path is not a file"
        if path.stat().st_size == 0:
            return "audio file is empty (0 bytes)"
        with open(path, "rb") as fh:
            fh.read(16)
    except OSError as exc:
        return f"audio file unreadable ({exc.strerror or exc})"
    return None


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file (UTF-8, a BOM dropped)."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return [line.strip() for line in fh if line.strip()]
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason})") from None


Reader = Callable[[Path], Loaded]


def split_of(path: os.PathLike[str] | str) -> str:
    """The split named in an official file name (``...-train.tsv``, ``valid_filtered.txt`` ...)."""
    stem = Path(path).name.lower()
    for token, split in (("train", "train"), ("valid", "validation"), ("test", "test")):
        if token in stem:
            return split
    raise ValueError(f"no split in {path}")
