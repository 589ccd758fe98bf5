"""Retrieval quality of a model on the user's own collection, as a probe result.

``discogs-tools probe-retrieval -m RUN`` embeds the collection's tracks with the model (and with
its random-weight twin), and for each association the models are trained on (artist, release,
label, style, playlist; seed 000 sec. 3, seed 004 ch. 5) reports precision@k: the share of a
track's k nearest neighbours by cosine distance that share a value of that association with it
(:func:`discogs_tools.similar.quality.precision_at_k`; the search cosine.club runs, seed 004
sec. 8.2.1). The result is written like every probe result, to
``runs/<name>/probe/collection-retrieval.json`` (kind ``retrieval``), so ``probe-compare`` shows it
next to the model's benchmark scores, with the random-weight twin's row beneath.

No training is involved: one value per model (``n`` = 1, no std). The queries are every track
that has a value of the association, or a sample of ``max_queries`` drawn with ``seed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import manifest
from ..errors import ConfigError, MissingInputError, NothingUsableError
from ..io import read_table, write_json_atomic
from ..locks import output_lock
from ..report import Report
from ..workspace import Workspace
from .backbone import Embedder, embeddings_for, resolve_features, resolve_source
from .embeddings import load_stack

TASK = "collection-retrieval"
RANDOM_BASELINE = "random-init"
# association -> track id -> values (the warehouse's, by default)
ValuesReader = Callable[[Workspace, Sequence[str]], Mapping[str, Mapping[str, Any]]]


def metric_name(k: int, association: str) -> str:
    return f"p_at_{k}_{association}"


def collection_track_ids(workspace: Workspace) -> list[str]:
    """The track ids of the ingested collection (``ingest collection``)."""
    table = workspace.table("collection/tracks")
    if not Path(table).exists():
        raise MissingInputError("collection", table, "discogs-tools ingest collection")
    return [str(t) for t in read_table(table, columns=["track_id"]).column("track_id").to_pylist()]


def run(workspace: Workspace, models: Sequence[str | os.PathLike[str]], *, name: str | None = None,
        features: str | None = None, k: int = 10, max_queries: int = 2_000, seed: int = 0, baseline: bool = True,
        values: ValuesReader | None = None, embedder: Embedder | None = None) -> Report:
    """precision@k per association of the stack of ``models`` (and of its random-weight twin) on
    the collection; see the module docstring. ``values`` replaces the warehouse reader (tests)."""
    from ..similar.quality import association_values, precision_at_k
    from .run import safe_name

    if not models:
        raise ConfigError("probe-retrieval needs at least one model: an embeddings file, a run or a checkpoint")
    if k < 1 or max_queries < 1:
        raise ConfigError(f"-k and --max-queries must be at least 1, got {k} and {max_queries}")
    sources = [resolve_source(m, workspace) for m in models]
    name = safe_name(name or "+".join(s.label for s in sources))
    out_json = workspace.runs / name / "probe" / f"{TASK}.json"
    cache = out_json.parent / "embeddings"
    report = Report(stage="probe-retrieval")
    with output_lock(workspace.root, "probe", f"{name}.{TASK}"), manifest.Timer() as timer:
        wanted = collection_track_ids(workspace)
        feature_dir = resolve_features(features, sources, workspace)
        paths = [embeddings_for(s, features=feature_dir, cache_dir=cache, track_ids=wanted, embedder=embedder)
                 for s in sources]
        model = load_stack(paths, wanted)
        if not len(model.ids):
            raise NothingUsableError(f"no collection track has an embedding in {', '.join(map(str, paths))}; "
                                     "run discogs-tools embed (or give a run or checkpoint and its features)")
        per_track = (values or association_values)(workspace, list(model.ids))
        if not any(per_track.values()):
            raise NothingUsableError("no collection track is linked to a release or a playlist: run discogs-tools "
                                     "match and discogs-tools warehouse first")
        entries = [("model", name, [{**s.describe(), "path": str(p)} for s, p in zip(sources, paths)], model)]
        if baseline and all(s.embeddable for s in sources):
            twin_paths = [embeddings_for(s, features=feature_dir, cache_dir=cache, track_ids=wanted, embedder=embedder,
                                         random_init_seed=seed + j) for j, s in enumerate(sources)]
            entries.append(("baseline", RANDOM_BASELINE,
                            [{**s.describe(), "path": str(p), "random_init_seed": seed + j}
                             for j, (s, p) in enumerate(zip(sources, twin_paths))],
                            load_stack(twin_paths, model.ids)))
        elif baseline:
            report.warnings.append("no random-weight twin: the model was given as embedding files")
        evaluated = []
        for role, label, described, emb in entries:
            scores = precision_at_k(emb.ids, emb.values, per_track, k=k, max_queries=max_queries, seed=seed)
            evaluated.append({
                "name": label, "role": role, "dim": emb.dim, "sources": described,
                "summary": {metric_name(k, a): {"mean": s["precision"], "std": None, "n": 1}
                            for a, s in scores.items()},
                "queries": {a: s["queries"] for a, s in scores.items()},
            })
        results = {"task": TASK, "kind": "retrieval", "name": name,
                   "primary_metric": metric_name(k, "artist"),
                   "dataset": {"tracks": len(model.ids), "associations": sorted(per_track),
                               "tracks_with_a_value": {a: len(v) for a, v in per_track.items()}},
                   "params": {"k": k, "max_queries": max_queries, "seed": seed, "distance": "cosine"},
                   "models": evaluated}
        write_json_atomic(out_json, _json_safe(results))
    report.outputs["results"] = str(out_json)
    report.counts.update({"tracks": len(model.ids), "associations": len(per_track)})
    for entry in evaluated:
        for metric, cell in entry["summary"].items():
            report.figures[f"{metric} [{entry['name']}]"] = cell["mean"]
    if len(evaluated) == 2:
        worse = [m for m, cell in evaluated[0]["summary"].items()
                 if _finite(cell["mean"]) and _finite(evaluated[1]["summary"][m]["mean"])
                 and cell["mean"] <= evaluated[1]["summary"][m]["mean"]]
        if worse:
            report.warnings.append(f"the model does not beat its random-weight twin on {', '.join(worse)}")
    report.figures["seconds"] = round(timer.seconds, 2)
    return report


def _finite(x: Any) -> bool:
    return isinstance(x, float) and np.isfinite(x)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
