"""Where a probed model's embeddings come from: an embedding file, a training run, or a checkpoint.

A model source given on the command line is, in this order of checks:

1. an embedding Parquet file, or a folder of Parquet parts -> read as is;
2. a file (a checkpoint) -> embedded through ``discogs-tools embed``'s library function;
3. a run folder, or the name of one under workspace/runs/ -> embedded from its checkpoint.

Checkpoints and runs are embedded for the dataset's tracks from a feature set (``--features``,
default the run's own), and the result is cached under runs/<name>/probe/embeddings/ with a
sidecar JSON describing what it was made from, so a rerun reuses it and a retrained checkpoint
is embedded again. The random-weight baseline is the same backbone architecture with a seeded
random initialisation, embedded the same way.

The embedding itself is delegated to an :data:`Embedder`; the default uses the library of
``discogs-tools embed`` (:mod:`discogs_tools.train.embed`). Tests and other callers may pass their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pyarrow as pa

from ..errors import ConfigError, InputError, MissingInputError
from ..io import atomic_path, table_files, write_json_atomic
from ..workspace import Workspace

EMBEDDINGS = "embeddings"
CHECKPOINT = "checkpoint"
RUN = "run"


@dataclass(frozen=True)
class ModelSource:
    """One model whose embeddings are probed (several are stacked)."""

    kind: str   # embeddings | checkpoint | run
    path: Path
    label: str

    @property
    def embeddable(self) -> bool:
        """True when the backbone itself is known (so a random-weight twin can be built)."""
        return self.kind in (CHECKPOINT, RUN)

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "path": str(self.path), "label": self.label}


# (source, features folder or None, output Parquet path, track ids, random-init seed or None) -> None
Embedder = Callable[[ModelSource, "Path | None", Path, Sequence[str], "int | None"], None]


def resolve_source(spec: str | os.PathLike[str], workspace: Workspace) -> ModelSource:
    """Classify a model source given by path or run name (see the module docstring)."""
    path = Path(spec).expanduser()
    if (path.is_file() and path.suffix.lower() == ".parquet") or (path.is_dir() and table_files(path)):
        # `discogs-tools embed` writes runs/<run>/embeddings/<features>: name it after the run.
        label = path.parent.parent.name if path.parent.name == "embeddings" else path.stem
        return ModelSource(EMBEDDINGS, path, label)
    if path.is_file():
        return ModelSource(CHECKPOINT, path, path.parent.parent.name if path.parent.name == "checkpoints"
                           else path.stem)
    if path.is_dir():
        return ModelSource(RUN, path, path.name)
    named_run = workspace.runs / str(spec)
    if str(spec) and "/" not in str(spec) and named_run.is_dir():
        return ModelSource(RUN, named_run, str(spec))
    raise MissingInputError("embeddings, checkpoint or run", spec, "discogs-tools train` or `discogs-tools embed")


def run_features(source: ModelSource) -> str | None:
    """The feature set a run was trained on (its config.json), if known."""
    if source.kind != RUN:
        return None
    config = source.path / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("features")
    except (json.JSONDecodeError, OSError):
        return None


def resolve_features(features: str | None, sources: Sequence[ModelSource], workspace: Workspace) -> Path | None:
    """The feature folder to embed from: ``features`` (a name under workspace/features or a path),
    else the first run's own; None when nothing needs embedding."""
    if not any(s.embeddable for s in sources):
        return None
    chosen = features or next((f for f in map(run_features, sources) if f), None)
    if not chosen:
        raise ConfigError("embedding a checkpoint needs --features (a feature set under workspace/features)")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        path = workspace.features / chosen
    if not path.is_dir():
        raise MissingInputError(f"feature set {chosen!r}", path, "discogs-tools features")
    return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("._") or "model"


def _stamp(path: Path) -> dict[str, object]:
    """What identifies a checkpoint or feature set version: size and modification time of its files."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {"path": str(path.resolve()),
            "files": [[str(p.relative_to(path)) if p != path else p.name, p.stat().st_size, p.stat().st_mtime_ns]
                      for p in files[:1000]]}


def random_twin(trained: Any, cfg: Any, **kwargs: Any) -> Any:
    """A random initialisation of ``trained``'s architecture (the random-weight baseline): what the
    architecture learns from data is re-drawn (call it inside a seeded RNG fork), what the toolkit
    computed from the data set is kept, namely the input statistics a MAEST backbone normalises
    with (seed 004 sec. 6.3.1), so the twin sees the same inputs as the model."""
    from ..train.backbones import backbone_from_config

    twin = backbone_from_config(cfg, **kwargs)
    if hasattr(twin, "set_input_stats") and hasattr(trained, "input_mean"):
        twin.set_input_stats(float(trained.input_mean), float(trained.input_std))
    return twin


def frozen_backbone(checkpoint: Path, random_init_seed: int | None = None) -> tuple[Any, Any]:
    """(backbone, device): the backbone of ``checkpoint`` (or, with ``random_init_seed``, its seeded
    random-weight twin, :func:`random_twin`) on the machine's device, for embedding with frozen weights."""
    import torch

    from ..train.embed import load_backbone, resolve_device

    backbone, cfg = load_backbone(checkpoint)
    if random_init_seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(random_init_seed)
            backbone = random_twin(backbone, cfg)
    device = resolve_device("auto")
    backbone.to(device)
    return backbone, device


def embeddings_for(source: ModelSource, *, features: Path | None, cache_dir: Path, track_ids: Sequence[str],
                   embedder: Embedder | None = None, random_init_seed: int | None = None) -> Path:
    """Path of an embedding file for ``source`` covering ``track_ids``: the file itself, or a cached
    (re)computed embedding of the checkpoint / run (random-weight when ``random_init_seed`` is set)."""
    if source.kind == EMBEDDINGS:
        if random_init_seed is not None:
            raise ConfigError(f"{source.path} is an embedding file: a random-weight baseline needs the backbone "
                              "(give a run or checkpoint, or --baseline-embeddings)")
        return source.path
    checkpoint = checkpoint_path(source)  # a clear error now if the run has no checkpoint
    name = _safe(source.label) + (f".random-init-{random_init_seed}" if random_init_seed is not None else "")
    if features is not None:
        name += "." + _safe(features.name)
    output = cache_dir / f"{name}.parquet"
    key = {
        "source": _stamp(checkpoint),
        "features": _stamp(features) if features is not None else None,
        "random_init_seed": random_init_seed,
        "tracks": hashlib.sha256("\n".join(sorted(track_ids)).encode()).hexdigest(),
    }
    sidecar = output.with_suffix(".json")
    if output.exists() and sidecar.exists():
        try:
            if json.loads(sidecar.read_text(encoding="utf-8")) == key:
                return output
        except json.JSONDecodeError:
            pass
    with atomic_path(output) as tmp:
        (embedder or default_embedder)(source, features, tmp, list(track_ids), random_init_seed)
        if not tmp.exists():
            raise InputError(source.path, "the embedder wrote no embeddings")
    write_json_atomic(sidecar, key)
    return output


def checkpoint_path(source: ModelSource, which: str = "best") -> Path:
    """The checkpoint file of a source: the file itself, or runs/<run>/checkpoints/<which>.pt
    (falling back to last.pt)."""
    if source.kind == CHECKPOINT:
        if not source.path.is_file():
            raise MissingInputError("checkpoint", source.path, "discogs-tools train")
        return source.path
    folder = source.path / "checkpoints"
    for name in (f"{which}.pt", "last.pt"):
        if (folder / name).is_file():
            return folder / name
    raise MissingInputError(f"checkpoint of run {source.label}", folder / f"{which}.pt", "discogs-tools train")


def default_embedder(source: ModelSource, features: Path | None, output: Path, track_ids: Sequence[str],
                     random_init_seed: int | None, *, batch_size: int = 64, tracks_per_chunk: int = 512) -> None:
    """Embed ``track_ids`` (those with features) with the backbone of ``source`` into a Parquet file,
    using discogs_tools.train.embed (mean over half-overlapping 128-frame patches). With
    ``random_init_seed`` the backbone keeps the checkpoint's architecture but takes a fresh seeded
    random initialisation (the random-weight baseline)."""
    import pyarrow.parquet as pq

    from ..features.store import FeatureStore
    from ..schemas import conform, load_schema
    from ..train.embed import embed_positions

    backbone, device = frozen_backbone(checkpoint_path(source), random_init_seed)
    if features is None:
        raise ConfigError("embedding a checkpoint needs --features (a feature set under workspace/features)")
    store = FeatureStore(features)
    present = [t for t in track_ids if t in store]
    schema = load_schema("runs/embeddings")
    with pq.ParquetWriter(output, schema, compression="zstd") as writer:
        for start in range(0, len(present), tracks_per_chunk):
            chunk = present[start:start + tracks_per_chunk]
            values = embed_positions(backbone, store, store.positions(chunk), batch_size=batch_size, device=device)
            table = pa.table({"track_id": pa.array(chunk, pa.string()),
                              "embedding": pa.array(list(values), pa.list_(pa.float32()))})
            writer.write_table(conform(table, schema, table="runs/embeddings"))
        if not present:
            writer.write_table(schema.empty_table())
