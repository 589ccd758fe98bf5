"""The ``train`` stage: read top to bottom.

1. resolve config (``--resume`` loads the run's last checkpoint and its config), device, DDP;
2. build model, Adam (``lr``, ``adam_betas``, ``weight_decay``), the LR schedule
   (:mod:`.schedules`: plateau, warmup_cosine or constant, then the SWA phase), AMP scaler,
   optional SWA;
3. every epoch: ask the :class:`~.data.PairSource` for that epoch's pairs, map tracks to
   feature rows (missing ones counted, or an error with ``strict``), shuffle with a generator
   seeded by (seed, epoch), give each rank its share, train on random crops in optimiser steps
   of ``accumulate`` micro-batches (:mod:`.steps`), validate on fixed crops, let the schedule
   see the epoch's loss, write metrics.jsonl and metrics.csv (:mod:`.curves`), checkpoints/last.pt,
   best.pt (lowest validation loss) and, with ``keep_epoch_checkpoints``, checkpoints/epoch-NNN.pt;
   at the end, curves.png (loss, top-1, lr per epoch);
   MAEST (seed 004 ch. 6) adds: initial weights from a DeiT/PaSST file (:mod:`.maest_init`), the
   training set's input mean/std stored in the backbone (:mod:`.input_stats`), a balanced sample
   of ``epoch_tracks`` tracks per epoch (:mod:`.balanced_sampler`), mixup and SpecAugment on the
   training batches (:mod:`.augment`), SWA every ``swa_every`` epochs;
4. with SWA: recompute batch-norm statistics of the averaged model and save checkpoints/swa.pt;
5. report the run's Table-1 figures (seed 000 Table 1) per association: pairs, diversity,
   training time, validation top-1.

Every random choice derives from ``seed``: the data order and crops from (seed, epoch), the
model's own randomness (stochastic depth) from torch's generator, which checkpoints save and
restore, so a resumed run continues exactly as an uninterrupted one would (bitwise on CPU).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import manifest
from ..errors import ConfigError, DiscogsToolsError, InputError, MissingInputError
from ..features.store import FeatureStore
from ..io import _temp_sibling, remove_dead_staging, write_text_atomic
from ..locks import output_lock
from ..progress import Progress
from .curves import write_curves, write_metrics_csv
from ..report import Report
from ..workspace import Workspace
from . import checkpoint as ckpt_io
from .config import TrainConfig
from .data import (
    IcoPairSource,
    PairSource,
    ParquetPairSource,
    StyleTargets,
    TaskPlan,
    TrackVectors,
    apply_view_augmentation,
    crops,
    default_ico_function,
    prefetch,
    shard_for_rank,
    steps_in,
)
from .distributed import DistInfo, all_reduce_sum, barrier, setup, teardown
from .embed import features_root, make_embedder, resolve_device
from .schedules import LrSchedule
from .steps import accumulated_step

ARCH_KEYS = ("backbone", "objective", "tasks", "embedding_dim", "n_styles", "vector_dim")


class TrainingError(DiscogsToolsError):
    """Training cannot go on (non-finite loss, ...); the last good checkpoint is left untouched."""


@dataclass
class Inputs:
    """Everything the loop reads besides the model."""

    store: FeatureStore
    source: PairSource | None
    vectors: TrackVectors | None
    styles: StyleTargets | None


def _load_inputs(ws: Workspace, cfg: TrainConfig, source: PairSource | None,
                 ico_fn: Callable | None) -> Inputs:
    store = FeatureStore(features_root(ws, cfg.features))
    vectors = TrackVectors.load(ws, cfg.w2v_vectors) if cfg.objective == "w2v" else None
    styles = None
    if cfg.objective == "classification":
        if not cfg.dataset:
            raise ConfigError("objective classification needs --dataset (its tracks hold the styles)")
        styles = StyleTargets.load(ws, cfg.dataset, cfg.top_styles)
        if not styles.vocabulary:
            raise InputError(ws.dataset(cfg.dataset) / "tracks", "no styles in the train split")
    elif source is None:
        if cfg.objective == "ico":
            source = IcoPairSource(ico_fn or default_ico_function(ws, cfg.dataset), cfg.seed)
        else:
            if not cfg.dataset:
                raise ConfigError(f"objective {cfg.objective} needs --dataset (whose pairs to train on)")
            source = ParquetPairSource(ws, cfg.dataset)
    return Inputs(store, source, vectors, styles)


def _plan(cfg: TrainConfig, inputs: Inputs, split: str, epoch: int, dist: DistInfo,
          counts: dict[str, int]) -> list[TaskPlan]:
    """This rank's pairs per task for one epoch/split, as feature rows, shuffled (train only)."""
    store = inputs.store
    plans: list[TaskPlan] = []
    rng = np.random.default_rng([cfg.seed, epoch, 0])
    tasks = ["styles"] if inputs.styles is not None else list(cfg.associations)
    for task in tasks:
        extra: Any = None
        if inputs.styles is not None:
            ids, labels = inputs.styles.by_split.get(split, ([], []))
            anchor = store.positions(ids)
            positive = anchor
            extra_all: Any = labels
        else:
            pairs = inputs.source.pairs(task, split, epoch)
            anchor, positive = store.positions(pairs.anchor), store.positions(pairs.positive)
            extra_all = None
            if inputs.vectors is not None:
                extra_all = np.fromiter((inputs.vectors.row.get(t, -1) for t in pairs.anchor), dtype=np.int64,
                                        count=len(pairs))
        ok = (anchor >= 0) & (positive >= 0)
        missing = int((~ok).sum())
        no_vector = 0
        if extra_all is not None and inputs.vectors is not None:
            no_vector = int((ok & (extra_all < 0)).sum())
            ok &= extra_all >= 0
        if missing or no_vector:
            what = f"{missing} of {len(anchor)} {task} {split} pairs (epoch {epoch}) involve tracks without features"
            if no_vector:
                what += f" and {no_vector} anchors have no Word2Vec vector"
            if cfg.strict:
                raise InputError(features_root_hint(cfg), what + " (--strict)")
            counts[f"skipped_{split}_pairs"] = counts.get(f"skipped_{split}_pairs", 0) + missing + no_vector
        index = np.flatnonzero(ok)
        if split == "train" and inputs.styles is not None and cfg.epoch_tracks is not None:
            # seed 004 sec. 6.3.1: a balanced sample without replacement, weighted by inverse label frequency
            from .balanced_sampler import balanced_epoch

            chosen = balanced_epoch([extra_all[i] for i in index], len(inputs.styles.vocabulary), cfg.epoch_tracks,
                                    np.random.default_rng([cfg.seed, epoch, 6]))
            index = index[chosen]
        if split == "train":
            index = index[rng.permutation(len(index))]
        dropped = len(index) % dist.world_size
        counts["dropped_for_ranks"] = counts.get("dropped_for_ranks", 0) + dropped
        index = shard_for_rank(index, dist.rank, dist.world_size)
        if extra_all is not None:
            extra = [extra_all[i] for i in index] if isinstance(extra_all, list) else extra_all[index]
        plans.append(TaskPlan(task, anchor[index], positive[index], extra))
    return plans


def features_root_hint(cfg: TrainConfig) -> str:
    return f"features {cfg.features}"


def _mixes_views(cfg: TrainConfig) -> bool:
    """The SimCLR baseline's views are two mixes of the anchor patch (seed 004 sec. 5.3.3)."""
    return cfg.objective == "simclr" and cfg.simclr_augment == "mix"


def _batches(cfg: TrainConfig, model, inputs: Inputs, plans: list[TaskPlan], rng: np.random.Generator | None,
             sizes: list[int], steps: int, view_rng: np.random.Generator | None = None,
             aug_rng: np.random.Generator | None = None):
    """Yield (x_anchor, x_positive | None, sizes, side | None, n_pairs) as numpy arrays.

    ``steps`` micro-batches of ``sizes[i]`` pairs of task i; with ``simclr_augment = mix`` the two
    views come from :func:`~.data.apply_view_augmentation` (drawing from ``view_rng``); with
    ``aug_rng`` (training only) SpecAugment and mixup of the MAEST recipe (:mod:`.augment`)."""
    store = inputs.store
    mix = _mixes_views(cfg)
    for step in range(steps):
        parts = [(p, p.anchor[step * s:(step + 1) * s], p.positive[step * s:(step + 1) * s],
                  None if p.extra is None else p.extra[step * s:(step + 1) * s]) for p, s in zip(plans, sizes)]
        if any(len(a) < 2 for _, a, _, _ in parts):
            return  # a contrastive batch of one has no negatives
        anchors = np.concatenate([a for _, a, _, _ in parts])
        xa = crops(store, anchors, cfg.crop_frames, rng)
        xp = crops(store, np.concatenate([p for _, _, p, _ in parts]), cfg.crop_frames, rng) \
            if model.two_views and not mix else None
        if mix:
            xa, xp = apply_view_augmentation(xa, xp, cfg, view_rng)
        side = None
        if inputs.vectors is not None:
            side = inputs.vectors.matrix[np.concatenate([e for *_, e in parts])]
        elif inputs.styles is not None:
            side = np.zeros((len(anchors), len(inputs.styles.vocabulary)), dtype=np.float32)
            for row, labels in enumerate(l for *_, e in parts for l in e):
                side[row, labels] = 1.0
        if aug_rng is not None:
            xa, xp, side = _augment(cfg, xa, xp, side, aug_rng)
        yield xa, xp, [len(a) for _, a, _, _ in parts], side, len(anchors)


def _augment(cfg: TrainConfig, xa, xp, side, rng: np.random.Generator):
    """SpecAugment, then mixup (seed 004 sec. 6.3.2), as the run's config asks."""
    from .augment import mixup, spec_augment

    if cfg.specaugment_time_masks or cfg.specaugment_freq_masks:
        for x in (xa, xp):
            if x is not None:
                spec_augment(x, rng, time_masks=cfg.specaugment_time_masks, time_width=cfg.specaugment_time_width,
                             freq_masks=cfg.specaugment_freq_masks, freq_width=cfg.specaugment_freq_width)
    if cfg.mixup_alpha > 0 and side is not None and len(xa) > 1:
        xa, side, _, _ = mixup(xa, side, cfg.mixup_alpha, rng)
    return xa, xp, side


class _Echo:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, line: str) -> None:
        if self.enabled:
            print(line, file=sys.stderr, flush=True)


def run(ws: Workspace | str | os.PathLike[str], cfg: TrainConfig, *, resume: bool = False, force: bool = False,
        init_from: str | None = None, source: PairSource | None = None, ico_fn: Callable | None = None,
        echo: Callable[[str], None] | None = None) -> Report:
    """Train (or resume) the run ``runs/<cfg.run>/``; returns the final Report.

    The main process (rank 0 under torchrun) holds the run's output lock, so a second
    ``train --run NAME`` cannot interleave its checkpoints with this one's."""
    ws = Workspace.of(ws)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    with output_lock(ws.root, "train", cfg.run) if main_rank else nullcontext():
        return _run(ws, cfg, resume=resume, force=force, init_from=init_from, source=source, ico_fn=ico_fn,
                    echo=echo)


def _run(ws: Workspace, cfg: TrainConfig, *, resume: bool, force: bool, init_from: str | None,
         source: PairSource | None, ico_fn: Callable | None, echo: Callable[[str], None] | None) -> Report:
    import torch

    run_dir = ws.runs / cfg.run
    ckpt_dir = run_dir / "checkpoints"
    last_path = ckpt_dir / "last.pt"
    saved = None
    if resume:
        saved = ckpt_io.load(last_path)
        cfg = TrainConfig.from_dict(saved["config"]).resumed_with(cfg)
    elif last_path.exists() and not force:
        raise ConfigError(f"run {cfg.run} already has checkpoints in {ckpt_dir}; use --resume or --force")

    device = resolve_device(cfg.device)
    dist = setup(str(device))
    if dist.enabled and device.type == "cuda":
        device = torch.device(f"cuda:{dist.local_rank}")
        torch.cuda.set_device(device)
    say = echo or _Echo(dist.is_main)
    aside = None
    if force and not resume and dist.is_main and run_dir.exists():
        # --force starts over, but the previous run is only moved aside until this one has
        # finished: a forced run refused for stale pairs, failed or interrupted gives it back.
        remove_dead_staging(run_dir)
        aside = _temp_sibling(run_dir, "old")
        os.replace(run_dir, aside)
    barrier(dist)
    try:
        report = _train(ws, cfg, saved, init_from, source, ico_fn, device, dist, say, run_dir, last_path)
        # Rank 0 still writes the manifest after the last collective: the ranks leave together,
        # so that no rank tears the process group down while another is still using it.
        barrier(dist)
    except BaseException:
        if aside is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
            os.replace(aside, run_dir)
        raise
    finally:
        teardown(dist)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return report


def _train(ws, cfg, saved, init_from, source, ico_fn, device, dist, say, run_dir, last_path) -> Report:
    import torch
    from torch.optim.swa_utils import AveragedModel

    from .model import TrainModel

    started = time.perf_counter()
    inputs = _load_inputs(ws, cfg, source, ico_fn)
    torch.manual_seed(cfg.seed)
    model = TrainModel(cfg, n_styles=len(inputs.styles.vocabulary) if inputs.styles else 0,
                       vector_dim=inputs.vectors.dim if inputs.vectors else 0).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    init_path = _init_backbone(ws, model, init_from) if init_from else None
    maest_notes = _prepare_maest(cfg, model, inputs, saved is not None, say)
    # Adam (seed 000 sec. 4.2; betas 0.9/0.999 in seed 004 sec. 5.3.3, not stated for MAEST in ch. 6: torch's
    # default); weight decay as torch's Adam (L2)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.adam_betas),
                                 weight_decay=cfg.weight_decay)
    schedule = LrSchedule(cfg)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    swa = AveragedModel(model) if cfg.swa_start is not None else None
    history: list[dict[str, Any]] = []
    best_val = math.inf
    start_epoch = 0
    if saved is not None:
        ckpt_io.check_signature(last_path, saved["arch"], model.signature, ARCH_KEYS)
        ckpt_io.load_state(model, saved["model"], last_path, "model")
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        if swa is not None and saved.get("swa") is not None:
            swa.load_state_dict(saved["swa"])
        history, best_val, start_epoch = saved["history"], saved["best_val"], saved["epoch"]
        ckpt_io.restore_rng(saved["rng"])
    net = model
    if dist.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if isinstance(inputs.source, IcoPairSource):
        inputs.source.embedder = make_embedder(model.backbone, inputs.store, batch_size=cfg.batch_size,
                                               device=device, amp=use_amp)
    if dist.is_main:
        _check_stored_pairs(cfg, inputs)  # a run refused for stale pairs leaves no run folder
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.json", cfg.to_json())
        if maest_notes.get("input_stats"):
            write_text_atomic(run_dir / "input_stats.json", json.dumps(maest_notes["input_stats"], indent=2) + "\n")
    counts: dict[str, int] = {}
    notes: list[str] = []
    sizes = cfg.task_sizes()
    say(f"train {cfg.run}: {cfg.objective} on {', '.join(model.tasks)} with {cfg.backbone} on {device}"
        f"{f' x{dist.world_size} ranks' if dist.enabled else ''}; epochs {start_epoch}..{cfg.epochs - 1}"
        f"; {cfg.schedule} schedule; {' + '.join(map(str, sizes))} pairs per batch"
        f"{f' x{cfg.accumulate} per optimiser step' if cfg.accumulate > 1 else ''}")
    val_plans = None
    for epoch in range(start_epoch, cfg.epochs):
        _share_ico_similarity(model, inputs)
        if val_plans is None or isinstance(inputs.source, IcoPairSource):
            val_plans = _validation_plan(cfg, inputs, dist, counts, notes)
        plans = _plan(cfg, inputs, "train", epoch, dist, counts)
        micro = steps_in(plans, sizes, None)
        steps = -(-micro // cfg.accumulate)
        if cfg.max_steps_per_epoch is not None:
            steps = min(steps, cfg.max_steps_per_epoch)
            micro = min(micro, steps * cfg.accumulate)
        if steps == 0:
            raise InputError(f"features {cfg.features}", f"epoch {epoch}: no training pairs with features "
                             f"(skipped {counts.get('skipped_train_pairs', 0)})")
        note = schedule.set_total_steps(steps)
        if note and note not in notes:
            notes.append(note)
        rng = np.random.default_rng([cfg.seed, epoch, 1])
        view_rng = np.random.default_rng([cfg.seed, epoch, 3])
        net.train()
        totals = np.zeros(4)  # loss * n, correct, n (rows scored), pairs
        task_loss = np.zeros(len(model.tasks))
        task_pairs = np.zeros(len(model.tasks), dtype=np.int64)
        taken = micro_done = 0
        t0 = time.perf_counter()
        aug_rng = np.random.default_rng([cfg.seed, epoch, 8])
        batches = iter(prefetch(_batches(cfg, model, inputs, plans, rng, sizes, micro, view_rng, aug_rng),
                                inputs.store, cfg))
        with Progress(f"epoch {epoch}", total=steps, unit="steps") as bar:
            for first in batches:
                group = itertools.chain([first], itertools.islice(batches, cfg.accumulate - 1))
                schedule.before_step(epoch, optimizer)
                outs = accumulated_step(
                    model.parameters(), optimizer, scaler, group,
                    lambda batch: _forward(net, batch, device, dist, use_amp, cfg.channels_last),
                    check=lambda loss, i, e=epoch, t=taken: _check_finite(loss, i, cfg, e, t, dist, device, last_path),
                    no_sync=net.no_sync if dist.enabled else None)
                schedule.after_step()
                for loss, correct, count, per_task, part_sizes, n in outs:
                    totals += (loss.item() * count, correct.item(), count, n)
                    task_loss += [t.item() for t in per_task]
                    task_pairs += part_sizes
                taken += 1
                micro_done += len(outs)
                bar.update(advance=1, records=int(totals[3]))
        seconds = time.perf_counter() - t0
        totals = np.array(all_reduce_sum(totals.tolist(), dist, device))
        task_pairs = np.array(all_reduce_sum(task_pairs.tolist(), dist, device))
        train_loss, train_acc = float(totals[0] / totals[2]), float(totals[1] / totals[2])
        t1 = time.perf_counter()
        val_loss, val_acc, val_tasks = _validate(cfg, model, inputs, val_plans, sizes, device, dist, use_amp)
        val_seconds = time.perf_counter() - t1
        lr_used = schedule.last_lr
        schedule.end_epoch(epoch, val_loss if val_loss is not None else train_loss)
        if swa is not None and epoch >= cfg.swa_start and (epoch - cfg.swa_start) % cfg.swa_every == 0:
            # once per epoch (Izmailov et al. 2018), seed 000 sec. 4.2; every 5 from epoch 50 for MAEST,
            # seed 004 sec. 6.3.2
            swa.update_parameters(model)
        entry = {"epoch": epoch, "train_loss": train_loss, "train_top1": train_acc, "val_loss": val_loss,
                 "val_top1": val_acc, "lr": lr_used, "pairs_per_s": float(totals[3] / seconds) if seconds else 0.0,
                 "pairs": int(totals[3]), "steps": taken, "optimizer_steps": taken, "micro_batches": micro_done,
                 "optimizer_steps_total": schedule.steps, "seconds": seconds, "val_seconds": val_seconds,
                 "pairs_per_task": dict(zip(model.tasks, (int(v) for v in task_pairs)))}
        if len(model.tasks) > 1:
            entry["task_loss"] = dict(zip(model.tasks, (task_loss / micro_done).tolist()))
            entry["val_top1_per_task"] = val_tasks
        history.append(entry)
        improved = val_loss is not None and val_loss < best_val
        best_val = val_loss if improved else best_val
        say(f"epoch {epoch}: loss {train_loss:.4f} top1 {train_acc:.3f}"
            + (f" | val loss {val_loss:.4f} top1 {val_acc:.3f}" if val_loss is not None else "")
            + f" | lr {entry['lr']:.2e} | {entry['pairs_per_s']:.1f} pairs/s")
        if dist.is_main:
            payload = {"config": cfg.to_dict(), "arch": model.signature, "model": model.state_dict(),
                       "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                       "scaler": scaler.state_dict(), "swa": swa.state_dict() if swa is not None else None,
                       "epoch": epoch + 1, "best_val": best_val, "history": history, "rng": ckpt_io.rng_state()}
            ckpt_io.save(last_path, payload)
            if improved or val_loss is None:
                ckpt_io.save(last_path.with_name("best.pt"), payload)
            if cfg.keep_epoch_checkpoints:
                ckpt_io.save(last_path.with_name(ckpt_io.epoch_name(epoch + 1)), payload)
            write_text_atomic(run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
            write_metrics_csv(run_dir, history)
        barrier(dist)

    report = Report(stage="train", counts={"epochs": cfg.epochs, **counts},
                    outputs={"run": str(run_dir), "last": str(last_path)})
    if swa is not None and swa.n_averaged.item() > 0:
        _swa_batchnorm(cfg, swa, inputs, sizes, device, dist)
        if dist.is_main:
            swa_path = last_path.with_name("swa.pt")
            ckpt_io.save(swa_path, {"config": cfg.to_dict(), "arch": model.signature,
                                    "model": swa.module.state_dict(), "epoch": cfg.epochs, "history": history,
                                    "swa_averaged": int(swa.n_averaged.item())})
            report.outputs["swa"] = str(swa_path)
    if history and dist.is_main:
        report.outputs.update({k: str(v) for k, v in write_curves(run_dir, history).items()})
    if history:
        report.figures.update({k: float(v) for k, v in history[-1].items()
                               if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
                               and k not in ("epoch", "pairs", "steps", "optimizer_steps_total")})
        report.figures["last_epoch_seconds"] = report.figures.pop("seconds")
        report.figures["last_epoch_val_seconds"] = report.figures.pop("val_seconds")
    table1 = _table1(cfg, model.tasks, inputs, history)
    report.details.extend({"table": "table1", **row} for row in table1)
    for note in notes + list(getattr(inputs.source, "notes", [])):
        report.warnings.append(note)
    for key, value in counts.items():
        if key.startswith("skipped") and value:
            report.warnings.append(f"{value} pairs skipped because their tracks lack features or vectors "
                                   "(--strict makes this an error)")
    if dist.is_main:
        provenance = getattr(inputs.source, "provenance", None)
        made_from = provenance() if callable(provenance) else {}
        report.figures["seconds"] = time.perf_counter() - started  # this invocation, start to end
        manifest.record(ws.manifest_path, f"train {cfg.run}", {**report.to_dict(), "config": cfg.to_dict(),
                                                               "inputs": _recorded_inputs(ws, cfg, inputs,
                                                                                          init_path),
                                                               "pairs_made_from": made_from, "table1": table1,
                                                               "init_from": str(init_path) if init_path else None,
                                                               **maest_notes})
    return report


def _recorded_inputs(ws: Workspace, cfg: TrainConfig, inputs: Inputs, init_path: str | os.PathLike[str] | None) -> list[dict]:
    """What the run read, for the manifest: the feature set, the stored pairs of every association
    and split it used (make-pairs folders), the dataset's tracks (style targets), the track vectors
    (w2v) and the initial weights: path, files, bytes and fingerprint of each (no data read)."""
    found = [{"name": f"features {cfg.features}", **manifest.describe_table(features_root(ws, cfg.features))}]
    folder = getattr(inputs.source, "path", None)
    if callable(folder) and inputs.styles is None:
        for task in cfg.associations:
            for split in ("train", "validation"):
                try:
                    found.append({"name": f"pairs {task}/{split}", **manifest.describe_table(folder(task, split))})
                except MissingInputError:
                    pass
    if inputs.styles is not None and cfg.dataset:
        found.append({"name": f"dataset {cfg.dataset} tracks",
                      **manifest.describe_table(ws.dataset(cfg.dataset) / "tracks")})
    if inputs.vectors is not None and cfg.w2v_vectors:
        found.append({"name": "vectors", **manifest.describe_table(cfg.w2v_vectors)})  # as TrackVectors.load reads it
    if init_path is not None:
        found.append({"name": "init weights", **manifest.describe_input(init_path)})
    return found


def _check_stored_pairs(cfg: TrainConfig, inputs: Inputs) -> None:
    """Check the stored pairs the run will read (make-pairs folders: provenance, dataset version,
    inputs) before the run folder is created; absent validation pairs are allowed (see
    :func:`_validation_plan`)."""
    check = getattr(inputs.source, "path", None)
    if not callable(check) or inputs.styles is not None:
        return
    for task in cfg.associations:
        check(task, "train")
        try:
            check(task, "validation")
        except MissingInputError:
            pass


def _validation_plan(cfg: TrainConfig, inputs: Inputs, dist: DistInfo, counts: dict[str, int],
                     notes: list[str]) -> list[TaskPlan]:
    """Fixed validation pairs (epoch 0), or none when the pair source has no validation split."""
    try:
        return _plan(cfg, inputs, "validation", 0, dist, counts)
    except MissingInputError as exc:
        note = f"no validation pairs ({exc}); the plateau scheduler follows the training loss"
        if note not in notes:
            notes.append(note)
        return []


def _to_tensors(xa, xp, side, device, channels_last):
    import torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    ta = torch.from_numpy(xa).to(device, non_blocking=True).to(memory_format=fmt)
    tp = torch.from_numpy(xp).to(device, non_blocking=True).to(memory_format=fmt) if xp is not None else None
    ts = torch.from_numpy(side).to(device) if side is not None else None
    return ta, tp, ts


def _forward(net, batch, device, dist, use_amp, channels_last):
    """One micro-batch through the model: (loss, correct, count, per-task losses, task sizes, pairs)."""
    import torch

    xa, xp, part_sizes, side, n = batch
    ta, tp, ts = _to_tensors(xa, xp, side, device, channels_last)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
        loss, correct, count, per_task = net(ta, tp, part_sizes, ts, dist)
    return loss, correct, count, per_task, part_sizes, n


def _check_finite(loss, index: int, cfg: TrainConfig, epoch: int, step: int, dist: DistInfo, device,
                  last_path) -> None:
    """Stop before a non-finite loss reaches the weights (every rank stops together)."""
    if not _finite(loss, dist, device):
        where = f"epoch {epoch} step {step}" + (f" micro-batch {index}" if cfg.accumulate > 1 else "")
        raise TrainingError(f"run {cfg.run}: loss is {loss.item()} at {where}; stopped without saving "
                            f"(last good checkpoint: {last_path if last_path.exists() else 'none'}); "
                            "check the features or lower --lr")


def _finite(loss, dist: DistInfo, device) -> bool:
    import torch

    ok = 1.0 if bool(torch.isfinite(loss)) else 0.0
    return all_reduce_sum([ok], dist, device)[0] == dist.world_size


def _validate(cfg, model, inputs, plans, sizes, device, dist, use_amp):
    """Mean loss, top-1 and top-1 per task over the fixed validation pairs (centre crops); Nones
    without pairs. Per-task counts are read from each head's output with a forward hook, so the
    figures are those of the model's own forward."""
    import torch

    if not plans or not len(plans[0]):
        return None, None, None
    model.eval()
    n_tasks = len(model.tasks)
    totals = np.zeros(3 + 2 * n_tasks)  # loss * n, correct, n, then correct and n per task
    seen: list[tuple] = []
    hooks = [head.register_forward_hook(lambda _m, _i, out: seen.append(out))
             for head in (model.heads[k] for k in model.heads)]
    steps = steps_in(plans, sizes, None)
    view_rng = np.random.default_rng([cfg.seed, 0, 5])  # the same SimCLR views every epoch
    try:
        with torch.no_grad():
            for xa, xp, part_sizes, side, n in _batches(cfg, model, inputs, plans, None, sizes, steps, view_rng):
                ta, tp, ts = _to_tensors(xa, xp, side, device, cfg.channels_last)
                seen.clear()
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    loss, correct, count, _ = model(ta, tp, part_sizes, ts, None)
                totals[:3] += (loss.item() * count, correct.item(), count)
                for i, (_, c, k) in enumerate(seen[:n_tasks]):
                    totals[3 + 2 * i:5 + 2 * i] += (float(c), float(k))
    finally:
        for h in hooks:
            h.remove()
        model.train()
    totals = np.array(all_reduce_sum(totals.tolist(), dist, device))
    if totals[2] == 0:
        return None, None, None
    per_task = {t: (float(totals[3 + 2 * i] / totals[4 + 2 * i]) if totals[4 + 2 * i] else None)
                for i, t in enumerate(model.tasks)}
    return float(totals[0] / totals[2]), float(totals[1] / totals[2]), per_task


def _swa_batchnorm(cfg, swa, inputs, sizes, device, dist, max_steps: int = 50) -> None:
    """Recompute batch-norm statistics of the averaged model on training crops (seeded)."""
    import torch

    bns = [m for m in swa.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    swa.train()
    plans = _plan(cfg, inputs, "train", cfg.epochs, dist, {})
    rng = np.random.default_rng([cfg.seed, cfg.epochs, 2])
    view_rng = np.random.default_rng([cfg.seed, cfg.epochs, 4])
    with torch.no_grad():
        for xa, *_ in _batches(cfg, swa.module, inputs, plans, rng, sizes, min(steps_in(plans, sizes, None), max_steps),
                               view_rng):
            swa.module.backbone(_to_tensors(xa, None, None, device, cfg.channels_last)[0])
    swa.eval()


def _init_backbone(ws: Workspace, model, init_from: str):
    """Initialise the backbone from another run's checkpoint (same backbone architecture only):
    ``RUN@N`` / ``RUN:epoch-NNN`` is the checkpoint after N epochs (ISMIR 2022 multi-task: the
    encoder "initialized ... with the weights of the model based on artist associations on its 20th
    epoch", seed 000 sec. 4.6), see :func:`.checkpoint.resolve_init`. Returns the checkpoint path."""
    path = ckpt_io.resolve_init(ws, init_from)
    other = ckpt_io.load(path)
    saved_arch = {"embedding_head": "pool", **other["arch"]}  # checkpoints from before heads existed: pool
    ckpt_io.check_signature(path, saved_arch, model.signature, ("backbone", "embedding_head", "embedding_dim"))
    state = {k[len("backbone."):]: v for k, v in other["model"].items() if k.startswith("backbone.")}
    ckpt_io.load_state(model.backbone, state, path, "backbone")
    return path


def _prepare_maest(cfg: TrainConfig, model, inputs: Inputs, resumed: bool, say) -> dict[str, Any]:
    """Before the first step of a new run (and before SWA copies the model): load ``init_weights``
    (DeiT/PaSST file, :mod:`.maest_init`) and set the backbone's input statistics from the
    training tracks (:mod:`.input_stats`). A resumed run has both in its checkpoint."""
    notes: dict[str, Any] = {}
    backbone = model.backbone
    if resumed:
        return notes
    if cfg.init_weights:
        if not hasattr(backbone, "n_time"):
            raise ConfigError(f"init_weights loads DeiT/PaSST weights into maest, not {cfg.backbone}")
        from .maest_init import load_initial_weights

        notes["init_weights"] = load_initial_weights(backbone, cfg.init_weights)
        say(f"initial weights: {notes['init_weights']['layout']} layout from {cfg.init_weights}")
    if hasattr(backbone, "set_input_stats"):
        from .input_stats import training_stats

        if inputs.styles is not None:
            positions = inputs.store.positions(inputs.styles.by_split.get("train", ([], []))[0])
        else:
            positions = np.arange(len(inputs.store))
        stats = training_stats(inputs.store, positions, limit=cfg.input_norm_tracks, seed=cfg.seed)
        backbone.set_input_stats(stats["mean"], stats["std"])
        notes["input_stats"] = {**stats, "from": "train split" if inputs.styles is not None else "all tracks"}
        say(f"input normalisation: mean {stats['mean']:.4f}, std {stats['std']:.4f} over {stats['tracks']} tracks")
    return notes


def _share_ico_similarity(model, inputs: Inputs) -> None:
    """ICO scores candidates with the head's bilinear W (seed 004 sec. 5.5.1): hand the current W
    to the pair source before it draws the epoch's pairs."""
    if not isinstance(inputs.source, IcoPairSource) or not hasattr(inputs.source, "bilinear"):
        return
    heads = [h for h in model.heads.values() if hasattr(h, "similarity_matrix")]
    if heads and _accepts_keyword(inputs.source.ico_fn, "bilinear"):  # a stand-in generator may not take W
        inputs.source.bilinear = heads[0].similarity_matrix()


def _accepts_keyword(fn, name: str) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


# Table 1 of seed 000: "association diversity (number of different tracks, releases, artists, and
# record labels, respectively)"; make-pairs writes these counts per epoch into _pairs.json.
DIVERSITY_OF = {"track": "tracks", "release": "releases", "artist": "artists", "label": "labels"}


def _pair_stats(inputs: Inputs, task: str) -> dict[str, int] | None:
    """make-pairs' statistics of the first stored training epoch of ``task`` (None when the pairs
    do not come from make-pairs files)."""
    if not isinstance(inputs.source, ParquetPairSource):
        return None
    from ..pairs import provenance

    try:
        info = provenance.read_info(inputs.source.path(task, "train")) or {}
    except DiscogsToolsError:
        return None
    stats = info.get("stats") or {}
    epochs = sorted(stats, key=int)
    return stats[epochs[0]] if epochs else None


def _table1(cfg: TrainConfig, tasks: list[str], inputs: Inputs, history: list[dict[str, Any]]) -> list[dict]:
    """One row per association as in seed 000 Table 1: pairs, diversity, training time (hours),
    validation top-1 of the kept model (the epoch of lowest validation loss, best.pt)."""
    if not history:
        return []
    hours = sum(e.get("seconds", 0.0) + e.get("val_seconds", 0.0) for e in history) / 3600.0
    scored = [e for e in history if e.get("val_loss") is not None]
    best = min(scored, key=lambda e: e["val_loss"]) if scored else None
    rows = []
    for task in tasks:
        stats = _pair_stats(inputs, task)
        kind = DIVERSITY_OF.get(task)
        if best is None:
            top1 = None
        elif len(tasks) > 1:
            top1 = (best.get("val_top1_per_task") or {}).get(task)
        else:
            top1 = best["val_top1"]
        rows.append({
            "association": task,
            "pairs": int(stats["pairs"]) if stats else int(history[0].get("pairs_per_task", {}).get(task, 0)),
            "pairs_from": "make-pairs statistics (first stored epoch)" if stats else "pairs trained in the first epoch",
            "diversity": int(stats[kind]) if stats and kind in stats else None,
            "diversity_of": kind if stats and kind in stats else None,
            "training_hours": hours,
            "val_top1": top1,
            "val_top1_epoch": best["epoch"] if best else None,
        })
    return rows


__all__ = ["TrainingError", "run"]
