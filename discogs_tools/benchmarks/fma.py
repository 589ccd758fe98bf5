"""FMA-small (``fma-small``): 8 balanced top-level genres, the authors' split.

Read from ``tracks.csv`` of ``fma_metadata.zip`` (``mdeff/fma``): a comma-separated file with a
two-row column header (top level ``album``/``artist``/``set``/``track``, second level
``subset``, ``split``, ``genre_top``, ...) followed by a row ``track_id,,,...`` that names the
index, then one row per track (fields may hold quoted commas and newlines). Kept: tracks with
``set.subset == small``; the class is ``track.genre_top``; the split is ``set.split``
(``training``/``validation``/``test``, the authors' split, seed 004 sec. 4.3.3). Audio path:
``NNN/NNNNNN.mp3`` (the 6-digit track id, its first three digits as folder) under ``fma_small/``.
Published SHA-1 digests of the archives (mdeff/fma README) are verified when the zips are in
``--root``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import InputError
from .common import (
    MULTICLASS,
    Loaded,
    Record,
    require_files,
    verify_checksums,
    vocabulary_notes,
)

PUBLISHED = "https://github.com/mdeff/fma (fma_metadata.zip -> fma_metadata/tracks.csv; audio fma_small.zip)"
FILES = ("tracks.csv",)
CHECKSUMS = {"fma_metadata.zip": ("sha1", "f0df49ffe5f2a6008d7dc83c6915b31835dfe733"),
             "fma_small.zip": ("sha1", "ade154f733639d52e35e32f5593efe5be76c6d70")}
GENRES = ("Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock")
SPLITS = {"training": "train", "validation": "validation", "test": "test"}


def audio_path(track_id: int) -> str:
    tid = f"{track_id:06d}"
    return f"{tid[:3]}/{tid}.mp3"


def load(root: Path, name: str = "fma-small") -> Loaded:
    (path,) = require_files(root, name, FILES, PUBLISHED)
    notes = verify_checksums(root, CHECKSUMS, name)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        top, second, index = next(reader, []), next(reader, []), next(reader, [])
        columns = {(a, b): j for j, (a, b) in enumerate(zip(top, second))}
        need = [("set", "subset"), ("set", "split"), ("track", "genre_top")]
        missing = [".".join(c) for c in need if c not in columns]
        if missing or index[:1] != ["track_id"]:
            raise InputError(path, f"not FMA tracks.csv: needs a two-row header with {', '.join('.'.join(c) for c in need)}"
                             f" and a third row starting track_id (missing {', '.join(missing) or 'the track_id row'})")
        subset, split_col, genre = (columns[c] for c in need)
        artist, title = columns.get(("artist", "name")), columns.get(("track", "title"))
        records = []
        for row in reader:
            if not row or len(row) <= max(subset, split_col, genre) or row[subset] != "small":
                continue
            line = reader.line_num
            try:
                track_id = int(row[0])
            except ValueError:
                raise InputError(path, f"track_id {row[0]!r} is not a number", line=line) from None
            split = SPLITS.get(row[split_col])
            if split is None:
                raise InputError(path, f"set.split {row[split_col]!r} is not training/validation/test", line=line,
                                 record=track_id)
            if not row[genre]:
                raise InputError(path, "a small-subset track without track.genre_top", line=line, record=track_id)
            records.append(Record(track_id=f"fma-{track_id:06d}", path=audio_path(track_id), labels=[row[genre]],
                                  split=split, artist=row[artist] if artist is not None else None,
                                  title=row[title] if title is not None else None))
    notes += vocabulary_notes(name, {r.labels[0] for r in records}, GENRES)
    return Loaded(kind=MULTICLASS, records=records, vocabulary=list(GENRES), notes=notes, files=[path])
