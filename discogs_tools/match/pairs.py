"""Evaluation on a labelled set of record pairs (``match-eval --set pairs --data FOLDER``).

Entity-matching benchmarks publish two tables of records and labelled pairs between them, in
the layout of the Magellan / DeepMatcher benchmark folders: ``tableA.csv`` and ``tableB.csv``
(an ``id`` column and one column per attribute) and pair files (``train.csv``, ``valid.csv``,
``test.csv``: ``ltable_id, rtable_id, label``). Supervised matchers report F1 over the labelled
pairs of ``test.csv``. This module puts the matcher through the same protocol, so that a user
(or whoever keeps a held-out set away from us) measures it on any such set with one command:

- every record of ``tableB`` becomes a reference track: ``ingest playlists`` reads them as one
  playlist (so the matcher looks among all of them, not only the paired ones);
- every left record named in the pair file becomes a collection row (``ingest collection``);
- ``match --against playlists`` runs with the given (default) settings;
- a pair is predicted a match when the matcher kept a link between its two records; precision,
  recall and F1 are counted over the labelled pairs only.

Each left record is matched twice in one run: **in place** (its columns as given) and **mixed
up** by issue 16's recipe (artist + title + album + every other column's text, in file order, in
the title field; the other fields empty). A set whose records are already mixed up (the "dirty"
benchmark variants) is read as given by the in-place variant.

Columns are found by name (``Song_Name``, ``title``, ``track_name`` ... for the title; see
``ROLE_NAMES``) or set with ``--columns title=Name,artist=Performer``. Tables and pairs are
read whole (benchmark sets hold thousands of records, not millions).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, NothingUsableError
from ..io import atomic_path, iter_batches
from ..playlists import ingest as playlists_ingest
from ..playlists.tabular import ColumnSpec
from ..report import Report
from ..workspace import Workspace
from .evaluate import match_rows
from .realworld import VARIANTS, _prf, record_eval
from .scoring import MatchConfig

ROLES = ("title", "artist", "album", "duration")
ROLE_NAMES = {
    "title": ("title", "songname", "song", "trackname", "tracktitle", "track", "name"),
    "artist": ("artist", "artistname", "artists", "performer", "artistnames"),
    "album": ("album", "albumname", "albumtitle", "release", "releasetitle"),
    "duration": ("time", "duration", "length", "durations", "durationms", "tracklength"),
}
"""Header names (lower case, letters and digits only) recognised for each field, first match wins."""
MAX_ERRORS = 200
"""Wrong pairs kept per variant in eval.json for reading."""
PLAIN_MS_FROM = 10_000
"""A plain number in the duration column is read as milliseconds from this value on, else seconds."""


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_columns(text: str | None) -> dict[str, str]:
    """``title=Song_Name,artist=Artist_Name`` -> {"title": "Song_Name", "artist": "Artist_Name"}."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        role = role.strip().lower()
        if not sep or role not in ROLES or not column.strip():
            raise ConfigError(f"--columns: {part.strip()!r} is not ROLE=COLUMN with ROLE one of {', '.join(ROLES)}")
        out[role] = column.strip()
    return out


def find_columns(path: Path, header: list[str], chosen: dict[str, str]) -> dict[str, str]:
    """Which column of ``header`` holds each field: ``chosen`` first, then ``ROLE_NAMES``."""
    by_norm = {_norm(h): h for h in reversed(header)}
    found: dict[str, str] = {}
    for role in ROLES:
        if role in chosen:
            if chosen[role] not in header:
                raise ConfigError(f"{path}: --columns names {chosen[role]!r} for the {role}, but the file has "
                                  f"no such column (has: {', '.join(header)})")
            found[role] = chosen[role]
            continue
        for name in ROLE_NAMES[role]:
            if name in by_norm and by_norm[name] not in found.values():
                found[role] = by_norm[name]
                break
    if "title" not in found:
        raise ConfigError(f"{path}: no title column found (has: {', '.join(header)}); name it with "
                          "--columns title=COLUMN")
    return found


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``m:ss``, ``h:mm:ss``, ``6m 21sec`` or a plain number (seconds, or
    milliseconds from ``PLAIN_MS_FROM`` on); None when unreadable or not positive."""
    text = (text or "").strip()
    if m := re.fullmatch(r"(?:(\d{1,2}):)?(\d{1,3}):(\d{2})", text):
        seconds = int(m[1] or 0) * 3600 + int(m[2]) * 60 + int(m[3])
    elif m := re.fullmatch(r"(\d{1,3})\s*m(?:in)?\s*(\d{1,2})\s*s(?:ec)?", text):
        seconds = int(m[1]) * 60 + int(m[2])
    elif re.fullmatch(r"\d{1,9}(?:\.\d+)?", text):
        value = float(text)
        seconds = value / 1000 if value >= PLAIN_MS_FROM else value
    else:
        return None
    return float(seconds) if seconds > 0 else None


def read_table_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A benchmark table: its header and its records by ``id``; one-line errors name file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (a pairs folder holds tableA.csv, tableB.csv and the pair files)")
    records: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8-sig", errors="strict") as f:
        try:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            if "id" not in header:
                raise ConfigError(f"{path}: no 'id' column (has: {', '.join(header) or 'nothing'})")
            for row in reader:
                if None in row or None in row.values():
                    raise InputError(path, f"line {reader.line_num}: {len(header)} columns expected")
                key = row["id"].strip()
                if not key:
                    raise InputError(path, f"line {reader.line_num}: empty id")
                if key in records:
                    raise InputError(path, f"line {reader.line_num}: duplicate id {key!r}")
                records[key] = row
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return header, records


def read_pairs(path: Path, left: dict[str, Any], right: dict[str, Any]) -> list[tuple[str, str, int]]:
    """``(left id, right id, label)`` of a pair file; ids must exist in their tables, labels be 0 or 1."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such pair file")
    pairs: list[tuple[str, str, int]] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"ltable_id", "rtable_id", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{path}: pair file lacks column(s) {', '.join(sorted(missing))} "
                              f"(has: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            lid, rid, label = (row["ltable_id"] or "").strip(), (row["rtable_id"] or "").strip(), \
                (row["label"] or "").strip()
            if label not in ("0", "1"):
                raise InputError(path, f"line {reader.line_num}: label {label!r} is not 0 or 1")
            if lid not in left:
                raise InputError(path, f"line {reader.line_num}: ltable_id {lid!r} is not in tableA")
            if rid not in right:
                raise InputError(path, f"line {reader.line_num}: rtable_id {rid!r} is not in tableB")
            pairs.append((lid, rid, int(label)))
    return pairs


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def collection_rows(header: list[str], records: dict[str, dict[str, str]], ids: list[str],
                    cols: dict[str, str]) -> list[dict[str, Any]]:
    """Both variants of every left record in ``ids``: in place, and mixed up (every text in the title)."""
    others = [h for h in header if h != "id" and h not in cols.values()]
    order = [cols[r] for r in ("artist", "title", "album") if r in cols] + others \
        + ([cols["duration"]] if "duration" in cols else [])
    rows = []
    for key in ids:
        rec = records[key]
        rows.append({"track_id": f"in_place-{key}", "title": _text(rec[cols["title"]]),
                     "artist": _text(rec[cols["artist"]]) if "artist" in cols else None,
                     "album": _text(rec[cols["album"]]) if "album" in cols else None,
                     "duration_s": parse_duration(rec[cols["duration"]]) if "duration" in cols else None})
        mixed = " ".join(t for t in (_text(rec[c]) for c in order) if t)
        rows.append({"track_id": f"mixed_up-{key}", "title": mixed or None, "artist": None, "album": None,
                     "duration_s": None})
    return rows


def write_reference(path: Path, records: dict[str, dict[str, str]], cols: dict[str, str]) -> None:
    """The right table as one playlist, in the columns ``ingest playlists`` reads by default
    (written atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["playlist_id", "track_key", "track_name", "artist_name", "album_name", "duration_ms"])
        for key, rec in records.items():
            seconds = parse_duration(rec[cols["duration"]]) if "duration" in cols else None
            w.writerow(["tableB", key, rec[cols["title"]], rec[cols["artist"]] if "artist" in cols else "",
                        rec[cols["album"]] if "album" in cols else "", round(seconds * 1000) if seconds else ""])


def score(pairs: list[tuple[str, str, int]], links: dict[str, dict[str, float]],
          best: dict[str, dict[str, Any]], left: dict[str, dict[str, str]], right: dict[str, dict[str, str]],
          max_errors: int = MAX_ERRORS) -> dict[str, Any]:
    """Pairwise precision / recall / F1 per variant, and the wrong pairs (false matches first)."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        tp = fp = fn = 0
        errors: list[dict[str, Any]] = []
        for lid, rid, label in pairs:
            linked = links.get(f"{variant}-{lid}", {})
            predicted = rid in linked
            tp += predicted and label == 1
            fp += predicted and label == 0
            fn += (not predicted) and label == 1
            if predicted != bool(label):
                b = best.get(f"{variant}-{lid}", {})
                errors.append({"ltable_id": lid, "rtable_id": rid, "label": label, "linked": predicted,
                               "score": linked.get(rid), "left": left[lid], "right": right[rid],
                               "left_linked_to": sorted(linked)[:5],
                               "best": {k: b.get(k) for k in ("score", "ref_id", "ref_artist", "ref_title",
                                                              "title_sim", "artist_sim")}})
        out[variant] = {**_prf(tp, fp, tp + fn), "pairs": len(pairs),
                        "positives": sum(lab for _, _, lab in pairs),
                        "errors": sorted(errors, key=lambda e: e["label"])[:max_errors]}
    return out


def summary_text(metrics: dict[str, Any]) -> str:
    return "\n".join(
        f"{v}: precision {m['precision']:.4f}, recall {m['recall']:.4f}, F1 {m['f1']:.4f} "
        f"({m['pairs']} labelled pairs, {m['positives']} matches; tp {m['tp']}, fp {m['fp']}, fn {m['fn']})"
        for v, m in ((v, metrics[v]) for v in VARIANTS))


def example_path() -> Path:
    """The bundled example set (from the MusicBrainz 20K extract; see its SOURCES.md)."""
    from ..resources import sample_data_dir

    return sample_data_dir() / "pairs_example"


def run(ws: Workspace, data: str | Path | None = None, *, pair_file: str = "test.csv", columns: str | None = None,
        out_dir: str | Path | None = None, config: MatchConfig | None = None) -> Report:
    """Match the left records of ``data``/``pair_file`` against all of ``data``/tableB.csv
    through the real stages, and score the labelled pairs (both variants)."""
    config = config or MatchConfig()
    folder = Path(data) if data else example_path()
    chosen = parse_columns(columns)
    header_a, left = read_table_csv(folder / "tableA.csv")
    header_b, right = read_table_csv(folder / "tableB.csv")
    cols_a, cols_b = find_columns(folder / "tableA.csv", header_a, chosen), \
        find_columns(folder / "tableB.csv", header_b, chosen)
    pairs = read_pairs(folder / pair_file, left, right)
    if not any(label for _, _, label in pairs):
        raise NothingUsableError(f"{folder / pair_file}: no pair is labelled 1 (a match): nothing to evaluate")
    out = Path(out_dir) if out_dir else ws.runs / f"match-eval-pairs-{folder.name}-{Path(pair_file).stem}"
    ev = Workspace(out / "workspace").ensure()
    out.mkdir(parents=True, exist_ok=True)
    reference = out / "reference.csv"
    write_reference(reference, right, cols_b)
    playlists_ingest.run([reference], ev, fmt="csv", columns=ColumnSpec(), workers=1)
    left_ids = sorted({lid for lid, _, _ in pairs}, key=lambda k: (len(k), k))
    match_report, best = match_rows(ev, collection_rows(header_a, left, left_ids, cols_a), out, config,
                                    against="playlists")
    links: dict[str, dict[str, float]] = defaultdict(dict)
    for batch in iter_batches(ev.table("links/track_playlist_tracks"), columns=["track_id", "track_key", "score"]):
        for t, k, s in zip(*(batch.column(c).to_pylist() for c in ("track_id", "track_key", "score"))):
            links[t][k] = s
    metrics = score(pairs, links, best, left, right)
    params = {"data": str(folder), "pairs": pair_file, "columns": {"tableA": cols_a, "tableB": cols_b}}
    sizes = {"reference_tracks": len(right), "left_records": len(left_ids)}
    return record_eval(ws, ev, out, "pairs", metrics, config, match_report, params, sizes=sizes,
                       counts={"pairs": len(pairs), **sizes}, summary=summary_text(metrics))
