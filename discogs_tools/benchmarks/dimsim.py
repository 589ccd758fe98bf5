"""dim-sim (``dim-sim``): human music-similarity triplets, the clean subset (Lee et al., 2020).

seed 004 sec. 5.3.4: "the official clean version of the dataset contains 879 triplets with a high
inter-annotator agreement" (879 in Table 5.2); sec. 5.3.6 evaluates them with the pre-trained
models "without fine-tuning" (cosine distance anchor/positive vs anchor/negative), so every triplet
is written to the test split.

Read from ``clean-dim-sim.csv`` (comma-separated, a header): ``anchor_id, anchor_start_seconds,
song1_id, song1_start_seconds, song2_id, song2_start_seconds, song1_vote`` (and other columns,
ignored); ``song1_vote`` is 1 when the raters found song1 closer to the anchor (then song1 is the
positive, song2 the negative), else 0. Each item is a 3-second clip of a Million Song Dataset track
starting at its ``*_start_seconds``; the audio is ``<track id>.mp3`` in the dataset's audio folder.
A triplet names clips, so the manifest's ids are ``<track id>@<start seconds>`` and the tracks file
(``OUT.tracks.csv``) gives each clip's audio path (the start is in the id; ``features`` computes the
whole file, see docs/benchmarks.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import InputError
from .common import TRIPLETS, Loaded, Triplet, require_files

PUBLISHED = "dim-sim (Lee et al., ICASSP 2020: 'Disentangled multidimensional metric learning for music similarity')"
FILES = ("clean-dim-sim.csv",)
POSITIONS = ("anchor", "song1", "song2")
COLUMNS = (*(f"{p}_{s}" for p in POSITIONS for s in ("id", "start_seconds")), "song1_vote")


def load(root: Path, name: str = "dim-sim") -> Loaded:
    (path,) = require_files(root, name, FILES, PUBLISHED)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(path, f"not a dim-sim triplet file: missing column(s) {', '.join(missing)}")
        triplets, paths = [], {}
        for row in reader:
            line = reader.line_num
            clips = {}
            for p in POSITIONS:
                track, start = (row[f"{p}_id"] or "").strip(), (row[f"{p}_start_seconds"] or "").strip()
                try:
                    float(start)
                except ValueError:
                    raise InputError(path, f"{p}_start_seconds {start!r} is not a number", line=line) from None
                if not track:
                    raise InputError(path, f"{p}_id is empty", line=line)
                clips[p] = f"{track}@{start}"
                paths[clips[p]] = f"{track}.mp3"
            vote = (row["song1_vote"] or "").strip()
            if vote not in ("0", "1"):
                raise InputError(path, f"song1_vote {vote!r} is not 0 or 1", line=line)
            positive, negative = ("song1", "song2") if vote == "1" else ("song2", "song1")
            triplets.append(Triplet(clips["anchor"], clips[positive], clips[negative], "test"))
    return Loaded(kind=TRIPLETS, triplets=triplets, paths=paths, files=[path])
