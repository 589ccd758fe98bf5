"""MTG-Jamendo split-0: the genre, instrument, mood/theme and top-50 auto-tagging subsets.

Read from the official split files ``autotagging_<subset>-{train,validation,test}.tsv``
(``MTG/mtg-jamendo-dataset``, ``data/splits/split-0/``): a header
``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS`` and one row per track whose TAGS are
TAB-separated ``category---tag`` values (rows have a variable number of columns). The tags are
kept exactly as written (``genre---rock``), so the four subsets never collide and the top-50
subset keeps its category prefixes. Split-0 is the split of seed 004 sec. 4.3.3 (Table 4.2),
sec. 5.3.5 (Table 5.2) and sec. 6.3.3 (Table 6.1).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import InputError
from ._mtg_jamendo_vocab import VOCABULARY
from .common import MULTILABEL, Loaded, Record, require_files, vocabulary_notes

PUBLISHED = "https://github.com/MTG/mtg-jamendo-dataset (data/splits/split-0/; audio: https://mtg.github.io/mtg-jamendo-dataset)"
HEADER = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS"]
SPLIT_FILES = (("train", "train"), ("validation", "validation"), ("test", "test"))
SUBSETS = {"genre": "genre", "instrument": "instrument", "moodtheme": "moodtheme", "top50": "top50tags"}


def expected_files(subset: str) -> list[str]:
    """File names of one subset's split-0 files."""
    stem = SUBSETS[subset]
    return [f"autotagging_{stem}-{suffix}.tsv" for suffix, _ in SPLIT_FILES]


def read_split_file(path: Path, split: str) -> list[Record]:
    """The records of one official split file (one-line errors for malformed rows)."""
    records = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != HEADER:
            raise InputError(path, f"not an MTG-Jamendo split file: header {header} (expected {' '.join(HEADER)})")
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < 5 or not row[0] or not row[3]:
                raise InputError(path, f"row with {len(row)} column(s), expected TRACK_ID ARTIST_ID ALBUM_ID PATH "
                                 "DURATION TAGS...", line=number)
            try:
                duration = float(row[4])
            except ValueError:
                raise InputError(path, f"DURATION {row[4]!r} is not a number", line=number, record=row[0]) from None
            tags = [t.strip() for t in row[5:] if t.strip()]
            records.append(Record(track_id=row[0], path=row[3], labels=list(dict.fromkeys(tags)), split=split,
                                  artist=row[1], title=row[0], duration_s=duration))
    return records


def load(root: Path, subset: str, name: str) -> Loaded:
    """One subset of split-0 from the folder holding its three split files."""
    files = require_files(root, name, expected_files(subset), PUBLISHED)
    records: list[Record] = []
    first: dict[str, Path] = {}
    for path, (_, split) in zip(files, SPLIT_FILES):
        for record in read_split_file(path, split):
            if record.track_id in first:
                raise InputError(path, f"track listed again (first in {first[record.track_id].name})",
                                 record=record.track_id)
            first[record.track_id] = path
            records.append(record)
    official = VOCABULARY[SUBSETS[subset]]
    found = {t for r in records for t in r.labels}
    return Loaded(kind=MULTILABEL, records=records, vocabulary=list(official), files=files,
                  notes=vocabulary_notes(name, found, official))
