"""Read a run's embeddings (the Parquet files ``embed`` and ``probe`` write) as one NumPy matrix
without copying the values: the ``embedding`` column's values buffer viewed as (tracks, dim).

    ids, matrix = read_embeddings("workspace/runs/demo-artist/probe/embeddings/demo-artist.demo.parquet")
    np.save("demo-artist.npy", matrix)      # or np.load(..., mmap_mode="r") on the other side

A file written in several row groups is read as several chunks; they are joined once (the only
copy), then viewed. The column may be a ``list<float>`` (every row of one length) or a
``fixed_size_list<float, dim>``.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError


def embeddings_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(rows, dim) float view of a list or fixed-size-list column of equal-length vectors."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if arr.null_count:
        raise InputError("embeddings", f"{arr.null_count} rows have no embedding")
    if pa.types.is_fixed_size_list(arr.type):
        dim = arr.type.list_size
        values = arr.values.slice(arr.offset * dim, n * dim)
    else:
        offsets = arr.offsets.to_numpy()
        lengths = np.diff(offsets)
        if len(set(lengths.tolist())) != 1:
            raise InputError("embeddings", "vectors of different lengths cannot form one matrix")
        dim = int(lengths[0])
        values = arr.values.slice(int(offsets[0]), n * dim)
    return values.to_numpy(zero_copy_only=True).reshape(n, dim)


def read_embeddings(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Track ids and the (tracks, dim) embedding matrix of an embeddings Parquet file."""
    table = pq.read_table(path, columns=["track_id", "embedding"])
    return table.column("track_id").to_pylist(), embeddings_matrix(table.column("embedding"))
