"""What a pipeline stage runs: the library function of its command, called in this process.

``STEPS`` maps each command a pipeline may name (``command = "ingest discogs"``) to a step: a plain
function taking the workspace, the command's arguments, then its options as keyword-only
parameters named, typed and defaulted as on the command line (discogs_tools.pipeline.options
checks a stage against that signature, tests/test_pipeline_steps.py holds every step against its
CLI command). The CLI commands of ``train``, ``embed``, ``probe``, ``make-pairs``, ``match``,
``ingest playlists`` and ``word2vec`` call the same functions; the other commands only forward their
options to a stage's ``run``, as the small steps below do. The pipeline never goes through the
command line layer (discogs_tools.cli), which imports this package.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from ..cores import workers_or_all
from ..match.command import match
from ..pairs.command import make_pairs
from ..playlists.command import ingest_playlists, word2vec
from ..probe.command import probe
from ..report import Report
from ..train.command import embed, train
from ..workspace import Workspace


def ingest_discogs(ws: Workspace, paths: list[Path], *, strict: bool = False, workers: Optional[int] = None,
                   allow_truncated: bool = False, chunk_mb: Optional[float] = None) -> Report:
    """``ingest discogs``: Discogs XML dumps -> tables/discogs/*."""
    from ..discogs.ingest import run

    sizes = {} if chunk_mb is None else {"chunk_bytes": int(chunk_mb * (1 << 20))}
    return run(paths, ws, strict=strict, workers=workers_or_all(workers), allow_truncated=allow_truncated, **sizes)


def ingest_collection(ws: Workspace, path: Path) -> Report:
    """``ingest collection``: an audio folder or manifest -> tables/collection/tracks."""
    from ..collection import ingest

    return ingest.run(path, ws)


def demo_data(ws: Workspace, out_dir: Path, *, other_releases: int = 120, tracks_per_release: int = 2,
              duration: float = 21.0, playlists: int = 300, workers: Optional[int] = None, seed: int = 0) -> Report:
    """``demo-data``: the demo's synthetic collection, playlists and probe task."""
    from ..demo.synth import generate

    return generate(ws, out_dir, n_other_releases=other_releases, tracks_per_release=tracks_per_release,
                    duration_s=duration, n_playlists=playlists, seed=seed, workers=workers_or_all(workers))


def build_dataset(ws: Workspace, *, name: str = "discogs20", top_styles: int = 400, max_styles: int = 5,
                  min_duration: float = 20.0, validation: float = 0.1, test: float = 0.1, min_releases: int = 50,
                  seed: int = 0) -> Report:
    """``build-dataset``: the Discogs20 recipe."""
    from ..dataset.build import run

    return run(ws, name, top_styles=top_styles, max_styles=max_styles, min_duration=min_duration,
               validation=validation, test=test, min_releases=min_releases, seed=seed)


def cooccurrence(ws: Workspace, *, top_k: int = 10, min_count: int = 1, workers: Optional[int] = None,
                 block_budget: int = 25_000_000, memory_limit: str = "4GB") -> Report:
    """``cooccurrence``: top-k co-occurring tracks of every playlist track."""
    from ..playlists import cooccurrence as stage

    return stage.run(ws, top_k=top_k, min_count=min_count, workers=workers, block_budget=block_budget,
                     memory_limit=memory_limit)


def features(ws: Workspace, *, name: str = "default", dataset: Optional[str] = None, crop_s: Optional[float] = None,
             workers: Optional[int] = None, tracks_per_shard: int = 64, force: bool = False, mel: str = "auto",
             device: str = "auto", collection_root: Optional[str] = None) -> Report:
    """``features``: log-mel spectrogram shards of the collection."""
    from ..features.extract import run

    return run(ws.ensure(), name, dataset=dataset, crop_s=crop_s, workers=workers_or_all(workers),
               tracks_per_shard=tracks_per_shard, force=force, mel=mel, device=device,
               collection_root=collection_root)


def warehouse(ws: Workspace) -> Report:
    """``warehouse``: (re)create warehouse.duckdb."""
    from ..warehouse import build

    return build.run(ws)


STEPS: dict[str, Callable[..., Report]] = {
    "ingest discogs": ingest_discogs,
    "ingest collection": ingest_collection,
    "ingest playlists": ingest_playlists,
    "demo-data": demo_data,
    "match": match,
    "build-dataset": build_dataset,
    "make-pairs": make_pairs,
    "cooccurrence": cooccurrence,
    "word2vec": word2vec,
    "features": features,
    "train": train,
    "embed": embed,
    "probe": probe,
    "warehouse": warehouse,
}


def step_for(command: str, where: str) -> Callable[..., Report]:
    """The step of a command; a one-line ConfigError naming the stage for a command no pipeline can run."""
    from ..errors import ConfigError

    if command not in STEPS:
        raise ConfigError(f"{where}: `{command}` is not a command a pipeline can run "
                          f"(one of: {', '.join(sorted(STEPS))})")
    return STEPS[command]


def call(command: str, ws: Workspace, args: list[str], options: dict[str, Any], where: str) -> Report:
    """Check a stage's arguments and options against its step (the command line's rules) and run it."""
    from .options import bind

    step = step_for(command, where)
    positional, keywords = bind(step, command, args, options, where)
    return step(ws, *positional, **keywords)
