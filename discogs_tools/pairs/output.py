"""Where pairs live and how they are written.

Layout: ``datasets/<name>/pairs/<association>/<split>.parquet/`` is a folder holding one
Parquet file per epoch, ``epoch-<EEEEE>.parquet`` (zero-padded). Each epoch file is written
atomically (temporary name, then rename) and replaced as a whole when rerun; a reader takes
the folder (all epochs, ``epoch`` column) or one file. Rows follow the ``datasets/pairs``
schema, in the order the pairs were drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import MissingInputError
from ..io import atomic_path
from ..schemas import conform, load_schema
from ..workspace import Workspace
from .base import PairsResult

SCHEMA = "datasets/pairs"


def pairs_dir(ws: Workspace, dataset: str, association: str, split: str) -> Path:
    return ws.dataset(dataset) / "pairs" / association / f"{split}.parquet"


def epoch_path(ws: Workspace, dataset: str, association: str, split: str, epoch: int) -> Path:
    return pairs_dir(ws, dataset, association, split) / f"epoch-{int(epoch):05d}.parquet"


def _list_column(offsets_values: tuple[np.ndarray, np.ndarray] | None, n: int, value_type: pa.DataType) -> pa.Array:
    if offsets_values is None:
        return pa.nulls(n, pa.list_(value_type))
    offsets, values = offsets_values
    values = values if isinstance(values, pa.Array) else pa.array(values, value_type)
    return pa.ListArray.from_arrays(pa.array(np.asarray(offsets, dtype=np.int32)), values)


def pairs_table(track_ids: pa.Array, result: PairsResult, *, association: str, split: str, epoch: int) -> pa.Table:
    """The result as a table of the ``datasets/pairs`` schema."""
    n = result.n_pairs
    shared = result.shared
    table = pa.table({
        "anchor": track_ids.take(pa.array(result.anchors, pa.int64())),
        "positive": track_ids.take(pa.array(result.positives, pa.int64())),
        "association": pa.array([association] * n, pa.string()),
        "split": pa.array([split] * n, pa.string()),
        "epoch": pa.array(np.full(n, epoch, dtype=np.int32)),
        "shared_releases": _list_column(shared.get("releases"), n, pa.int64()),
        "shared_artists": _list_column(shared.get("artists"), n, pa.int64()),
        "shared_labels": _list_column(shared.get("labels"), n, pa.int64()),
        "shared_playlists": _list_column(result.shared_playlists, n, pa.string()),
    })
    return conform(table, load_schema(SCHEMA), table=SCHEMA)


def write_pairs(path: Path, table: pa.Table) -> Path:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def read_pairs(ws: Workspace, dataset: str, association: str, split: str, epoch: int | None = None) -> pa.Table:
    """Pairs of one epoch, or of every epoch written (folder) when ``epoch`` is None."""
    folder = pairs_dir(ws, dataset, association, split)
    files = [epoch_path(ws, dataset, association, split, epoch)] if epoch is not None else sorted(folder.glob("epoch-*.parquet"))
    if not files or not files[0].exists():
        what = f"pairs {association}/{split}" + (f" epoch {epoch}" if epoch is not None else "")
        raise MissingInputError(what, files[0] if files else folder,
                                f"discogs-tools make-pairs --association {association} --split {split}")
    return pa.concat_tables([pq.read_table(f, schema=load_schema(SCHEMA)) for f in files])
