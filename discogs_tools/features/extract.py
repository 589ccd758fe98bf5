"""The ``features`` stage: log-mel spectrograms for the collection's tracks.

Reads ``collection/tracks`` (optionally only the tracks of ``datasets/<dataset>/tracks``),
skips tracks that already have features (resume), and splits the rest, in table order, into
work units of ``tracks_per_shard`` tracks. Each unit becomes one shard, computed by a worker
process (decode, mono, resample, mel) and published atomically with its index part. Files that
cannot be used (missing, corrupt, empty, silent) are counted into
``rejects/features/<name>.jsonl``: tracks in = already done + written + rejected. A run where
every track is rejected fails and keeps the previous rejects file; its own rejects go to
``<name>.failed.jsonl`` (removed by the next successful run), as in ``ingest collection``.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from .. import manifest
from ..errors import ConfigError, InputError, MissingInputError, RejectsWriter
from ..io import _temp_sibling, iter_batches, read_table, remove_dead_staging, replace_path
from ..locks import output_lock
from ..manifest import Timer
from ..processes import init_worker, stop_pool
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from .audio import AudioError, load_audio
from .mel import MelFrontEnd
from .store import (FeatureStore, ShardWriter, existing_shards, read_settings, remove_orphans, write_settings)

FORMAT_VERSION = 1


def settings_for(front_end: MelFrontEnd, crop_s: float | None) -> dict[str, Any]:
    """What determines the numbers in a feature set (a resumed run must use the same)."""
    return {"format_version": FORMAT_VERSION, "dtype": "float16", "n_mels": front_end.n_mels,
            "crop_s": crop_s, "front_end": asdict(front_end)}


def compute_unit(root: str, shard: int, items: list[tuple[str, str | None]], crop_s: float | None,
                 front_end: MelFrontEnd) -> dict[str, Any]:
    """Worker: features of one work unit into shard ``shard``; returns counts and rejected items."""
    writer = ShardWriter(root, shard, front_end.n_mels)
    rejects: list[dict[str, Any]] = []
    audio_seconds = 0.0
    try:
        for track_id, path in items:
            try:
                decoded = load_audio(path, crop_s=crop_s, sample_rate=front_end.sample_rate)
            except AudioError as exc:
                rejects.append({"track_id": track_id, "path": path, "kind": exc.kind, "reason": exc.reason})
                continue
            writer.add(track_id, front_end(decoded.signal))
            audio_seconds += len(decoded.signal) / front_end.sample_rate
        written = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"shard": shard, "written": written, "frames": writer.offset, "rejects": rejects,
            "audio_seconds": audio_seconds}


def _track_ids_of_dataset(ws: Workspace, dataset: str) -> set[str]:
    folder = ws.dataset(dataset) / "tracks"
    if not folder.exists():
        raise MissingInputError(f"dataset {dataset} tracks", folder, "discogs-tools build-dataset")
    return set(read_table(folder, columns=["track_id"]).column("track_id").to_pylist())


def _units(ws: Workspace, done: set[str], wanted: set[str] | None, size: int, rejects: RejectsWriter,
           counts: dict[str, int]) -> Iterator[list[tuple[str, str | None]]]:
    """Pending (track_id, path) in collection order, grouped by ``size``; duplicates rejected."""
    table = ws.require_table("collection/tracks", "discogs-tools ingest collection")
    seen: set[str] = set()
    unit: list[tuple[str, str | None]] = []
    for batch in iter_batches(table, columns=["track_id", "path"]):
        for track_id, path in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            if wanted is not None and track_id not in wanted:
                continue
            counts["tracks_in"] += 1
            if track_id in seen:
                rejects.add(file=path, record=track_id, reason="duplicate track_id in collection/tracks")
                counts["rejected_duplicate"] = counts.get("rejected_duplicate", 0) + 1
                continue
            seen.add(track_id)
            if track_id in done:
                counts["already_done"] += 1
                continue
            unit.append((track_id, path))
            if len(unit) >= size:
                yield unit
                unit = []
    if unit:
        yield unit


def _nothing_usable(counts: dict[str, int]) -> bool:
    return counts["tracks_in"] > 0 and counts["written"] == 0 and counts["already_done"] == 0


def _fail_if_nothing_usable(ws: Workspace, name: str, dataset: str | None, counts: dict[str, int],
                            rejects_path: Path) -> None:
    """An empty input or a run where every track was rejected is an error, not an empty success
    (shards already written are kept: a feature set only ever grows)."""
    if counts["tracks_in"] == 0:
        source = f"dataset {dataset} has no track of collection/tracks" if dataset else "collection/tracks is empty"
        fix = "discogs-tools build-dataset / ingest collection" if dataset else "discogs-tools ingest collection"
        raise InputError(ws.table("collection/tracks"), f"{source}: no track to compute features for; run `{fix}`")
    if _nothing_usable(counts):
        raise InputError(rejects_path, f"features {name}: all {counts['rejected']:,} tracks were rejected "
                                       "(reasons in this rejects file); nothing was written")


def run(ws: Workspace, name: str = "default", *, dataset: str | None = None, crop_s: float | None = None,
        workers: int = 1, tracks_per_shard: int = 64, force: bool = False) -> Report:
    """Compute (or complete) the feature set ``features/<name>/``; see the module docstring."""
    if tracks_per_shard < 1 or workers < 1:
        raise ConfigError("--tracks-per-shard and --workers must be at least 1")
    if crop_s is not None and crop_s <= 0:
        raise ConfigError("--crop-s must be positive")
    with output_lock(ws.root, "features", name):
        return _run_locked(ws, name, dataset=dataset, crop_s=crop_s, workers=workers,
                           tracks_per_shard=tracks_per_shard, force=force)


def _run_locked(ws: Workspace, name: str, *, dataset: str | None, crop_s: float | None, workers: int,
                tracks_per_shard: int, force: bool) -> Report:
    """:func:`run` while holding the feature set's lock: a concurrent run of the same name would
    otherwise take this run's live shard for an orphan and delete it."""
    final_root = ws.features / name
    remove_dead_staging(final_root)  # a --force run killed before its swap
    staging = _temp_sibling(final_root) if force and final_root.exists() else None
    try:
        report = _compute(ws, name, staging or final_root, dataset=dataset, crop_s=crop_s, workers=workers,
                          tracks_per_shard=tracks_per_shard, fresh=force)
        if staging is not None:  # --force: the previous feature set stays until the new one is complete
            replace_path(staging, final_root)
            report.outputs["features"] = str(final_root)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    settings = read_settings(final_root)  # what _compute wrote into the feature set
    manifest.record(ws.manifest_path, f"features {name}",
                    {**report.to_dict(), "params": {"dataset": dataset, "crop_s": crop_s, "workers": workers,
                                                     "tracks_per_shard": tracks_per_shard, "force": force},
                     "settings": settings})
    return report


def _compute(ws: Workspace, name: str, root: Path, *, dataset: str | None, crop_s: float | None, workers: int,
             tracks_per_shard: int, fresh: bool) -> Report:
    """Compute (or complete) the feature set in folder ``root`` (the final folder, or the staging
    folder of a ``--force`` run)."""
    front_end = MelFrontEnd()
    settings = settings_for(front_end, crop_s)
    previous = None if fresh else read_settings(root)
    if previous is not None and previous != settings:
        raise ConfigError(f"feature set {root} was computed with other settings ({previous}); "
                          "use another --name or --force to recompute it")
    (root / "index").mkdir(parents=True, exist_ok=True)
    write_settings(root, settings)
    orphans = remove_orphans(root)
    done = set(FeatureStore(root).track_ids)
    next_shard = max(existing_shards(root), default=-1) + 1
    wanted = _track_ids_of_dataset(ws, dataset) if dataset else None

    counts = {"tracks_in": 0, "already_done": 0, "written": 0, "rejected": 0, "frames": 0}
    audio_seconds = 0.0
    rejects_path = ws.rejects / "features" / f"{name}.jsonl"
    failed_rejects = rejects_path.with_name(f"{name}.failed.jsonl")

    def collect(result: dict[str, Any], rejects: RejectsWriter, bar: Progress) -> None:
        nonlocal audio_seconds
        counts["written"] += result["written"]
        counts["frames"] += result["frames"]
        audio_seconds += result["audio_seconds"]
        for r in result["rejects"]:
            rejects.add(file=r["path"], record=r["track_id"], reason=f"{r['kind']}: {r['reason']}")
            key = f"rejected_{r['kind']}"
            counts[key] = counts.get(key, 0) + 1
        bar.update(advance=result["written"] + len(result["rejects"]),
                   records=counts["written"] + counts["already_done"])

    with Timer() as timer, RejectsWriter(rejects_path) as rejects, Progress(f"features {name}", unit="tracks") as bar:
        units = _units(ws, done, wanted, tracks_per_shard, rejects, counts)
        if workers == 1:
            for unit in units:
                collect(compute_unit(str(root), next_shard, unit, crop_s, front_end), rejects, bar)
                next_shard += 1
        else:
            pool = ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(os.getpid(),))
            try:
                pending: list[Future] = []
                for unit in units:  # at most 2 units per worker in flight: bounded memory
                    pending.append(pool.submit(compute_unit, str(root), next_shard, unit, crop_s, front_end))
                    next_shard += 1
                    while len(pending) >= 2 * workers:
                        collect(pending.pop(0).result(), rejects, bar)
                for fut in pending:
                    collect(fut.result(), rejects, bar)
            except BaseException:
                # Interrupted or failed: kill the workers, then remove the shard each was writing
                # (a SIGTERM to the process group kills them before their own cleanup runs).
                stop_pool(pool, interrupted=True)
                remove_orphans(root)
                raise
            stop_pool(pool, interrupted=False)
        counts["rejected"] = rejects.count
        if _nothing_usable(counts):  # keep the previous run's rejects; this run's go aside
            rejects.path = failed_rejects

    _fail_if_nothing_usable(ws, name, dataset, counts, failed_rejects)
    failed_rejects.unlink(missing_ok=True)

    report = Report(stage="features", counts=counts, outputs={"features": str(root)})
    if counts["rejected"]:
        report.outputs["rejects"] = str(rejects_path)
        report.warnings.append(f"{counts['rejected']} tracks rejected (see {rejects_path})")
    if orphans:
        report.warnings.append(f"removed {orphans} leftover files of an interrupted run")
    report.figures.update({"seconds": timer.seconds, "audio_seconds": audio_seconds,
                           "audio_seconds_per_second": audio_seconds / timer.seconds if timer.seconds else 0.0})
    return report
