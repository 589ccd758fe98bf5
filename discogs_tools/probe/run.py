"""The ``probe`` stage: score frozen embeddings of a model (and a random-weight baseline) on one
downstream task with an MLP probe, over several seeds.

    runs/<name>/probe/<task>.json   results: dataset summary, parameters, and per model the mean and
                                    std over seeds of every metric, per-seed values, per-class values
    runs/<name>/probe/<task>.png    per-class bars (or triplet accuracy bars) of every model
    runs/<name>/probe/embeddings/   embeddings computed here from runs/checkpoints (cached)
    rejects/probe/<name>.<task>.jsonl  records left out (with --skip-invalid)

Every model is scored on exactly the same records and split: records whose tracks lack an
embedding in any probed model are left out of all of them (or are an error without
``skip_invalid``). Seeds ``seed, seed+1, ...`` change the probe's initial weights and batch order;
the split is drawn once (from ``seed``) unless fixed by the manifest. The results file holds no
timing, so a rerun writes the same bytes; timings go to the report and the manifest.

``protocol`` names how the probe is trained (:mod:`discogs_tools.probe.protocols`): the default
``mean-embedding`` trains on per-track mean embeddings; ``ismir2022`` trains on per-patch
embeddings of the frozen backbone (random patches per epoch, track-level averages of the
activations at validation and test; :mod:`discogs_tools.probe.patches`); ``maest`` trains on mean
embeddings with the MAEST schedule and dropout; ``5-fold`` probes a multi-class task on each of 5
stratified folds (:mod:`discogs_tools.probe.folds`) and summarises over the folds.
"""

from __future__ import annotations

import math
import os
import re
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import manifest
from ..errors import ConfigError, RejectsWriter
from ..io import table_files, write_json_atomic
from ..locks import output_lock
from ..report import Report
from ..workspace import Workspace
from .backbone import (
    Embedder,
    ModelSource,
    embeddings_for,
    resolve_features,
    resolve_source,
)
from .crosscollection import (
    TRAIN_FRACTION_NOTE,
    any_label_scores,
    holdout_splits,
    map_labels,
    read_class_map,
)
from .datasets import (
    MULTICLASS,
    MULTILABEL,
    TRIPLETS,
    BadRecords,
    DatasetOptions,
    ProbeDataset,
    assign_splits,
    evaluate_frozen_triplets,
    fix_vocabulary,
    load_dataset,
    reject_records,
)
from .embeddings import Embeddings, load_stack
from .folds import FEW_SHOT_TRIALS, few_shot, stratified_folds
from .metrics import (
    macro_roc_auc,
    mean_std,
    multiclass_scores,
    multilabel_scores,
    triplet_scores,
)
from .mlp import ProbeConfig, train_classifier, train_triplet_projection
from .patches import (
    PatchBank,
    PatchEmbedder,
    cached_patch_embedder,
    stack_banks,
    train_patch_classifier,
)
from .protocols import DEFAULT as DEFAULT_PROTOCOL
from .protocols import FINETUNE, MEAN, PATCHES, Protocol, grid_configs
from .protocols import get as get_protocol
from .ticker import counting

RANDOM_BASELINE = "random-init"
# Metrics summarised over seeds, per task kind (the first is the primary one).
METRICS = {
    "multilabel": ("roc_auc", "pr_auc", "map", "p_at_5", "p_at_10", "mrr"),
    "multiclass": ("accuracy", "balanced_accuracy"),
    "triplets": ("triplet_accuracy", "distance_gap", "frozen_triplet_accuracy", "frozen_distance_gap"),
}
PER_CLASS_METRICS = {"multilabel": ("roc_auc", "pr_auc"), "multiclass": ("recall",), "triplets": ()}


@dataclass
class ProbedModel:
    """One row of the results: a name, its role and the stacked embeddings."""

    name: str
    role: str                     # model | baseline
    sources: list[dict[str, Any]]
    embeddings: Embeddings
    patches: PatchBank | None = None  # per-patch embeddings (protocols that train on patches)
    finetune: dict[str, Any] | None = None  # fine-tuning: {"source", "store", "random_init"}


def safe_name(text: str) -> str:
    """A file-name-safe version of a run or task name."""
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", text).strip("._") or "probe"


def task_name(dataset: Path) -> str:
    """Default task name: the manifest's file name without extensions."""
    name = dataset.name
    while Path(name).suffix:
        name = Path(name).stem
    return safe_name(name)


def results_path(workspace: Workspace, name: str, task: str) -> Path:
    return workspace.runs / name / "probe" / f"{task}.json"


def run(
    dataset: str | os.PathLike[str],
    *,
    workspace: Workspace,
    models: Sequence[str | os.PathLike[str]],
    name: str | None = None,
    task: str | None = None,
    features: str | None = None,
    options: DatasetOptions = DatasetOptions(),
    config: ProbeConfig | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    crop_hop: int | None = None,
    patch_embedder: PatchEmbedder | None = None,
    from_scratch: bool = False,
    grid_search: bool = False,
    grid: dict[str, Sequence[Any]] | None = None,
    shots: int | None = None,
    few_shot_trials: int = FEW_SHOT_TRIALS,
    test_collection: str | os.PathLike[str] | None = None,
    class_map: str | os.PathLike[str] | None = None,
    seed: int = 0,
    seeds: int = 3,
    baseline: bool = True,
    baseline_embeddings: Sequence[str | os.PathLike[str]] = (),
    skip_invalid: bool = False,
    plot: bool = True,
    embedder: Embedder | None = None,
) -> Report:
    """Probe the stack of ``models`` (embedding files, runs or checkpoints, concatenated in order)
    on the task of the manifest ``dataset``; see the module docstring for outputs.

    ``config`` defaults to the protocol's (``protocols.get(protocol).config(epochs=...)`` builds
    one with changes); a given ``config`` is used as is. ``crop_hop`` (frames) is the grid of the
    random training patches of a patch protocol (default the protocol's, 64). ``from_scratch``
    (icassp2023-finetune only) fine-tunes a random initialisation of the backbone instead of its
    trained weights. ``grid_search`` tries every combination of the protocol's grid (``grid``
    replaces it) with the first seed and keeps the one of the best validation score. ``shots``
    (``5-fold`` only): few-shot, ``shots`` train records per class in each fold, drawn
    ``few_shot_trials`` times (seed 004 sec. 3.3.5). ``test_collection`` (``5-fold`` only):
    cross-collection evaluation (seed 004 sec. 3.2.3), trained on 80/20 of ``dataset`` and tested
    on that manifest, its labels mapped through ``class_map``
    (:mod:`discogs_tools.probe.crosscollection`)."""
    proto = get_protocol(protocol)
    if config is None:
        config = proto.config()
    hop = crop_hop if crop_hop is not None else proto.crop_hop
    if from_scratch and proto.inputs != FINETUNE:
        raise ConfigError("--from-scratch fine-tunes a random initialisation: it needs --protocol icassp2023-finetune "
                          "(a frozen random-weight backbone is the random-init baseline row)")
    if shots is not None and not proto.folds:
        raise ConfigError("--few-shot cuts the train split of each fold: it needs --protocol 5-fold (seed 004 sec. 3.3.5)")
    if test_collection is not None and (not proto.folds or shots):
        raise ConfigError("--test-collection (cross-collection evaluation, seed 004 sec. 3.2.3) needs --protocol "
                          "5-fold and no --few-shot")
    if class_map is not None and test_collection is None:
        raise ConfigError("--class-map maps the labels of --test-collection: give both")
    if few_shot_trials < 1:
        raise ConfigError(f"--few-shot-trials must be at least 1, got {few_shot_trials}")
    search = None
    if grid_search or grid:
        chosen_grid = {k: tuple(v) for k, v in (grid or proto.grid).items()}
        if not chosen_grid:
            raise ConfigError(f"--grid-search: protocol {proto.name} has no grid (maest has: seed 004 sec. 6.3.3)")
        if proto.inputs != MEAN:
            raise ConfigError(f"--grid-search works on mean embeddings, not with --protocol {proto.name}")
        search = grid_configs(config, chosen_grid)
    if not models:
        raise ConfigError("probe needs at least one model: an embeddings file, a run or a checkpoint")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    dataset_path = Path(dataset)
    sources = [resolve_source(m, workspace) for m in models]
    name = safe_name(name or "+".join(s.label for s in sources))
    # A protocol other than the default names its results apart (<manifest>-<protocol>.json), so
    # probing one task under several protocols keeps every result; --task names them explicitly.
    task = safe_name(task) if task else task_name(dataset_path) + (
        f"-{proto.name}" if proto.name != DEFAULT_PROTOCOL and test_collection is None else "") + (
        f"-{shots}shot" if shots else "") + (f"-cross-{task_name(Path(test_collection))}" if test_collection else "")
    out_json = results_path(workspace, name, task)
    rejects_path = workspace.rejects / "probe" / f"{name}.{task}.jsonl"
    report = Report(stage="probe")
    seed_list = [seed + k for k in range(seeds)]

    with output_lock(workspace.root, "probe", f"{name}.{task}"):  # one writer per result file
        with manifest.Timer() as timer:
            with ExitStack() as stack:
                rejects = stack.enter_context(RejectsWriter(rejects_path)) if skip_invalid else None
                bad = BadRecords(dataset_path, rejects)
                data = load_dataset(dataset_path, options, bad, workspace=workspace)
                other, bad_other, loading = None, None, data
                if test_collection is not None:
                    bad_other = BadRecords(test_collection, rejects)
                    other = load_dataset(test_collection, DatasetOptions(separator=options.separator), bad_other,
                                         workspace=workspace)
                    loading = _union(data, other)
                # 5-fold on a backbone: per-timestamp embeddings (seed 004 sec. 3.2.1)
                timestamps = bool(proto.timestamps_hz) and all(s.embeddable for s in sources) and \
                    not baseline_embeddings
                if proto.inputs == FINETUNE:
                    probed = _load_finetune_models(data, sources, name, workspace, features, baseline,
                                                   baseline_embeddings, from_scratch, proto)
                elif proto.inputs == PATCHES or timestamps:
                    probed = _load_patch_models(loading, sources, name, workspace, features, seed, baseline,
                                                baseline_embeddings, patch_embedder, proto, hop,
                                                out_json.parent / "patches",
                                                rate_hz=proto.timestamps_hz if timestamps else None)
                else:
                    probed = _load_models(loading, sources, name, workspace, features, seed, baseline,
                                          baseline_embeddings, embedder, out_json.parent / "embeddings", report)
                    if proto.timestamps_hz:
                        report.warnings.append(
                            f"--protocol {proto.name} trains on {proto.timestamps_hz:g}-Hz timestamps (seed 004 sec. "
                            "3.2.1) when given runs or checkpoints; embedding files hold one vector per track, so "
                            "these were probed on per-track embeddings")
                data = _drop_tracks_without_embeddings(data, probed, bad)
                trainings = len(probed) * ((len(search) + len(seed_list)) if search is not None else len(seed_list))
                trainings *= (proto.folds or 1) * (few_shot_trials if shots else 1)
                stack.enter_context(counting(f"probe {name}/{task}", total=trainings * config.epochs))
                if other is not None and bad_other is not None:
                    other = _drop_tracks_without_embeddings(other, probed, bad_other)
                    if search is not None:
                        raise ConfigError("--grid-search does not combine with --test-collection")
                    data, evaluated = evaluate_cross_collection(data, other, probed, config, seed_list, seed, class_map)
                elif proto.folds:
                    data, evaluated = _evaluate_folds(data, probed, config, seed_list, search, proto.folds, seed,
                                                      shots, few_shot_trials)
                else:
                    data = assign_splits(data, options, seed)
                    data = fix_vocabulary(data, bad)
                    evaluated = [_evaluate(data, m, config, seed_list, search) for m in probed]

        results = {
            "task": task,
            "kind": data.kind,
            "name": name,
            "primary_metric": "balanced_accuracy" if proto.folds else METRICS[data.kind][0],
            "dataset": {
                "path": str(dataset_path.resolve()),
                "records_read": data.records_read,
                "records_used": len(data),
                "rejected": bad.count,
                "rejected_by_reason": dict(sorted(bad.reasons.items())),
                "split": data.notes.get("split"),
                "split_sizes": data.notes.get("split_sizes") or data.split_sizes(),
                **({"test_collection": {**data.notes["test_collection"], "rejected": bad_other.count}}
                   if bad_other is not None else {}),
                "classes": data.classes,
                "unknown_classes": data.notes.get("unknown_classes", {}),
            },
            "params": {"seeds": seed_list, "split_seed": seed, "probe": config.to_dict(),
                       "protocol": {**proto.describe(), **({"crop_hop": hop} if proto.inputs == PATCHES else {}),
                                    **({"inputs": "timestamps", "rate_hz": proto.timestamps_hz} if timestamps
                                       else {}),
                                    **({"from_scratch": from_scratch} if proto.inputs == FINETUNE else {}),
                                    **({"few_shot": shots, "few_shot_trials": few_shot_trials} if shots else {})},
                       "dataset_options": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}},
            "models": evaluated,
        }
        write_json_atomic(out_json, _finite(results))
        report.outputs["results"] = str(out_json)
        if plot:
            from .plot import plot_results

            report.outputs["plot"] = str(plot_results(results, out_json.with_suffix(".png")))
        if bad.count:
            report.outputs["rejects"] = str(rejects_path)
            report.warnings.append(f"{bad.count} record(s) left out: {dict(bad.reasons)} (see {rejects_path})")
        if data.notes.get("unknown_classes"):
            report.warnings.append(f"labels never seen in train removed: {data.notes['unknown_classes']}")
        excluded = evaluated[0].get("excluded_classes") or {}
        if excluded:
            report.warnings.append(f"{len(excluded)} class(es) excluded from the macro averages: {excluded}")

        sizes = data.split_sizes()
        report.counts.update({"records": data.records_read, "used": len(data), "rejected": bad.count,
                              **{f"{s}": n for s, n in sizes.items()}, "classes": len(data.classes),
                              "models": len(evaluated), "seeds": len(seed_list)})
        for m in evaluated:
            for metric in METRICS[data.kind][:2]:
                s = m["summary"][metric]
                report.figures[f"{metric} [{m['name']}]"] = _pm(s["mean"], s["std"])
        report.figures["seconds"] = round(timer.seconds, 2)
        report.details = [{"model": m["name"], "role": m["role"], "dim": m["dim"], "summary": m["summary"]} for m in evaluated]
        manifest.record(workspace.manifest_path, f"probe {name}/{task}", {
            **report.to_dict(),
            "inputs": {"dataset": _describe(dataset_path), "models": [_describe(Path(s["path"])) for m in probed for s in m.sources]},
            "params": results["params"],
        })
        return report


# --------------------------------------------------------------------------- models


def _load_models(data: ProbeDataset, sources: list[ModelSource], name: str, workspace: Workspace,
                 features: str | None, seed: int, baseline: bool, baseline_embeddings: Sequence[Any],
                 embedder: Embedder | None, cache_dir: Path, report: Report) -> list[ProbedModel]:
    """Embeddings of the probed stack and of its random-weight baseline, for the dataset's tracks."""
    track_ids = data.track_ids
    feature_dir = resolve_features(features, sources, workspace)
    paths = [embeddings_for(s, features=feature_dir, cache_dir=cache_dir, track_ids=track_ids, embedder=embedder)
             for s in sources]
    probed = [ProbedModel(name, "model", [{**s.describe(), "path": str(p)} for s, p in zip(sources, paths)],
                          load_stack(paths, track_ids))]
    if baseline_embeddings:
        files = [resolve_source(b, workspace) for b in baseline_embeddings]
        bpaths = [embeddings_for(b, features=None, cache_dir=cache_dir, track_ids=track_ids) for b in files]
        probed.append(ProbedModel(RANDOM_BASELINE, "baseline", [b.describe() for b in files],
                                  load_stack(bpaths, track_ids)))
    elif baseline and all(s.embeddable for s in sources):
        bpaths = [embeddings_for(s, features=feature_dir, cache_dir=cache_dir, track_ids=track_ids,
                                 embedder=embedder, random_init_seed=seed + k) for k, s in enumerate(sources)]
        probed.append(ProbedModel(RANDOM_BASELINE, "baseline",
                                  [{**s.describe(), "path": str(p), "random_init_seed": seed + k}
                                   for k, (s, p) in enumerate(zip(sources, bpaths))],
                                  load_stack(bpaths, track_ids)))
    elif baseline:
        report.warnings.append("no random-weight baseline: the model was given as embedding files; give a run or "
                               "checkpoint (or --baseline-embeddings from `discogs-tools embed` of a random-init backbone)")
    for m in probed:
        if len(m.embeddings.ids) == 0:
            raise ConfigError(f"no track of {data.path} has an embedding in {', '.join(m.embeddings.sources)}; "
                              "check that both use the same track ids")
    return probed


def _load_patch_models(data: ProbeDataset, sources: list[ModelSource], name: str, workspace: Workspace,
                       features: str | None, seed: int, baseline: bool, baseline_embeddings: Sequence[Any],
                       patch_embedder: PatchEmbedder | None, proto: Protocol, crop_hop: int,
                       cache_dir: Path, rate_hz: float | None = None) -> list[ProbedModel]:
    """Per-patch embeddings of the probed stack and of its random-weight baseline (patch protocols):
    these need the backbone, so every model must be a run or a checkpoint. The banks are kept on
    disk under ``cache_dir`` (memory-mapped, reused by the next probe of the same inputs). With
    ``rate_hz`` the banks hold one embedding every 1 / rate_hz seconds (the 5-fold timestamps)."""
    files = [s for s in sources if not s.embeddable]
    if files:
        raise ConfigError(f"--protocol {proto.name} embeds patches with the frozen backbone: give a run or a "
                          f"checkpoint, not the embedding file {files[0].path}")
    if baseline_embeddings:
        raise ConfigError(f"--protocol {proto.name} builds its random-weight baseline from the backbone; "
                          "--baseline-embeddings cannot be used with it")
    track_ids = data.track_ids
    feature_dir = resolve_features(features, sources, workspace)
    embed = patch_embedder or cached_patch_embedder(cache_dir, rate_hz)

    def probed_model(label: str, role: str, init_seeds: list[int | None]) -> ProbedModel:
        banks = [embed(s, feature_dir, track_ids, k, crop_hop) for s, k in zip(sources, init_seeds)]
        bank = stack_banks(banks)
        if not bank.ids:
            raise ConfigError(f"no track of {data.path} has features in {feature_dir}; "
                              "check that both use the same track ids")
        described = [{**s.describe(), **({"random_init_seed": k} if k is not None else {})}
                     for s, k in zip(sources, init_seeds)]
        return ProbedModel(label, role, described,
                           Embeddings(bank.ids, bank.track_means(), tuple(str(s.path) for s in sources)), bank)

    probed = [probed_model(name, "model", [None] * len(sources))]
    if baseline:
        probed.append(probed_model(RANDOM_BASELINE, "baseline", [seed + k for k in range(len(sources))]))
    return probed


def _load_finetune_models(data: ProbeDataset, sources: list[ModelSource], name: str, workspace: Workspace,
                          features: str | None, baseline: bool, baseline_embeddings: Sequence[Any],
                          from_scratch: bool, proto: Protocol) -> list[ProbedModel]:
    """The backbone to fine-tune (and its From Scratch twin as the baseline): one run or checkpoint,
    and the feature set its patches are cut from. The embeddings are placeholders (one zero per
    track with features) that only say which tracks can be used."""
    from ..features.store import FeatureStore

    if len(sources) != 1 or not sources[0].embeddable:
        raise ConfigError(f"--protocol {proto.name} fine-tunes one backbone: give one run or checkpoint"
                          + (f", not the embedding file {sources[0].path}" if not sources[0].embeddable else ""))
    if data.kind == TRIPLETS:
        raise ConfigError(f"--protocol {proto.name} is for tagging tasks; similarity triplets are evaluated "
                          "without fine-tuning (seed 004 sec. 5.3.6): use --protocol mean-embedding")
    if baseline_embeddings:
        raise ConfigError(f"--protocol {proto.name} fine-tunes its baseline from a random initialisation; "
                          "--baseline-embeddings cannot be used with it")
    feature_dir = resolve_features(features, sources, workspace)
    store = FeatureStore(feature_dir)
    present = [t for t in data.track_ids if t in store]
    if not present:
        raise ConfigError(f"no track of {data.path} has features in {feature_dir}; check that both use the same "
                          "track ids")
    placeholder = Embeddings(present, np.zeros((len(present), 1), np.float32), (str(feature_dir),))
    source = sources[0]

    def model(label: str, role: str, random_init: bool) -> ProbedModel:
        return ProbedModel(label, role, [{**source.describe(), "random_init": random_init,
                                          "features": str(feature_dir)}], placeholder,
                           finetune={"source": source, "store": store, "random_init": random_init})

    if from_scratch:
        return [model(name, "model", True)]
    return [model(name, "model", False)] + ([model(RANDOM_BASELINE, "baseline", True)] if baseline else [])


def _drop_tracks_without_embeddings(data: ProbeDataset, probed: list[ProbedModel], bad: BadRecords) -> ProbeDataset:
    track_ids = data.track_ids
    missing: dict[str, str] = {}
    for m in probed:
        lacking = [t for t in track_ids if t not in m.embeddings and t not in missing]
        share = f"{sum(t not in m.embeddings for t in track_ids)} of {len(track_ids)} tracks lack one"
        for t in lacking:
            missing[t] = f"track {t} has no embedding in {', '.join(m.embeddings.sources)} ({share})"
    if not missing:
        return data
    columns = ("anchor", "positive", "negative") if data.kind == TRIPLETS else ("track_id",)

    def reason(i: int) -> str | None:
        return next((missing[data.columns[c][i]] for c in columns if data.columns[c][i] in missing), None)

    return reject_records(data, bad, reason, "no embedding")


# --------------------------------------------------------------------------- evaluation


def _evaluate(data: ProbeDataset, model: ProbedModel, config: ProbeConfig, seeds: list[int],
              search: list[tuple[dict[str, Any], ProbeConfig]] | None = None) -> dict[str, Any]:
    searched: dict[str, Any] = {}
    if search is not None:
        if data.kind == TRIPLETS:
            raise ConfigError("--grid-search is for tagging and classification tasks, not triplets")
        trials = []
        for choice, candidate in search:  # the first seed only; the test split is not looked at
            first, _ = _evaluate_labelled(data, model.embeddings, candidate, seeds[:1])
            trials.append({**choice, "validation_score": first[0]["validation_score"]})
        best = max(range(len(trials)), key=lambda i: (_finite_or(trials[i]["validation_score"]), -i))
        config = search[best][1]
        searched = {"grid_search": {"chosen": search[best][0], "seed": seeds[0], "trials": trials}}
    if data.kind == TRIPLETS:
        per_seed, extra = _evaluate_triplets(data, model.embeddings, config, seeds)
    else:
        per_seed, extra = _evaluate_labelled(data, model.embeddings, config, seeds, model.patches, model.finetune)
    summary = {metric: mean_std([p[metric] for p in per_seed]) for metric in METRICS[data.kind]}
    return {"name": model.name, "role": model.role, "dim": model.embeddings.dim, "sources": model.sources,
            "summary": summary, "per_seed": per_seed, **extra, **searched}


def _evaluate_folds(data: ProbeDataset, probed: list[ProbedModel], config: ProbeConfig, seeds: list[int],
                    search: list[tuple[dict[str, Any], ProbeConfig]] | None, n_folds: int, seed: int,
                    shots: int | None = None, trials: int = FEW_SHOT_TRIALS
                    ) -> tuple[ProbeDataset, list[dict[str, Any]]]:
    """Stratified k-fold cross-validation of a multi-class task (seed 004 sec. 3.2.2): every model
    is probed on each fold (with every seed); its ``summary`` is the mean and sample std over the
    folds of each fold's mean, ``folds`` holds each fold's summary, split sizes and runs.
    ``shots``: few-shot (seed 004 sec. 3.3.5), each fold's train split cut to ``shots`` records per
    class, ``trials`` times with different draws (``default_rng([seed, fold, trial])``); the fold's
    value is then the mean over trials and seeds.
    Returns the dataset with the first fold's splits (for the dataset summary) and the entries."""
    if data.kind != MULTICLASS:
        raise ConfigError(f"--protocol {n_folds}-fold is for multi-class tasks (one label per track; seed 004 "
                          f"sec. 3.2.2, whose tasks are all multi-class), not {data.kind}")
    note = f"stratified {n_folds}-fold (seed {seed}; 20% test, the rest 85/15 train/validation)"
    if shots:
        note += f"; few-shot: {shots} train record(s) per class, {trials} trial(s)"
    if data.fixed_split:
        note += "; the manifest's split column is ignored"
    keys = data.columns["track_id"]
    labels = [ls[0] for ls in data.columns["labels"]]
    fold_splits = stratified_folds(keys, labels, n_folds=n_folds, seed=seed)
    no_rejects = BadRecords(data.path)  # stratification puts every class in every train split
    runs: list[list[dict[str, Any]]] = [[] for _ in probed]
    first: ProbeDataset | None = None
    for k, splits in enumerate(fold_splits):
        draws = ([few_shot(keys, labels, splits, shots, seed=[seed, k, t]) for t in range(trials)] if shots
                 else [list(splits)])
        entries: list[list[dict[str, Any]]] = [[] for _ in probed]
        for t, drawn in enumerate(draws):
            fold = fix_vocabulary(replace(data, splits=drawn, notes={**data.notes, "split": note}), no_rejects)
            first = first or fold
            for j, m in enumerate(probed):
                entry = _evaluate(fold, m, config, seeds, search)
                entry.update(split_sizes=fold.split_sizes(), per_seed=[{**({"trial": t} if shots else {}), **p}
                                                                      for p in entry["per_seed"]])
                entries[j].append(entry)
        for j, per_trial in enumerate(entries):
            per_seed = [p for e in per_trial for p in e["per_seed"]]
            runs[j].append({"fold": k, "split_sizes": per_trial[0]["split_sizes"],
                            "summary": {metric: mean_std([p[metric] for p in per_seed]) for metric in METRICS[MULTICLASS]},
                            "per_class": [e["per_class"] for e in per_trial], "per_seed": per_seed,
                            **({"grid_search": [e["grid_search"] for e in per_trial]} if search is not None else {})})
    assert first is not None
    evaluated = []
    for m, per_fold in zip(probed, runs):
        summary = {metric: mean_std([f["summary"][metric]["mean"] for f in per_fold]) for metric in METRICS[MULTICLASS]}
        per_class = {c: {"recall": mean_std([pc[c]["recall"]["mean"] for f in per_fold for pc in f["per_class"]
                                             if c in pc])} for c in first.classes}
        folds = [{k: v for k, v in f.items() if k != "per_class"} for f in per_fold]
        evaluated.append({"name": m.name, "role": m.role, "dim": m.embeddings.dim, "sources": m.sources,
                          "summary": summary, "folds": folds, "per_class": per_class, "excluded_classes": {}})
    return first, evaluated


def _union(data: ProbeDataset, other: ProbeDataset) -> ProbeDataset:
    """The records of both collections, to embed every track once (cross-collection evaluation)."""
    if other.kind == TRIPLETS:
        raise ConfigError(f"--test-collection {other.path} holds triplets: it needs labels")
    shared = set(data.columns["track_id"]) & set(other.columns["track_id"])
    if shared:
        raise ConfigError(f"--test-collection shares {len(shared)} track(s) with the training collection, "
                          f"e.g. {sorted(shared)[0]}: a cross-collection test must be unseen")
    return replace(data, columns={k: data.columns[k] + other.columns[k] for k in ("track_id", "labels")},
                   splits=[None] * (len(data) + len(other)), lines=data.lines + other.lines)


def evaluate_cross_collection(data: ProbeDataset, other: ProbeDataset, probed: list[ProbedModel],
                              config: ProbeConfig, seeds: list[int], seed: int,
                              class_map: str | os.PathLike[str] | None) -> tuple[ProbeDataset, list[dict[str, Any]]]:
    """Train on a stratified 80/20 train/validation split of ``data`` (multi-class), test on
    ``other`` with its labels mapped onto the classes (seed 004 sec. 3.2.3, 3.3.1); see
    :mod:`discogs_tools.probe.crosscollection`. Per model: summary over seeds, per-seed values."""
    if data.kind != MULTICLASS:
        raise ConfigError(f"cross-collection evaluation trains a multi-class task (seed 004 sec. 3.2.3), not {data.kind}")
    keys = data.columns["track_id"]
    splits = holdout_splits(keys, [ls[0] for ls in data.columns["labels"]], seed=seed)
    data = fix_vocabulary(replace(data, splits=splits, notes={**data.notes, "split": f"{TRAIN_FRACTION_NOTE} (seed {seed}); "
                                                             f"test: {other.path.name}"}), BadRecords(data.path))
    classes = data.classes
    truth = map_labels(other.columns["labels"], read_class_map(class_map) if class_map else {}, classes)
    test_ids = [t for t, labels in zip(other.columns["track_id"], truth) if labels]
    truth = [labels for labels in truth if labels]
    if not test_ids:
        raise ConfigError(f"no track of {other.path} has a label matching a class {classes} (directly or through "
                          "--class-map)")
    data.notes["test_collection"] = {"path": str(other.path.resolve()), "records_read": other.records_read,
                                     "records_scored": len(test_ids),
                                     "records_without_a_class": len(other) - len(test_ids),
                                     "class_map": str(Path(class_map).resolve()) if class_map else None}
    data.notes["split_sizes"] = {**data.split_sizes(), "test": len(test_ids)}
    y = data.label_matrix()
    tr, va = data.split_indices("train"), data.split_indices("validation")
    evaluated = []
    def accuracy(yv: np.ndarray, outputs: np.ndarray) -> float:
        return float((outputs.argmax(axis=1) == yv).mean())

    for m in probed:
        per_seed, per_class_runs = [], []
        for s in seeds:
            if m.patches is not None:  # per-timestamp embeddings: activations averaged per test track
                bank = m.patches
                rows = np.array([bank.index[t] for t in keys], np.int64)
                patch_probe = train_patch_classifier(bank, rows[tr], y[tr], rows[va], y[va], multilabel=False,
                                                     n_classes=len(classes), config=config, seed=s, score=accuracy)
                probe, outputs = patch_probe, patch_probe.predict_tracks([bank.index[t] for t in test_ids])
            else:
                x = m.embeddings.rows(keys)
                probe = train_classifier(x[tr], y[tr], x[va], y[va], multilabel=False, n_classes=len(classes),
                                         config=config, seed=s, score=accuracy)
                outputs = probe.predict(m.embeddings.rows(test_ids))
            scores = any_label_scores(truth, outputs, classes)
            per_class_runs.append(scores.pop("per_class"))
            excluded = scores.pop("excluded_classes")
            per_seed.append({"seed": s, "best_epoch": probe.best_epoch, "validation_score": probe.best_score, **scores})
        per_class = {c: {"recall": mean_std([r[c]["recall"] for r in per_class_runs]),
                         "test_positives": per_class_runs[0][c]["positives"]} for c in per_class_runs[0]}
        evaluated.append({"name": m.name, "role": m.role, "dim": m.embeddings.dim, "sources": m.sources,
                          "summary": {k: mean_std([p[k] for p in per_seed]) for k in METRICS[MULTICLASS]},
                          "per_seed": per_seed, "per_class": per_class, "excluded_classes": excluded})
    return data, evaluated


def _finite_or(value: float, default: float = -math.inf) -> float:
    return value if value is not None and not math.isnan(value) else default


def _evaluate_labelled(data: ProbeDataset, emb: Embeddings, config: ProbeConfig, seeds: list[int],
                       patches: PatchBank | None = None, finetune: dict[str, Any] | None = None
                       ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    multilabel = data.kind == MULTILABEL
    x = emb.rows(data.columns["track_id"])
    bank_rows = (np.array([patches.index[t] for t in data.columns["track_id"]], dtype=np.int64)
                 if patches is not None else None)
    y = data.label_matrix()
    tr, va, te = (data.split_indices(s) for s in ("train", "validation", "test"))
    classes = data.classes
    if multilabel:
        def validation_score(yv: np.ndarray, logits: np.ndarray) -> float:
            return macro_roc_auc(yv, logits)
        score_test = multilabel_scores
    else:
        def validation_score(yv: np.ndarray, logits: np.ndarray) -> float:
            return float((logits.argmax(axis=1) == yv).mean())
        score_test = multiclass_scores
    per_seed: list[dict[str, Any]] = []
    per_class_runs: list[dict[str, dict[str, Any]]] = []
    excluded: dict[str, str] = {}
    for s in seeds:
        if finetune is not None:
            probe, test_scores = _finetune_seed(data, y, finetune, multilabel, len(classes), config, s)
        elif patches is not None and bank_rows is not None:
            patch_probe = train_patch_classifier(patches, bank_rows[tr], y[tr], bank_rows[va], y[va],
                                                 multilabel=multilabel, n_classes=len(classes), config=config,
                                                 seed=s, score=validation_score)
            probe, test_scores = patch_probe, patch_probe.predict_tracks(bank_rows[te])
        else:
            probe = train_classifier(x[tr], y[tr], x[va], y[va], multilabel=multilabel, n_classes=len(classes),
                                     config=config, seed=s, score=validation_score)
            test_scores = probe.predict(x[te])
        scores = score_test(y[te], test_scores, classes)
        per_class_runs.append(scores.pop("per_class"))
        excluded = scores.pop("excluded_classes")
        scores.pop("classes_scored", None)
        per_seed.append({"seed": s, "best_epoch": probe.best_epoch, "validation_score": probe.best_score, **scores})
    per_class: dict[str, dict[str, Any]] = {}
    for c in classes:
        if c in excluded:
            continue
        entry: dict[str, Any] = {m: mean_std([r[c][m] for r in per_class_runs]) for m in PER_CLASS_METRICS[data.kind]}
        entry["test_positives"] = per_class_runs[0][c]["positives"]
        per_class[c] = entry
    return per_seed, {"per_class": per_class, "excluded_classes": excluded}


def _finetune_seed(data: ProbeDataset, y: np.ndarray, finetune: dict[str, Any], multilabel: bool, n_classes: int,
                   config: ProbeConfig, seed: int) -> tuple[Any, np.ndarray]:
    """One seed of icassp2023-finetune: (an object with best_epoch and best_score, test activations)."""
    from ..train.embed import load_backbone, resolve_device
    from .backbone import checkpoint_path, random_twin
    from .finetune import average_precision_score_macro
    from .finetune import finetune as run_finetune

    store = finetune["store"]
    path = checkpoint_path(finetune["source"])

    def make_backbone() -> Any:  # runs inside the seeded RNG fork: a random init depends on the seed
        backbone, cfg = load_backbone(path)
        return random_twin(backbone, cfg, n_mels=store.n_mels) if finetune["random_init"] else backbone

    splits = {s: data.split_indices(s) for s in ("train", "validation", "test")}
    ids = data.columns["track_id"]
    positions = {s: store.positions([ids[i] for i in idx]) for s, idx in splits.items()}
    result = run_finetune(make_backbone, store, positions, {s: y[idx] for s, idx in splits.items()},
                          multilabel=multilabel, n_classes=n_classes, config=config, seed=seed,
                          score=average_precision_score_macro, device=resolve_device("auto"))
    return result, result.test_scores


def _evaluate_triplets(data: ProbeDataset, emb: Embeddings, config: ProbeConfig,
                       seeds: list[int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if data.notes.get("frozen_only"):  # all-test triplets (dim-sim): no projection to train, seed 004 sec. 5.3.6
        return evaluate_frozen_triplets(data, emb, seeds)
    ids = data.track_ids
    x = emb.rows(ids)
    index = {t: i for i, t in enumerate(ids)}
    triplets = np.array([[index[data.columns[c][i]] for c in ("anchor", "positive", "negative")]
                         for i in range(len(data))], dtype=np.int64).reshape(-1, 3)
    tr, va, te = (triplets[data.split_indices(s)] for s in ("train", "validation", "test"))
    frozen = triplet_scores(x[te[:, 0]], x[te[:, 1]], x[te[:, 2]])
    per_seed = []
    for s in seeds:
        probe = train_triplet_projection(x, tr, va, config=config, seed=s)
        z = probe.predict(x)
        scores = triplet_scores(z[te[:, 0]], z[te[:, 1]], z[te[:, 2]])
        per_seed.append({"seed": s, "best_epoch": probe.best_epoch, "validation_score": probe.best_score,
                         "triplet_accuracy": scores["triplet_accuracy"], "distance_gap": scores["distance_gap"],
                         "frozen_triplet_accuracy": frozen["triplet_accuracy"],
                         "frozen_distance_gap": frozen["distance_gap"]})
    return per_seed, {"per_class": {}, "excluded_classes": {}, "frozen": frozen}


# --------------------------------------------------------------------------- helpers


def _pm(mean: float, std: float) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.4f} ± {std:.4f}"


def _finite(obj: Any) -> Any:
    """NaN/inf -> None, so the results are strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj


def _describe(path: Path) -> Any:
    """Manifest description of an input file or folder of parts (sizes and checksums)."""
    if path.is_dir():
        return [manifest.describe_input(p) for p in table_files(path)] or {"path": str(path)}
    if path.exists():
        return manifest.describe_input(path)
    return {"path": str(path)}
