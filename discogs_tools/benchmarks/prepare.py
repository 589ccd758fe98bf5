"""``benchmark prepare``: a benchmark's official files -> a probe task manifest.

The manifest is a CSV that ``probe`` reads unchanged and ``ingest collection`` takes for the
audio: labelled benchmarks get ``track_id, path, artist, title, duration_s, labels`` (multi-label,
``,``-joined) or ``label`` (multi-class), and ``split``; triplet benchmarks get ``anchor, positive,
negative, split`` plus ``<out>.tracks.csv`` (``track_id, path, artist, title``) for the audio.
``<out>.json`` records the benchmark, its official class list, the counts and the notes.

Audio (with ``--audio-root``): each track's file must exist, be non-empty and readable. A track
whose audio is missing or unreadable is left out and listed in ``<out>.rejects.jsonl``; the run
fails (nothing written but the rejects) when more than ``max_missing_fraction`` of the tracks are
left out. The default, :data:`MAX_MISSING_FRACTION` = 1 %, tolerates the few broken files the
official downloads are known to hold (a handful of empty MagnaTagATune clips, a few truncated
FMA files) while a wrong ``--audio-root`` or a partial download (most files missing) fails.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

from ..errors import ConfigError, InputError, RejectsWriter
from ..io import write_json_atomic, write_text_atomic
from ..report import Report
from .common import MULTICLASS, TRIPLETS, Loaded, audio_problem
from .registry import get

MAX_MISSING_FRACTION = 0.01
STAGE = "benchmark prepare"


def sidecar(output: Path, suffix: str) -> Path:
    """``out.csv`` -> ``out<suffix>`` (``.rejects.jsonl``, ``.json``, ``.tracks.csv``)."""
    return output.with_name(output.stem + suffix)


def check_audio(loaded: Loaded, audio_root: Path) -> dict[str, str]:
    """Track id -> reason for every track whose audio cannot be used."""
    bad = {}
    for track_id, rel in loaded.audio_items():
        reason = audio_problem(audio_root / rel)
        if reason:
            bad[track_id] = reason
    return bad


def _csv_text(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _audio_path(rel: str, audio_root: Path | None) -> str:
    return str((audio_root / rel).resolve()) if audio_root is not None else rel


def prepare(name: str, root: str | os.PathLike[str], *, output: str | os.PathLike[str] | None = None,
            audio_root: str | os.PathLike[str] | None = None,
            max_missing_fraction: float = MAX_MISSING_FRACTION) -> Report:
    """Read benchmark ``name`` from ``root`` and write its probe manifest (see the module doc)."""
    if not 0 <= max_missing_fraction <= 1:
        raise ConfigError(f"--max-missing-fraction must lie in [0, 1], got {max_missing_fraction}")
    benchmark = get(name)
    loaded = benchmark.load(Path(root))
    output = Path(output) if output is not None else Path(f"{name}.csv")
    if output.suffix.lower() != ".csv":
        raise ConfigError(f"-o {output}: the manifest is written as CSV; give a .csv file name")
    audio = Path(audio_root) if audio_root is not None else None
    if audio is not None and not audio.is_dir():
        raise InputError(audio, f"--audio-root is not a folder (the {name} audio is published at {benchmark.published})")
    report = Report(stage=f"{STAGE} {name}")
    items = loaded.audio_items()
    bad = check_audio(loaded, audio) if audio is not None else {}
    rejects_path = sidecar(output, ".rejects.jsonl")
    with RejectsWriter(rejects_path) as rejects:
        for track_id, rel in items:
            if track_id in bad:
                rejects.add(file=str(audio / rel), record=track_id, reason=bad[track_id])  # type: ignore[operator]
    fraction = len(bad) / len(items) if items else 0.0
    if fraction > max_missing_fraction:
        first = next(iter(bad.items()))
        raise InputError(audio, f"benchmark {name}: {len(bad):,} of {len(items):,} tracks ({fraction:.1%}) have "
                         f"missing or unreadable audio, above --max-missing-fraction {max_missing_fraction:g} "
                         f"(first: {first[0]}: {first[1]}); all listed in {rejects_path}; no manifest written")
    if loaded.kind == TRIPLETS:
        counts = _write_triplets(loaded, output, audio, bad)
    else:
        counts = _write_labelled(loaded, output, audio, bad, name)
    report.counts.update({"tracks_listed": len(items), "audio_missing": len(bad), **counts})
    report.figures["missing_fraction"] = round(fraction, 6)
    report.outputs["manifest"] = str(output)
    if loaded.kind == TRIPLETS:
        report.outputs["tracks"] = str(sidecar(output, ".tracks.csv"))
    if bad:
        report.outputs["rejects"] = str(rejects_path)
        report.warnings.append(f"{len(bad):,} track(s) without usable audio left out; see {rejects_path}")
    if audio is None:
        report.warnings.append("audio not checked (no --audio-root); paths are written as published, relative to "
                               "the benchmark's audio root")
    seed_tracks = benchmark.seed.get("tracks")
    listed = len(loaded.triplets) if loaded.kind == TRIPLETS else len(loaded.records)
    if seed_tracks and seed_tracks != listed:
        loaded.notes.append(f"{name}: these files list {listed:,} {benchmark.seed.get('unit', 'tracks')}, "
                            f"the seeds' table {seed_tracks:,} ({benchmark.seed['where']})")
    report.warnings.extend(loaded.notes)
    info = {"benchmark": name, "kind": loaded.kind, "published": benchmark.published, "root": str(Path(root).resolve()),
            "audio_root": str(audio.resolve()) if audio is not None else None,
            "files": [str(p) for p in loaded.files], "vocabulary": loaded.vocabulary,
            "max_missing_fraction": max_missing_fraction, "counts": report.counts, "notes": loaded.notes,
            "seed": benchmark.seed}
    write_json_atomic(sidecar(output, ".json"), info)
    report.outputs["info"] = str(sidecar(output, ".json"))
    return report


def _write_labelled(loaded: Loaded, output: Path, audio: Path | None, bad: dict[str, str], name: str) -> dict[str, int]:
    label_column = "label" if loaded.kind == MULTICLASS else "labels"
    rows = []
    splits: Counter[str] = Counter()
    classes: set[str] = set()
    for r in loaded.records:
        if r.track_id in bad:
            continue
        for label in r.labels:
            if "," in label:
                raise InputError(output, f"benchmark {name}: tag {label!r} holds the label separator ','",
                                 record=r.track_id)
        classes.update(r.labels)
        splits[r.split] += 1
        rows.append([r.track_id, _audio_path(r.path, audio), r.artist or "unknown", r.title or r.track_id,
                     "" if r.duration_s is None else r.duration_s, ",".join(r.labels), r.split])
    header = ["track_id", "path", "artist", "title", "duration_s", label_column, "split"]
    write_text_atomic(output, _csv_text(header, rows))
    return {"tracks": len(rows), "classes": len(classes), **{f"tracks_{s}": n for s, n in sorted(splits.items())}}


def _write_triplets(loaded: Loaded, output: Path, audio: Path | None, bad: dict[str, str]) -> dict[str, int]:
    kept = [t for t in loaded.triplets if not {t.anchor, t.positive, t.negative} & set(bad)]
    used = sorted({x for t in kept for x in (t.anchor, t.positive, t.negative)})
    tracks = [[tid, _audio_path(loaded.paths[tid], audio), "unknown", tid] for tid in used]
    write_text_atomic(sidecar(output, ".tracks.csv"), _csv_text(["track_id", "path", "artist", "title"], tracks))
    rows = [[t.anchor, t.positive, t.negative, t.split] for t in kept]
    write_text_atomic(output, _csv_text(["anchor", "positive", "negative", "split"], rows))
    splits = Counter(t.split for t in kept)
    return {"triplets": len(kept), "triplets_dropped": len(loaded.triplets) - len(kept), "tracks": len(used),
            **{f"triplets_{s}": n for s, n in sorted(splits.items())}}
