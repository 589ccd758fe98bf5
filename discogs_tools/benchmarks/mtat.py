"""MagnaTagATune (``mtat``): top-50 tags, the 12:1:3 split by the clip folder's first hex digit.

Read from ``annotations_final.csv`` as distributed by the MagnaTagATune page: despite the name
it is TAB-separated, every field double-quoted; a header ``clip_id``, 188 tag columns and
``mp3_path`` (e.g. ``f/american_bach_soloists-...-30-59.mp3``, relative to the audio root whose
16 folders are named ``0``..``f``), then one row of 0/1 values per clip.

The top-50 tags are the 50 most frequent tag columns over all clips (ties by column order), as
the common practice computes them; they are compared with :data:`OFFICIAL_TOP50`, the list the
literature uses, and a difference is reported, not remapped. The split is the 12:1:3 partition
of van den Oord et al. used by seed 004 sec. 4.3.3 and sec. 6.3.3: folders ``0``-``b`` train,
``c`` validation, ``d``-``f`` test. Every clip is kept, also those without any top-50 tag (they
have an empty label set): the seeds count 25,860 MTAT clips (seed 004 Table 4.2, Table 5.2,
Table 6.1), i.e. the whole collection, not the 21,111 clips that have a top-50 tag; probe such a
manifest with ``--allow-empty-labels``.

``mtat-clean`` (:func:`load_clean`) is the other split of the literature, the "clean version of
MTAT" marked (*) in seed 000 Table 3: the published clip lists of Lee et al. (2017), as
redistributed by Won et al. (2020) in ``sota-music-tagging-models`` ``split/mtat/`` (seed 003
sec. 3.2.1: the tracks with at least one top-50 tag, about 21k clips; its footnote 3 points at
Lee's ``MTAT_split`` lists). ``train.npy``, ``valid.npy`` and ``test.npy`` are NumPy arrays
of ``"<row>\t<mp3_path>"`` strings, ``<row>`` indexing the rows of ``binary.npy`` (clips x 50, 0/1)
whose columns are the tags of ``tags.npy``. The labels are read from ``binary.npy`` (the lists'
own ground truth); a clip whose ``mp3_path`` is not in ``annotations_final.csv`` is reported, and
the top-50 of ``tags.npy`` is compared with the official list (not remapped).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import InputError
from .common import MULTILABEL, Loaded, Record, require_files, vocabulary_notes

PUBLISHED = "https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset (annotations_final.csv, mp3.zip.001-003)"
FILES = ("annotations_final.csv",)
PUBLISHED_CLEAN = ("https://github.com/minzwon/sota-music-tagging-models (split/mtat/: train.npy, valid.npy, "
                   "test.npy, binary.npy, tags.npy; the Lee et al. 2017 lists) with annotations_final.csv from "
                   + PUBLISHED.split(" ", 1)[0])
CLEAN_FILES = ("annotations_final.csv", "train.npy", "valid.npy", "test.npy", "binary.npy", "tags.npy")
CLEAN_SPLITS = (("train.npy", "train"), ("valid.npy", "validation"), ("test.npy", "test"))
# The top-50 list of the literature (most frequent first), e.g. musicnn's MTT model outputs.
OFFICIAL_TOP50 = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
SPLIT_BY_FOLDER = {**{d: "train" for d in "0123456789ab"}, "c": "validation", **{d: "test" for d in "def"}}


def split_of_clip(mp3_path: str) -> str | None:
    """12:1:3 split of a clip from its folder's hex digit (None if the path has no such folder)."""
    return SPLIT_BY_FOLDER.get(mp3_path.split("/", 1)[0].lower()) if "/" in mp3_path else None


def load(root: Path, name: str = "mtat") -> Loaded:
    (path,) = require_files(root, name, FILES, PUBLISHED)
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or rows[0][:1] != ["clip_id"] or rows[0][-1] != "mp3_path" or len(rows[0]) < 3:
        raise InputError(path, "not MagnaTagATune annotations: the header must run clip_id, <tags>, mp3_path "
                         "(TAB-separated)")
    header = rows[0]
    tags = header[1:-1]
    counts = [0] * len(tags)
    clips = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(path, f"{len(row)} fields, the header has {len(header)}", line=number)
        try:
            values = [int(v) for v in row[1:-1]]
        except ValueError:
            raise InputError(path, "tag values must be 0 or 1", line=number, record=row[0]) from None
        split = split_of_clip(row[-1])
        if split is None:
            raise InputError(path, f"mp3_path {row[-1]!r} is not in a 0-f folder", line=number, record=row[0])
        for j, v in enumerate(values):
            counts[j] += v
        clips.append((row[0], row[-1], values, split))
    order = sorted(range(len(tags)), key=lambda j: (-counts[j], j))[:50]
    top = [tags[j] for j in order]
    chosen = sorted(order)
    records = [Record(track_id=f"mtat-{clip_id}", path=mp3, split=split,
                      labels=[tags[j] for j in chosen if values[j]],
                      artist=mp3.split("/", 1)[1].split("-", 1)[0] or None, title=clip_id)
               for clip_id, mp3, values, split in clips]
    notes = vocabulary_notes(name, top, OFFICIAL_TOP50)
    untagged = sum(1 for r in records if not r.labels)
    if untagged:
        notes.append(f"{name}: {untagged:,} clip(s) have no top-50 tag (empty label set; probe with "
                     "--allow-empty-labels)")
    return Loaded(kind=MULTILABEL, records=records, vocabulary=top, notes=notes, files=[path])


def load_clean(root: Path, name: str = "mtat-clean") -> Loaded:
    """The published clip lists of the clean MTAT split (see the module docstring)."""
    from .msd import load_npy

    files = require_files(root, name, CLEAN_FILES, PUBLISHED_CLEAN)
    by_name = dict(zip(CLEAN_FILES, files))
    with open(by_name["annotations_final.csv"], encoding="utf-8", newline="") as fh:
        known = {row[-1]: row[0] for row in csv.reader(fh, delimiter="\t") if row and row[0] != "clip_id"}
    tags = [str(t) for t in load_npy(by_name["tags.npy"]).tolist()]
    binary = load_npy(by_name["binary.npy"])
    if binary.ndim != 2 or binary.shape[1] != len(tags):
        raise InputError(by_name["binary.npy"], f"expected clips x {len(tags)} tag flags (tags.npy), got shape "
                         f"{binary.shape}")
    records: list[Record] = []
    unknown = 0
    seen: set[str] = set()
    for file, split in CLEAN_SPLITS:
        for number, entry in enumerate(load_npy(by_name[file]).tolist()):
            text = entry.decode("latin-1") if isinstance(entry, bytes) else str(entry)
            row, sep, mp3 = text.partition("\t")
            if not sep or not row.strip().isdigit() or int(row) >= len(binary):
                raise InputError(by_name[file], f"entry {text!r} is not '<row of binary.npy>\\t<mp3_path>'",
                                 record=str(number))
            if mp3 in seen:
                raise InputError(by_name[file], f"{mp3} is listed twice", record=str(number))
            seen.add(mp3)
            clip_id = known.get(mp3)
            if clip_id is None:
                unknown += 1
                clip_id = f"row{int(row)}"
            flags = binary[int(row)]
            records.append(Record(track_id=f"mtat-{clip_id}", path=mp3, split=split,
                                  labels=[t for t, on in zip(tags, flags) if on],
                                  artist=mp3.split("/", 1)[-1].split("-", 1)[0] or None, title=clip_id))
    notes = vocabulary_notes(name, tags, OFFICIAL_TOP50)
    if unknown:
        notes.append(f"{name}: {unknown:,} listed clip(s) are not in annotations_final.csv (kept, id row<N>)")
    untagged = sum(1 for r in records if not r.labels)
    if untagged:
        notes.append(f"{name}: {untagged:,} listed clip(s) have no tag in binary.npy")
    return Loaded(kind=MULTILABEL, records=records, vocabulary=tags, notes=notes, files=files)
