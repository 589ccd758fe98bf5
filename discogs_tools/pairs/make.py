"""``make-pairs``: draw epochs of pairs of one association for one split and write them as one run.

A run replaces ``datasets/<dataset>/pairs/<association>/<split>.parquet/`` as a whole (see
:mod:`.output`): every epoch is drawn into a staging folder with ``_pairs.json`` recording the
dataset version the pairs come from (and, for the playlist associations, the versions of the
playlist tables read; :mod:`.provenance`), and the folder is renamed into place only when every
epoch was drawn. So no epoch of an earlier run (perhaps of an earlier build of the dataset, with
other splits) survives a rerun, and a run that fails (an epoch with no pair at all, an error, a
kill) leaves the previous pairs as they were. A run holds the output lock of
``make-pairs <dataset>/<association>/<split>``.

Epochs are drawn in batches: a run from ``--epoch N`` > 0 keeps the stored epochs it does not
redraw when they were made from the same dataset version, inputs, seed and parameters (hard
links, or copies, into the staging folder, so the replace stays one step) and lists them in its
``_pairs.json``; stored pairs made otherwise are refused (:func:`.provenance.kept_epochs`).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .. import manifest
from ..progress import Progress
from ..dataset.hf import write_card
from ..dataset.version import (
    INPUTS_KEY,
    VERSION_KEY,
    StaleInputError,
    current,
    input_versions,
)
from ..errors import ConfigError, DiscogsToolsError
from ..io import atomic_path
from ..locks import output_lock
from ..report import Report
from ..workspace import Workspace
from . import provenance, registry
from .base import PairContext, pair_rng
from .index import SplitIndex, load_split
from .output import epoch_name, pairs_dir, pairs_table, write_epoch
from .stats import diversity

MIN_TRACKS = 2
# Table 5.1 of seed 004 counts pairs per epoch in whole batches of the ICASSP 2023 batch size
# (sec. 5.3.3: 384 pairs; every figure of the table is a multiple of 384).
TABLE_BATCH = 384


def table_5_1(module: Any, n_pairs: int, batch: int) -> dict[str, Any] | None:
    """Table-5.1 row of one epoch (seed 004 sec. 5.3.3) for the associations the table (or sec. 5.5)
    has: model, pairs per epoch (all, and in whole batches of ``batch``), algorithm, and whether
    the pairs differ each epoch; None for the others."""
    row = getattr(module, "TABLE_5_1", None)
    if row is None:
        return None
    model, algorithm, differs = row
    return {"model": model, "algorithm": algorithm, "different_pairs_each_epoch": differs, "batch": int(batch),
            "pairs_per_epoch": int(n_pairs), "pairs_per_epoch_in_batches": int(n_pairs) // int(batch) * int(batch)}


def _why_empty(association: str, dataset: str, word2vec: Path) -> str:
    """Why an association can draw no pair, and what to run about it."""
    rebuild = f"build a larger dataset (`discogs-tools build-dataset --name {dataset}`) or pick another association"
    playlists = ("link collection tracks to playlist tracks (`discogs-tools match --against playlists`, after "
                 "`discogs-tools ingest playlists`)")
    return {
        "release": f"no two of its tracks share a release; {rebuild}",
        "artist": f"no two of its tracks share an artist without also sharing a release; {rebuild}",
        "artist-co": f"no artist has two of its tracks; {rebuild}",
        "label": f"no two of its tracks share a label without also sharing an artist; {rebuild}",
        "playlist-co": f"no playlist holds two of its tracks: {playlists}",
        "playlist-ico": f"no playlist holds two of its tracks: {playlists}",
        "playlist-tco": (f"none of its tracks co-occurs with another of its tracks: run `discogs-tools cooccurrence` "
                         f"and {playlists}"),
        "playlist-w2v": (f"none of its tracks has a Word2Vec vector in {word2vec}: run "
                         f"`discogs-tools word2vec --name {dataset}` (and {playlists})"),
    }.get(association, rebuild)


def _split_too_small(dataset: str, split: str, n_tracks: int) -> DiscogsToolsError:
    fix = ("lower --validation / --test" if split == "train" else f"raise --{split}")
    return DiscogsToolsError(
        f"make-pairs: split {split} of dataset {dataset} has {n_tracks} track(s); at least {MIN_TRACKS} are needed "
        f"to make pairs: run `discogs-tools build-dataset --name {dataset}` with a split that holds tracks ({fix})")


def make_pairs_epochs(ws: Workspace | str | os.PathLike[str], dataset: str, association: str, split: str = "train", first_epoch: int = 0,
                      epochs: int = 1, seed: int = 0, similarity: Any = None, *, word2vec: str | Path | None = None,
                      top: int = 10, index: SplitIndex | None = None, table_batch: int = TABLE_BATCH) -> list[Report]:
    """Write epochs ``first_epoch .. first_epoch + epochs - 1`` as one run (see the module
    docstring); one report per epoch. Deterministic given ``seed`` and the epoch numbers.

    ``similarity``: for playlist-ico, the model's (n_tracks, d) embeddings aligned to the
    split's tracks (sorted track_id order, see :class:`SplitIndex`) or a callable; ``None``
    uses the Word2Vec cosine. ``index``: an already loaded split of the current dataset (for the
    playlist associations: as :func:`.playlists.playlist_index` extends it). ``table_batch``: the
    batch of the Table-5.1 figures (pairs per epoch in whole batches). ``ws``: a Workspace or its path.
    """
    ws = Workspace.of(ws)
    if int(table_batch) < 1:
        raise ConfigError(f"the Table 5.1 batch must be at least 1 pair, got {table_batch}")
    module = registry.get(association)
    with output_lock(ws.root, "make-pairs", f"{dataset}/{association}/{split}"):
        dataset_now = current(ws, dataset)
        # Versions of the workspace tables the association reads besides the dataset, taken before
        # reading them (None for the editorial associations, which read the dataset only).
        tables = tuple(getattr(module, "INPUT_TABLES", ()))
        inputs = input_versions(ws, tables) if tables else None
        index = index or getattr(module, "load_index", load_split)(ws, dataset, split)
        if index.version != dataset_now.version:
            raise StaleInputError(f"make-pairs: the tracks read of dataset {dataset} are not its current build "
                                  f"(rebuilt meanwhile?): run the command again")
        if index.n_tracks < MIN_TRACKS:
            raise _split_too_small(dataset, split, index.n_tracks)
        folder = pairs_dir(ws, dataset, association, split)
        w2v = Path(word2vec) if word2vec else ws.dataset(dataset) / "word2vec" / "vectors.parquet"
        reports: list[Report] = []
        stats_by_epoch: dict[str, dict[str, int]] = {}
        epoch_list = [int(e) for e in range(int(first_epoch), int(first_epoch) + max(int(epochs), 1))]
        params = {"dataset": dataset, "association": association, "split": split, "seed": int(seed), "top": top,
                  "table_batch": int(table_batch),
                  "word2vec": str(word2vec) if word2vec else None,
                  "similarity": "given" if similarity is not None else None}
        stored, kept = provenance.kept_epochs(ws, dataset, association, split, folder, int(first_epoch), epoch_list,
                                              {**params, VERSION_KEY: dataset_now.version, INPUTS_KEY: inputs})
        with atomic_path(folder, is_dir=True) as staging, ExitStack() as stack:
            for epoch in kept:
                _keep_file(folder / epoch_name(epoch), staging / epoch_name(epoch))
                stats_by_epoch[str(epoch)] = (stored.get("stats") or {}).get(str(epoch), {})
            bar = stack.enter_context(Progress(f"make-pairs {association}/{split}", total=len(epoch_list),
                                               unit="epochs", enabled=None if len(epoch_list) > 1 else False))
            for epoch in epoch_list:
                ctx = PairContext(ws=ws, dataset=dataset, split=split, epoch=epoch, seed=int(seed), index=index,
                                  rng=pair_rng(seed, epoch, association, split), similarity=similarity,
                                  options={"word2vec": word2vec, "top": top})
                report = Report(stage=f"make-pairs {association}")
                with manifest.Timer() as timer:
                    result = module.generate(ctx)
                    stats = diversity(index, result.anchors, result.positives)
                    if stats["pairs"] == 0:
                        raise DiscogsToolsError(
                            f"make-pairs: no {association} pairs in split {split} of dataset {dataset} (epoch {epoch}, "
                            f"{index.n_tracks:,} tracks): {_why_empty(association, dataset, w2v)}; "
                            f"the previous pairs are kept")
                    table = pairs_table(index.track_ids, result, association=association, split=split, epoch=epoch)
                    write_epoch(staging, epoch, table, dataset_now.version)
                report.counts.update({"split_tracks": index.n_tracks, **stats, **result.counts,
                                      **index.cache.get("outside_dataset", {})})
                report.counts["tracks_unpaired"] = index.n_tracks - stats["tracks"]
                bar.update(advance=1, records=sum(int(v.get("pairs", 0)) for v in stats_by_epoch.values())
                           + int(stats["pairs"]))
                row = table_5_1(module, stats["pairs"], table_batch)
                if row is not None:
                    report.counts["pairs_per_epoch_in_batches"] = row["pairs_per_epoch_in_batches"]
                    report.figures["table5_1_model"] = row["model"]
                    report.figures["table5_1_algorithm"] = row["algorithm"]
                    report.details.append({"table5_1": row})
                report.figures["seconds"] = round(timer.seconds, 3)
                report.figures["pairs_per_second"] = round(stats["pairs"] / timer.seconds, 1) if timer.seconds else 0.0
                report.outputs["pairs"] = str(folder / epoch_name(epoch))
                stats_by_epoch[str(epoch)] = {**stats, **({"table5_1": row} if row is not None else {})}
                reports.append(report)
            every = sorted([*kept, *epoch_list])
            provenance.write_info(staging, {
                **params, VERSION_KEY: dataset_now.version, "dataset_built_at": dataset_now.built_at,
                INPUTS_KEY: inputs,
                "run": uuid.uuid4().hex, "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "epochs": every, "files": [epoch_name(e) for e in every],
                "stats": {str(e): stats_by_epoch[str(e)] for e in every},
                **({"kept_from_run": stored.get("run"), "kept_epochs": kept} if kept else {})})
        # Committed: the manifest says what was written (one entry per epoch, as Table 1 reads them)
        # and what it was read from.
        recorded_inputs = [manifest.describe_table(p) for p in
                           [ws.dataset(dataset) / "tracks", *(ws.table(t) for t in tables),
                            *([w2v] if association == "playlist-w2v" and w2v.exists() else [])]
                           if Path(p).exists()]
        for epoch, report in zip(epoch_list, reports):
            manifest.record(ws.manifest_path, f"make-pairs {dataset}/{association}/{split}/epoch-{epoch}", {
                **report.to_dict(), "params": {**params, "epoch": epoch, VERSION_KEY: dataset_now.version},
                "inputs": recorded_inputs,
                "table1": {k: v for k, v in stats_by_epoch[str(epoch)].items() if k != "table5_1"},
                **({"table5_1": stats_by_epoch[str(epoch)]["table5_1"]} if "table5_1" in stats_by_epoch[str(epoch)] else {})})
        # The dataset card's configs list every association with stored pairs: this one may be new.
        write_card(ws, dataset)
    return reports


def _keep_file(source: Path, target: Path) -> None:
    """Carry a kept epoch file into the staging folder: a hard link (no copy of the data), or a
    copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def make_pairs(ws: Workspace | str | os.PathLike[str], dataset: str, association: str, split: str = "train", epoch: int = 0,
               seed: int = 0, similarity: Any = None, *, word2vec: str | Path | None = None, top: int = 10,
               index: SplitIndex | None = None, table_batch: int = TABLE_BATCH) -> Report:
    """One epoch as a whole run (replacing the split's pairs): ``make_pairs_epochs`` with one epoch."""
    return make_pairs_epochs(ws, dataset, association, split, epoch, 1, seed, similarity, word2vec=word2vec,
                             top=top, index=index, table_batch=table_batch)[0]
