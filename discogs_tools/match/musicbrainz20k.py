"""Evaluation on the Leipzig *MusicBrainz 20K* entity-resolution benchmark (``match-eval --set musicbrainz-20k``).

The benchmark (Saeedi, Peukert, Rahm, "Comparative Evaluation of Distributed Clustering Schemes
for Multi-source Entity Resolution", ADBIS 2017; file ``musicbrainz-20-A01.csv.dapo``, published by
the database group of Leipzig University) holds 19,375 song records from five *sources*, in
10,000 clusters of records of one song (``CID``). Its provenance, which bounds what it can show:

- the song records are real MusicBrainz entries (title, artist, album, length, year, language):
  real titles, credits (``A feat. B, C & D``), versions (``(live)``, ``(remix)``), classical
  movements, scripts other than Latin;
- the five sources and the duplicates were made by Leipzig's DAPO generator: each source writes
  the fields its own way (source 1 ``Title (Album)`` and ``mm:ss``; source 2 ``Artist - Title``
  with no artist, two-digit years; source 3 ``Title - Album`` and minutes with decimals;
  source 4 ``NNN-Title``, ``Xm Ysec`` and ``Album (year)``; source 5 fields in place and
  milliseconds), and duplicates carry typos, doubled or swapped letters, dropped spaces and
  missing values. Those differences were written by people who are not us, for another purpose,
  so the matcher was not tuned to them; but they are generated, not entered by hand.

``run`` turns it into a matching task against a Discogs-shaped reference. Every record of
source 5 (fields in place) becomes a one-track reference release (release id = its ``TID``);
every record of sources 1-4 becomes a collection row. A row's truth is the source-5 record of
its cluster; a row whose cluster has no source-5 record is a negative (its song is not in the
reference). Each row is matched twice in one run: **in place** (the source's own fields, as a
tag reader would take them) and **mixed up** by issue 16's recipe (artist + title + album +
price + ``m:ss`` + year in the title, every other field empty). The kinds of row reported are
the sources, since each source is one way of writing the fields.

The full file is not bundled (the benchmark page states no licence); ``--data`` reads it from
where the user saved it. It is read whole into memory (2 MB; the 200K sibling file of the same
layout, ``musicbrainz-200-A01.csv.dapo``, is about ten times that), which an evaluation set allows. A 60-record extract is bundled as a test fixture
(``sample_data/musicbrainz20k/``, see its SOURCES.md).
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from ..errors import ConfigError, NothingUsableError
from ..io import TableWriter
from ..report import Report
from ..resources import sample_data_dir
from ..schemas import load_schema
from ..workspace import Workspace
from .realworld import PRICES, VARIANTS, _mss, evaluate_and_report
from .scoring import MatchConfig

COLUMNS = ("TID", "CID", "CTID", "SourceID", "id", "number", "title", "length", "artist", "album", "year",
           "language")
REFERENCE_SOURCE = "5"
MISSING = {"", "null", "[unknown]", "unknown", "unk.", "n.a."}
MAX_ERRORS = 400
"""Errors kept per variant in eval.json (the first ones in TID order) for reading."""
KIND_BY_SOURCE = {
    "1": "source1_title_(album)",
    "2": "source2_artist_-_title",
    "3": "source3_title_-_album",
    "4": "source4_NNN-title",
}
"""Kinds of row: the source, i.e. how it writes the fields (see the module docstring)."""


def fixture_path() -> Path:
    """The bundled 60-record extract of the benchmark file (test fixture)."""
    return sample_data_dir() / "musicbrainz20k" / "musicbrainz-20k.extract.csv"


def _value(text: str | None) -> str | None:
    text = (text or "").strip()
    return None if text.casefold() in MISSING else text


PLAIN_NUMBER_UNIT_S = {"5": 0.001}
"""Seconds per unit of a plain number in a source's length field: source 5 writes milliseconds
(``263497``), source 2 seconds (``219``)."""


def parse_length(text: str | None, plain_unit_s: float = 1.0) -> float | None:
    """Seconds from one of the sources' ways of writing a length; None when unreadable.

    ``04:36`` (m:ss), ``6m 21sec``, ``4.367`` (minutes with decimals), and a plain number in
    ``plain_unit_s`` seconds (``219`` seconds, or ``263497`` milliseconds with 0.001).
    """
    text = (text or "").strip()
    if m := re.fullmatch(r"(\d{1,3}):(\d{2})", text):
        seconds = int(m[1]) * 60 + int(m[2])
    elif m := re.fullmatch(r"(\d{1,3})m\s*(\d{1,2})sec", text):
        seconds = int(m[1]) * 60 + int(m[2])
    elif re.fullmatch(r"\d{1,3}\.\d{1,3}", text):
        seconds = round(float(text) * 60)
    elif re.fullmatch(r"\d{1,9}", text):
        seconds = int(text) * plain_unit_s
    else:
        return None
    return float(seconds) if seconds > 0 else None


def record_length(rec: dict[str, str]) -> float | None:
    """The length of a record in seconds, read in its source's units."""
    return parse_length(rec["length"], PLAIN_NUMBER_UNIT_S.get(rec["SourceID"].strip(), 1.0))


def read_records(path: Path) -> Iterator[dict[str, str]]:
    """The benchmark's rows, checked against its header; one-line errors name the file and line."""
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the MusicBrainz 20K file: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ConfigError(f"{path}: not the MusicBrainz 20K layout: header {reader.fieldnames}, "
                              f"expected {','.join(COLUMNS)}")
        for row in reader:
            if None in row or None in row.values() or not row["TID"].strip().isdigit() or not row["CID"].strip():
                raise ConfigError(f"{path}: line {reader.line_num}: malformed record (TID {row.get('TID')!r})")
            yield row


def _release(rec: dict[str, str], source_file: str, ordinal: int) -> dict[str, Any]:
    artist = _value(rec["artist"])
    year = _value(rec["year"])
    return {"release_id": int(rec["TID"]), "source_file": source_file, "record_ordinal": ordinal,
            "source_offset": 0, "status": "Accepted", "title": _value(rec["album"]),
            "released": year, "year": int(year) if year and year.isdigit() and len(year) == 4 else None,
            "artists": [{"id": None, "name": artist, "anv": "", "join": "", "role": "", "tracks": ""}]
            if artist else [],
            "tracklist": [{"position": _value(rec["number"]), "title": _value(rec["title"]),
                           "duration": _value(rec["length"]), "duration_s": record_length(rec)}]}


def mixed_up_title(rec: dict[str, str], rng: random.Random) -> str:
    """Issue 16's mixed-up record: artist, title, album, price, m:ss and year in one field."""
    parts = [_value(rec["artist"]), _value(rec["title"]), _value(rec["album"]), rng.choice(PRICES),
             _mss(record_length(rec)), _value(rec["year"])]
    return " ".join(p for p in parts if p)


def build(path: Path, reference_out: Path, *, seed: int = 0,
          limit: int | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], int]:
    """Write the source-5 records as reference releases; return (collection rows, labels, reference size).

    ``limit``: query at most this many records of sources 1-4 (a seeded sample), all when None.
    """
    rng = random.Random(seed)
    records = list(read_records(path))
    reference: dict[str, int] = {}  # cluster -> release id of its source-5 record
    n_ref = 0
    schema = load_schema("discogs/releases")
    with TableWriter(reference_out, "discogs/releases") as out:
        batch = []
        for ordinal, rec in enumerate(records):
            if rec["SourceID"].strip() == REFERENCE_SOURCE:
                reference[rec["CID"].strip()] = int(rec["TID"])
                batch.append(_release(rec, path.name, ordinal))
        for start in range(0, len(batch), 2000):
            out.write(pa.Table.from_pylist(batch[start:start + 2000], schema=schema))
        n_ref = len(batch)
    queries = [r for r in records if r["SourceID"].strip() in KIND_BY_SOURCE]
    if limit is not None and limit < len(queries):
        queries = sorted(rng.sample(queries, limit), key=lambda r: int(r["TID"]))
    rows: list[dict[str, Any]] = []
    labels: dict[str, dict[str, Any]] = {}
    for rec in queries:
        ref = reference.get(rec["CID"].strip())
        truth = {ref} if ref is not None else set()
        kind = KIND_BY_SOURCE[rec["SourceID"].strip()] if truth else "song_not_in_reference"
        base = {"tid": int(rec["TID"]), "source": rec["SourceID"], "artist": rec["artist"], "title": rec["title"],
                "album": rec["album"], "length": rec["length"]}
        for variant in VARIANTS:
            tid = f"{variant}-{int(rec['TID']):06d}"
            if variant == "in_place":
                rows.append({"track_id": tid, "artist": _value(rec["artist"]), "title": _value(rec["title"]),
                             "album": _value(rec["album"]), "duration_s": record_length(rec)})
            else:
                rows.append({"track_id": tid, "artist": None, "title": mixed_up_title(rec, rng) or None,
                             "album": None, "duration_s": None})
            labels[tid] = {"variant": variant, "kind": kind, "truth": truth, "source": base}
    return rows, labels, n_ref


def run(ws: Workspace, data: str | Path | None = None, *, out_dir: str | Path | None = None, seed: int = 0,
        limit: int | None = None, config: MatchConfig | None = None) -> Report:
    """Build both variants from the benchmark file ``data``, match them, and report the scores."""
    config = config or MatchConfig()
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    path = Path(data) if data else fixture_path()
    out = Path(out_dir) if out_dir else ws.runs / f"match-eval-musicbrainz-20k-seed{seed}"
    ev = Workspace(out / "workspace").ensure()
    rows, labels, n_ref = build(path, ev.table("discogs/releases"), seed=seed, limit=limit)
    if not n_ref or not any(lab["truth"] for lab in labels.values()):
        raise NothingUsableError(f"{path}: no record of source {REFERENCE_SOURCE} shares a cluster with "
                                 "a record of sources 1-4: nothing to evaluate")
    return evaluate_and_report(ws, ev, out, "musicbrainz-20k", rows, labels, n_ref, config,
                               {"data": str(path), "seed": seed, "limit": limit}, max_errors=MAX_ERRORS)
