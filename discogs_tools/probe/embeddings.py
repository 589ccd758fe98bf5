"""Embedding files as the probe reads them, and stacks of several runs.

An embedding file is what ``discogs-tools embed`` writes: Parquet (a file or a folder of parts)
with ``track_id`` (string) and ``embedding`` (list<float32>, one fixed length per file). The probe
streams it batch by batch and keeps only the tracks of its dataset, so memory grows with the
downstream dataset, not with the embedding file.

A *stack* concatenates, per track, the embeddings of several files in the order given (the
"stacks of embeddings from several runs" of the ISMIR 2022 paper); a track missing from any of
them is missing from the stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError, MissingInputError
from ..io import iter_batches, table_files

ID_COLUMN = "track_id"
VECTOR_COLUMN = "embedding"


@dataclass
class Embeddings:
    """Embeddings of a set of tracks: row ``index[track_id]`` of ``values`` (n x dim, float32)."""

    ids: list[str]
    values: np.ndarray
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.ids)}

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def __contains__(self, track_id: object) -> bool:
        return track_id in self.index

    def rows(self, track_ids: Iterable[str]) -> np.ndarray:
        """The embeddings of ``track_ids`` in that order (every id must be present)."""
        return self.values[[self.index[t] for t in track_ids]]


def _check_schema(path: Path, files: list[Path]) -> None:
    schema = pq.read_schema(files[0])
    missing = [c for c in (ID_COLUMN, VECTOR_COLUMN) if c not in schema.names]
    if missing:
        raise InputError(path, f"not an embeddings file: no column(s) {missing} (columns: {', '.join(schema.names)}); "
                         "write it with `discogs-tools embed`")
    vtype = schema.field(VECTOR_COLUMN).type
    if not (pa.types.is_list(vtype) or pa.types.is_large_list(vtype) or pa.types.is_fixed_size_list(vtype)) \
            or not pa.types.is_floating(vtype.value_type):
        raise InputError(path, f"column {VECTOR_COLUMN!r} must be a list of floats, not {vtype}")


def read_embeddings(path: str | os.PathLike[str], wanted: Iterable[str] | None = None,
                    *, batch_size: int = 16_384) -> Embeddings:
    """Read the embeddings of the ``wanted`` tracks (all when None) from one file or folder.

    Errors name the file and track: a missing file, a null or non-finite vector, vectors of
    different lengths, a track listed twice.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError("embeddings", path, "discogs-tools embed")
    files = table_files(path)
    if not files:
        raise InputError(path, "folder holds no Parquet files")
    _check_schema(path, files)
    wanted_set = pa.array(sorted(set(wanted)), pa.string()) if wanted is not None else None
    ids: list[str] = []
    blocks: list[np.ndarray] = []
    seen: set[str] = set()
    dim: int | None = None
    try:
        batches = iter_batches(path, columns=[ID_COLUMN, VECTOR_COLUMN], batch_size=batch_size)
        for batch in batches:
            track_ids = batch.column(0).cast(pa.string())
            vectors = batch.column(1)
            if wanted_set is not None:
                keep = pc.is_in(track_ids, value_set=wanted_set)
                track_ids, vectors = track_ids.filter(keep), vectors.filter(keep)
            if len(track_ids) == 0:
                continue
            id_list = track_ids.to_pylist()
            if vectors.null_count:
                bad = id_list[vectors.is_null().to_pylist().index(True)]
                raise InputError(path, "embedding is null", record=bad)
            lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
            dim = int(lengths[0]) if dim is None else dim
            if (lengths != dim).any():
                bad = id_list[int(np.argmax(lengths != dim))]
                raise InputError(path, f"embedding has {int(lengths[lengths != dim][0])} values, others have {dim}",
                                 record=bad)
            if dim == 0:
                raise InputError(path, "embedding is empty", record=id_list[0])
            block = np.asarray(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                raise InputError(path, "embedding holds NaN, infinite or null values", record=id_list[int(np.argmin(finite))])
            for t in id_list:
                if t in seen:
                    raise InputError(path, "track listed twice", record=t)
                seen.add(t)
            ids.extend(id_list)
            blocks.append(block)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"cannot read embeddings: {str(exc).splitlines()[0]}") from exc
    values = np.concatenate(blocks) if blocks else np.zeros((0, dim or 0), dtype=np.float32)
    return Embeddings(ids=ids, values=values, sources=(str(path),))


def stack(parts: Sequence[Embeddings]) -> Embeddings:
    """Concatenate per track, in the order of ``parts``; keeps the tracks present in every part."""
    if not parts:
        raise ValueError("stack needs at least one embeddings table")
    if len(parts) == 1:
        return parts[0]
    common = set(parts[0].ids).intersection(*(p.ids for p in parts[1:]))
    ids = [t for t in parts[0].ids if t in common]
    values = np.concatenate([p.rows(ids) for p in parts], axis=1)
    return Embeddings(ids=ids, values=values, sources=tuple(s for p in parts for s in p.sources))


def load_stack(paths: Sequence[str | os.PathLike[str]], wanted: Iterable[str] | None = None) -> Embeddings:
    """Read each file for the ``wanted`` tracks and stack them in the order given."""
    wanted = None if wanted is None else list(wanted)
    return stack([read_embeddings(p, wanted) for p in paths])
