"""The ``features`` stage: log-mel spectrograms for the collection's tracks.

Reads ``collection/tracks`` (optionally only the tracks of ``datasets/<dataset>/tracks``),
skips tracks that already have features (resume), and splits the rest, in table order, into
work units of ``tracks_per_shard`` tracks. Each unit becomes one shard, computed by a worker
process (decode, mono, resample, mel) and published atomically with its index part. Files that
cannot be used (missing, corrupt, empty, silent) are counted into
``rejects/features/<name>.jsonl``: tracks in = already done + written + rejected. A run where
every track is rejected fails and keeps the previous rejects file; its own rejects go to
``<name>.failed.jsonl`` (removed by the next successful run), as in ``ingest collection``.

The mel front end runs in numpy (the Essentia-exact reference, :mod:`.mel`) or in torch
(:mod:`.mel_torch`, within 1e-5 of it), chosen by ``mel``: ``auto`` takes torch on this rank's GPU
when there is one and numpy on CPU. On a GPU the worker processes only decode and resample; this
process batches their signals through the GPU and writes the shards. Under ``torchrun`` the ranks
share the work as :mod:`.ranks` describes.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import manifest
from ..collection.paths import AudioLocator
from ..errors import ConfigError, InputError, MissingInputError, RejectsWriter
from ..io import _temp_sibling, atomic_path, iter_batches, read_table, remove_dead_staging, replace_path
from ..locks import output_lock
from ..manifest import Timer
from ..processes import init_worker, stop_pool
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from .audio import AudioError, load_audio
from .mel import MelFrontEnd
from .ranks import RankGroup, owns_block
from .store import FeatureStore, ShardWriter, existing_shards, read_settings, remove_orphans, write_settings

FORMAT_VERSION = 1


def settings_for(front_end: MelFrontEnd, crop_s: float | None) -> dict[str, Any]:
    """What determines the numbers in a feature set (a resumed run must use the same)."""
    return {"format_version": FORMAT_VERSION, "dtype": "float16", "n_mels": front_end.n_mels,
            "crop_s": crop_s, "front_end": asdict(front_end)}


MEL_BACKENDS = ("auto", "numpy", "torch")

_TORCH_MEL: dict[str, Any] = {}  # one TorchMel per process and device (filter bank built once)
_IN_POOL = False  # set in feature worker processes


def mel_function(front_end: MelFrontEnd, mel: str, device: str = "cpu") -> Callable:
    """The front end as a callable signal -> (frames, n_mels) float32: numpy, or torch on ``device``."""
    if mel == "numpy":
        return front_end
    from .mel_torch import TorchMel

    key = f"{device}:{front_end}"
    if key not in _TORCH_MEL:
        if _IN_POOL:
            import torch

            torch.set_num_threads(1)
        _TORCH_MEL[key] = TorchMel(front_end, device=device)
    return _TORCH_MEL[key]


def resolve_backend(mel: str, device: str) -> tuple[str, str]:
    """(backend, device) for ``--mel``/``--device``: auto is torch on a GPU when there is one, else numpy."""
    if mel not in MEL_BACKENDS:
        raise ConfigError(f"--mel must be one of {', '.join(MEL_BACKENDS)}, not {mel!r}")
    if mel == "numpy":
        return "numpy", "cpu"
    from .mel_torch import resolve_device

    resolved = resolve_device(device)
    if resolved.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: torch sees no CUDA device here")
    if mel == "auto":
        return ("torch", resolved) if resolved.startswith("cuda") else ("numpy", "cpu")
    return "torch", resolved


def compute_unit(root: str, shard: int, items: list[tuple[str, str | None]], crop_s: float | None,
                 front_end: MelFrontEnd, mel: str = "numpy") -> dict[str, Any]:
    """Worker: features of one work unit into shard ``shard``; returns counts and rejected items.
    ``mel`` is ``numpy`` or ``torch`` (on this process's CPU)."""
    compute = mel_function(front_end, mel, "cpu")
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
            writer.add(track_id, compute(decoded.signal))
            audio_seconds += len(decoded.signal) / front_end.sample_rate
        written = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"shard": shard, "written": written, "frames": writer.offset, "rejects": rejects,
            "audio_seconds": audio_seconds}


def init_feature_worker(parent_pid: int) -> None:
    """Pool initializer: :func:`~discogs_tools.processes.init_worker`, then one BLAS and one torch
    thread per worker. The workers are the parallelism; OpenBLAS's own threads in each of them
    (the filter-bank matmul) oversubscribe the cores: the numpy front end ran at half its
    single-thread rate with 2 BLAS threads on the shared 2-core machine."""
    global _IN_POOL
    init_worker(parent_pid)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    _IN_POOL = True  # torch, imported only by the torch front end, gets one thread there


def decode_item(item: tuple[str, str | None], crop_s: float | None, sample_rate: int) -> tuple:
    """Worker of the GPU path: (track_id, path, signal or None, reject or None)."""
    track_id, path = item
    try:
        return track_id, path, load_audio(path, crop_s=crop_s, sample_rate=sample_rate).signal, None
    except AudioError as exc:
        return track_id, path, None, {"track_id": track_id, "path": path, "kind": exc.kind, "reason": exc.reason}


def _decoded(items: list[tuple[str, str | None]], crop_s: float | None, sample_rate: int,
             pool: ProcessPoolExecutor | None, depth: int) -> Iterator[tuple]:
    """Decoded items in order; with a pool at most ``depth`` decodes in flight (bounded memory)."""
    if pool is None:
        for item in items:
            yield decode_item(item, crop_s, sample_rate)
        return
    pending: deque[Future] = deque()
    for item in items:
        pending.append(pool.submit(decode_item, item, crop_s, sample_rate))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def device_unit(root: str, shard: int, items: list[tuple[str, str | None]], crop_s: float | None,
                compute, pool: ProcessPoolExecutor | None, depth: int) -> dict[str, Any]:
    """GPU path: decode in the pool, mel on the device in blocks of tracks, write shard ``shard``."""
    front_end = compute.front_end
    writer = ShardWriter(root, shard, front_end.n_mels)
    rejects: list[dict[str, Any]] = []
    audio_seconds = 0.0
    batch: list[tuple[str, Any]] = []
    samples = 0

    def flush() -> None:
        nonlocal samples
        for (track_id, _), mel in zip(batch, compute.batch([signal for _, signal in batch])):
            writer.add(track_id, mel)
        batch.clear()
        samples = 0

    try:
        for track_id, _path, signal, reject in _decoded(items, crop_s, front_end.sample_rate, pool, depth):
            if reject is not None:
                rejects.append(reject)
                continue
            batch.append((track_id, signal))
            samples += len(signal)
            audio_seconds += len(signal) / front_end.sample_rate
            if samples >= compute.block_frames * front_end.hop_size:
                flush()
        flush()
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


def _inputs(ws: Workspace, dataset: str | None, locate: AudioLocator | None = None) -> list[dict[str, Any]]:
    """What a feature set was computed from, for the manifest: the collection table, the dataset's
    tracks table when one selects the tracks, and the audio files of the selected tracks (count,
    bytes, fingerprint over name/size/mtime: one stat per file, streamed)."""
    table = ws.require_table("collection/tracks", "discogs-tools ingest collection")
    inputs = [{"name": "collection/tracks", **manifest.describe_table(table)}]
    wanted = None
    if dataset:
        inputs.append({"name": f"dataset {dataset} tracks", **manifest.describe_table(ws.dataset(dataset) / "tracks")})
        wanted = _track_ids_of_dataset(ws, dataset)

    def paths() -> Iterator[str | None]:
        for batch in iter_batches(table, columns=["track_id", "path"]):
            for track_id, path in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                if wanted is None or track_id in wanted:
                    yield locate(path) if locate else path

    inputs.append({"name": "audio", **manifest.describe_files(paths())})
    return inputs


def _units(ws: Workspace, done: set[str], wanted: set[str] | None, size: int, rejects: RejectsWriter,
           counts: dict[str, int], group: RankGroup | None = None,
           locate: AudioLocator | None = None) -> Iterator[list[tuple[str, str | None]]]:
    """Pending (track_id, path) of this rank in collection order, grouped by ``size``; duplicates
    rejected (by rank 0 only). Without ranks, every track is this process's. Paths are where the
    audio is now (``locate``: re-rooted when the workspace or the collection moved)."""
    group = group or RankGroup()
    locate = locate or AudioLocator(ws)
    table = ws.require_table("collection/tracks", "discogs-tools ingest collection")
    seen: set[str] = set()
    unit: list[tuple[str, str | None]] = []
    ordinal = 0
    for batch in iter_batches(table, columns=["track_id", "path"]):
        for track_id, path in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            if wanted is not None and track_id not in wanted:
                continue
            if track_id in seen:
                if group.is_main:
                    counts["tracks_in"] += 1
                    rejects.add(file=path, record=track_id, reason="duplicate track_id in collection/tracks")
                    counts["rejected_duplicate"] = counts.get("rejected_duplicate", 0) + 1
                continue
            seen.add(track_id)
            mine = owns_block(ordinal // size, group.rank, group.world)
            ordinal += 1
            if not mine:
                continue
            counts["tracks_in"] += 1
            if track_id in done:
                counts["already_done"] += 1
                continue
            unit.append((track_id, locate(path)))
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


def run(ws: Workspace | str | os.PathLike[str], name: str = "default", *, dataset: str | None = None, crop_s: float | None = None,
        workers: int = 1, tracks_per_shard: int = 64, force: bool = False, mel: str = "auto",
        device: str = "auto", collection_root: str | os.PathLike[str] | None = None) -> Report:
    """Compute (or complete) the feature set ``features/<name>/``; see the module docstring.

    Audio paths are re-rooted when the workspace or the collection moved
    (:class:`~discogs_tools.collection.paths.AudioLocator`; ``collection_root`` places audio that
    moved on its own, else ``DISCOGS_TOOLS_COLLECTION_ROOT``).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank calls this with the same arguments; each
    computes its share and rank 0 returns the merged report (the others return their own counts)."""
    ws = Workspace.of(ws)
    if tracks_per_shard < 1 or workers < 1:
        raise ConfigError("--tracks-per-shard and --workers must be at least 1")
    if crop_s is not None and crop_s <= 0:
        raise ConfigError("--crop-s must be positive")
    backend, on = resolve_backend(mel, device)
    group = RankGroup.join()
    try:
        if group.enabled and force:
            raise ConfigError("--force is not supported under torchrun: recompute into a new --name, "
                              "or run --force without torchrun")
        error: BaseException | None = None
        lock = output_lock(ws.root, "features", name) if group.is_main else nullcontext()
        try:
            lock.__enter__()  # rank 0 holds the lock for the whole run; a refusal stops every rank
        except BaseException as exc:  # noqa: BLE001 - re-raised by settle on this rank
            error = exc
        group.settle(error)
        try:
            return _run_locked(ws, name, dataset=dataset, crop_s=crop_s, workers=workers,
                               tracks_per_shard=tracks_per_shard, force=force, backend=backend, device=on,
                               group=group, locate=AudioLocator(ws, collection_root))
        finally:
            lock.__exit__(None, None, None)
    finally:
        group.leave()


def _run_locked(ws: Workspace, name: str, *, dataset: str | None, crop_s: float | None, workers: int,
                tracks_per_shard: int, force: bool, backend: str, device: str, group: RankGroup,
                locate: AudioLocator | None = None) -> Report:
    """:func:`run` while holding the feature set's lock: a concurrent run of the same name would
    otherwise take this run's live shard for an orphan and delete it."""
    final_root = ws.features / name
    if group.is_main:
        remove_dead_staging(final_root)  # a --force run killed before its swap
    staging = _temp_sibling(final_root) if force and final_root.exists() else None
    try:
        report = _compute(ws, name, staging or final_root, dataset=dataset, crop_s=crop_s, workers=workers,
                          tracks_per_shard=tracks_per_shard, fresh=force, backend=backend, device=device,
                          group=group, locate=locate)
        if staging is not None:  # --force: the previous feature set stays until the new one is complete
            replace_path(staging, final_root)
            report.outputs["features"] = str(final_root)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if group.is_main:
        settings = read_settings(final_root)  # what _compute wrote into the feature set
        manifest.record(ws.manifest_path, f"features {name}",
                        {**report.to_dict(), "inputs": _inputs(ws, dataset, locate), "params": {"dataset": dataset, "crop_s": crop_s, "workers": workers,
                                                         "tracks_per_shard": tracks_per_shard, "force": force,
                                                         "mel": backend, "device": device,
                                                         "ranks": group.world,
                                                         "collection_root": str(locate.root) if locate and
                                                         locate.moved else None},
                         "settings": settings})
    return report


def _prepare(root: Path, settings: dict[str, Any], fresh: bool) -> int:
    """Check the settings of an existing feature set, write them, remove an interrupted run's files;
    returns the number of files removed (rank 0 only, before any rank writes)."""
    previous = None if fresh else read_settings(root)
    if previous is not None and previous != settings:
        raise ConfigError(f"feature set {root} was computed with other settings ({previous}); "
                          "use another --name or --force to recompute it")
    (root / "index").mkdir(parents=True, exist_ok=True)
    write_settings(root, settings)
    return remove_orphans(root)


def _merge_rejects(parts: list[Path], target: Path) -> None:
    """Concatenate the ranks' rejects files (rank order) into ``target``; remove the parts."""
    present = [p for p in parts if p.exists()]
    if not present:
        target.unlink(missing_ok=True)
        return
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        for p in present:
            out.write(p.read_bytes())
    for p in present:
        p.unlink()


def _compute(ws: Workspace, name: str, root: Path, *, dataset: str | None, crop_s: float | None, workers: int,
             tracks_per_shard: int, fresh: bool, backend: str = "numpy", device: str = "cpu",
             group: RankGroup | None = None, locate: AudioLocator | None = None) -> Report:
    """Compute (or complete) the feature set in folder ``root`` (the final folder, or the staging
    folder of a ``--force`` run)."""
    group = group or RankGroup()
    front_end = MelFrontEnd()
    settings = settings_for(front_end, crop_s)
    orphans = 0
    error: BaseException | None = None
    if group.is_main:
        try:
            orphans = _prepare(root, settings, fresh)
        except BaseException as exc:  # noqa: BLE001 - re-raised by settle on this rank
            error = exc
    group.settle(error)
    done = set(FeatureStore(root).track_ids)
    first_shard = max(existing_shards(root), default=-1) + 1
    group.barrier()  # every rank has read the index before any rank writes a shard
    wanted = _track_ids_of_dataset(ws, dataset) if dataset else None

    counts = {"tracks_in": 0, "already_done": 0, "written": 0, "rejected": 0, "frames": 0}
    audio_seconds = 0.0
    rejects_path = ws.rejects / "features" / f"{name}.jsonl"
    failed_rejects = rejects_path.with_name(f"{name}.failed.jsonl")
    rank_rejects = [rejects_path.with_name(f"{name}.rank-{r}.jsonl") for r in range(group.world)]
    my_rejects = rank_rejects[group.rank] if group.enabled else rejects_path
    shard_numbers = (first_shard + group.rank + k * group.world for k in range(1 << 62))

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

    label = f"features {name}" + (f" rank {group.rank}/{group.world}" if group.enabled else "")
    with Timer() as timer, RejectsWriter(my_rejects) as rejects, Progress(label, unit="tracks") as bar:
        units = _units(ws, done, wanted, tracks_per_shard, rejects, counts, group, locate)
        on_device = backend == "torch" and device != "cpu"
        if on_device or workers == 1:
            compute = mel_function(front_end, backend, device) if on_device else None
            pool = ProcessPoolExecutor(max_workers=workers, initializer=init_feature_worker, initargs=(os.getpid(),)) \
                if on_device and workers > 1 else None
            try:
                for unit in units:
                    shard = next(shard_numbers)
                    result = device_unit(str(root), shard, unit, crop_s, compute, pool, 2 * workers) if on_device \
                        else compute_unit(str(root), shard, unit, crop_s, front_end, backend)
                    collect(result, rejects, bar)
            except BaseException:
                if pool is not None:
                    stop_pool(pool, interrupted=True)
                raise
            if pool is not None:
                stop_pool(pool, interrupted=False)
        else:
            pool = ProcessPoolExecutor(max_workers=workers, initializer=init_feature_worker, initargs=(os.getpid(),))
            try:
                pending: list[Future] = []
                for unit in units:  # at most 2 units per worker in flight: bounded memory
                    pending.append(pool.submit(compute_unit, str(root), next(shard_numbers), unit, crop_s,
                                               front_end, backend))
                    while len(pending) >= 2 * workers:
                        collect(pending.pop(0).result(), rejects, bar)
                for fut in pending:
                    collect(fut.result(), rejects, bar)
            except BaseException:
                # Interrupted or failed: kill the workers, then remove the shard each was writing
                # (a SIGTERM to the process group kills them before their own cleanup runs).
                stop_pool(pool, interrupted=True)
                if not group.enabled:  # other ranks' live shards look like orphans too
                    remove_orphans(root)
                raise
            stop_pool(pool, interrupted=False)
        counts["rejected"] = rejects.count
        if not group.enabled and _nothing_usable(counts):  # keep the previous run's rejects; this run's go aside
            rejects.path = failed_rejects

    if group.enabled:  # the final step: every rank is done; merge counts and rejects
        gathered = group.gather((counts, audio_seconds))
        mine = counts
        counts = {}
        for part, _ in gathered:
            for key, value in part.items():
                counts[key] = counts.get(key, 0) + value
        audio_seconds = sum(a for _, a in gathered) if group.is_main else audio_seconds
        if group.is_main:
            _merge_rejects(rank_rejects, failed_rejects if _nothing_usable(counts) else rejects_path)
            FeatureStore(root)  # the merged index reads back, with no track twice
        group.barrier()
        counts = counts if group.is_main else mine

    _fail_if_nothing_usable(ws, name, dataset, counts, failed_rejects)
    if group.is_main:
        failed_rejects.unlink(missing_ok=True)

    report = Report(stage="features", counts=counts, outputs={"features": str(root)})
    if counts["rejected"]:
        report.outputs["rejects"] = str(rejects_path)
        report.warnings.append(f"{counts['rejected']} tracks rejected (see {rejects_path})")
    if orphans:
        report.warnings.append(f"removed {orphans} leftover files of an interrupted run")
    if group.enabled:  # rank 0's counts are every rank's merged; the other ranks report their own
        report.figures["ranks"] = group.world
    report.figures.update({"seconds": timer.seconds, "audio_seconds": audio_seconds,
                           "audio_seconds_per_second": audio_seconds / timer.seconds if timer.seconds else 0.0})
    return report
