"""``make-pairs``: draw one epoch of pairs of one association for one split and write them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import manifest
from ..errors import DiscogsToolsError
from ..report import Report
from ..workspace import Workspace
from . import registry
from .base import PairContext, pair_rng
from .index import SplitIndex, load_split
from .output import epoch_path, pairs_table, write_pairs
from .stats import diversity

MIN_TRACKS = 2


def make_pairs(ws: Workspace, dataset: str, association: str, split: str = "train", epoch: int = 0,
               seed: int = 0, similarity: Any = None, *, word2vec: str | Path | None = None, top: int = 10,
               index: SplitIndex | None = None) -> Report:
    """Write ``datasets/<dataset>/pairs/<association>/<split>.parquet/epoch-<E>.parquet``.

    ``similarity``: for playlist-ico, the model's (n_tracks, d) embeddings aligned to the
    split's tracks (sorted track_id order, see :class:`SplitIndex`) or a callable; ``None``
    uses the Word2Vec cosine. ``index``: a loaded split to reuse across epochs.
    Deterministic given ``seed`` and ``epoch``.
    """
    module = registry.get(association)
    index = index or load_split(ws, dataset, split)
    if index.n_tracks < MIN_TRACKS:
        raise DiscogsToolsError(f"make-pairs: split {split} of dataset {dataset} has {index.n_tracks} track(s); "
                                f"at least {MIN_TRACKS} are needed to make pairs")
    ctx = PairContext(ws=ws, dataset=dataset, split=split, epoch=int(epoch), seed=int(seed), index=index,
                      rng=pair_rng(seed, epoch, association, split), similarity=similarity,
                      options={"word2vec": word2vec, "top": top})
    report = Report(stage=f"make-pairs {association}")
    with manifest.Timer() as timer:
        result = module.generate(ctx)
        table = pairs_table(index.track_ids, result, association=association, split=split, epoch=int(epoch))
        path = write_pairs(epoch_path(ws, dataset, association, split, epoch), table)
    stats = diversity(index, result.anchors, result.positives)
    report.counts.update({"split_tracks": index.n_tracks, **stats, **result.counts})
    report.counts["tracks_unpaired"] = index.n_tracks - stats["tracks"]
    report.figures["seconds"] = round(timer.seconds, 3)
    report.figures["pairs_per_second"] = round(stats["pairs"] / timer.seconds, 1) if timer.seconds else 0.0
    report.outputs["pairs"] = str(path)
    if stats["pairs"] == 0:
        report.warnings.append(f"no pairs could be made for {association} in split {split}")
    params = {"dataset": dataset, "association": association, "split": split, "epoch": int(epoch),
              "seed": int(seed), "top": top, "word2vec": str(word2vec) if word2vec else None,
              "similarity": "given" if similarity is not None else None}
    manifest.record(ws.manifest_path, f"make-pairs {dataset}/{association}/{split}/epoch-{int(epoch)}",
                    {**report.to_dict(), "params": params, "table1": stats})
    return report
