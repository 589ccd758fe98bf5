"""Where pairs live and how they are written.

Layout: ``datasets/<name>/pairs/<association>/<split>.parquet/`` is a folder holding one
Parquet file per epoch, ``epoch-<EEEEE>.parquet`` (zero-padded), and ``_pairs.json`` (what the
pairs were made from, see :mod:`.provenance`). A make-pairs run stages the whole folder and
renames it into place in one step: it replaces the previous run's folder as a whole (no epoch
of an earlier run survives) or, when it fails, leaves it untouched. A reader takes the folder
(all epochs, ``epoch`` column) or one epoch, after :func:`.provenance.check`. Rows follow the
``datasets/pairs`` schema, in the order the pairs were drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import MissingInputError
from ..schemas import conform, load_schema
from ..workspace import Workspace
from . import provenance
from .base import PairsResult

SCHEMA = "datasets/pairs"


def pairs_dir(ws: Workspace, dataset: str, association: str, split: str) -> Path:
    return ws.dataset(dataset) / "pairs" / association / f"{split}.parquet"


def epoch_name(epoch: int) -> str:
    return f"epoch-{int(epoch):05d}.parquet"


def epoch_path(ws: Workspace, dataset: str, association: str, split: str, epoch: int) -> Path:
    return pairs_dir(ws, dataset, association, split) / epoch_name(epoch)


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


def write_epoch(folder: Path, epoch: int, table: pa.Table, dataset_version: str) -> Path:
    """Write one epoch's pairs into a (staging) pairs folder, the dataset version in its metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[provenance.FILE_VERSION_KEY] = dataset_version.encode()
    path = Path(folder) / epoch_name(epoch)
    pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")
    return path


def read_pairs(ws: Workspace, dataset: str, association: str, split: str, epoch: int | None = None) -> pa.Table:
    """Pairs of one epoch, or of every epoch written (folder) when ``epoch`` is None; refuses pairs
    that do not belong to the dataset as it is now (:func:`.provenance.check`)."""
    folder = pairs_dir(ws, dataset, association, split)
    info = provenance.check(ws, dataset, association, split, folder)
    names = [epoch_name(epoch)] if epoch is not None else info["files"]
    if not names or not (folder / names[0]).exists():
        what = f"pairs {association}/{split}" + (f" epoch {epoch}" if epoch is not None else "")
        raise MissingInputError(what, folder / names[0] if names else folder,
                                provenance.make_command(dataset, association, split)
                                + (f" --epoch {epoch}" if epoch is not None else ""))
    return pa.concat_tables([pq.read_table(folder / n, schema=load_schema(SCHEMA)) for n in names])
