"""GTZAN fault-filtered split (``gtzan``): Kereliuk et al.'s artist-filtered lists after Sturm.

seed 004 sec. 3.3.8: "we additionally re-ran our evaluation using the data splits proposed by
Kereliuk et al. (2015)". Read from ``train_filtered.txt``, ``valid_filtered.txt`` and
``test_filtered.txt`` in either published form:

- ``coreyker/dnn-mgr``: one 1-based index per line (right-aligned numbers) into the 1,000 GTZAN
  excerpts in genre order (1-100 blues, 101-200 classical, ...);
- ``jongpillee/GTZAN_split``: one relative path per line, ``blues/blues.00029.wav``.

The class is the genre (the folder, or the index's hundred); the audio path is
``<genre>/<genre>.NNNNN.wav`` (the index form is written with ``.wav``, the extension of the
path form; the original marsyas archive holds ``.au`` files: pass that audio through a folder of
converted ``.wav`` files or use the path-form lists with your extension).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .common import (
    MULTICLASS,
    Loaded,
    Record,
    read_lines,
    require_files,
    vocabulary_notes,
)

PUBLISHED = ("https://github.com/coreyker/dnn-mgr (gtzan/*_filtered.txt) or https://github.com/jongpillee/GTZAN_split; "
             "audio: http://marsyas.info/downloads/datasets.html")
FILES = ("train_filtered.txt", "valid_filtered.txt", "test_filtered.txt")
SPLITS = ("train", "validation", "test")
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
_PATH = re.compile(r"^(?:.*/)?([a-z]+)/([a-z]+)\.(\d{5})\.(\w+)$")


def parse_line(line: str, path: Path, number: int) -> tuple[str, str]:
    """(genre, relative audio path) of one list line."""
    if line.isdigit():
        index = int(line)
        if not 1 <= index <= 1000:
            raise InputError(path, f"index {index} outside 1..1000", line=number)
        genre = GENRES[(index - 1) // 100]
        return genre, f"{genre}/{genre}.{(index - 1) % 100:05d}.wav"
    match = _PATH.match(line)
    if not match or match.group(1) != match.group(2):
        raise InputError(path, f"{line!r} is neither a 1-based index nor a genre/genre.NNNNN.ext path", line=number)
    genre, _, n, ext = match.groups()
    return genre, f"{genre}/{genre}.{n}.{ext}"


def load(root: Path, name: str = "gtzan") -> Loaded:
    files = require_files(root, name, FILES, PUBLISHED)
    records: list[Record] = []
    seen: dict[str, Path] = {}
    for path, split in zip(files, SPLITS):
        for number, line in enumerate(read_lines(path), start=1):
            genre, rel = parse_line(line, path, number)
            track_id = "gtzan-" + Path(rel).stem
            if track_id in seen:
                raise InputError(path, f"excerpt listed again (first in {seen[track_id].name})", line=number,
                                 record=track_id)
            seen[track_id] = path
            records.append(Record(track_id=track_id, path=rel, labels=[genre], split=split, title=Path(rel).stem))
    notes = vocabulary_notes(name, {r.labels[0] for r in records}, GENRES)
    return Loaded(kind=MULTICLASS, records=records, vocabulary=list(GENRES), notes=notes, files=files)
