"""Read a run's embeddings (what ``embed`` and ``probe`` write: a Parquet file or a table folder of
part files, ``track_id`` + ``embedding`` list of floats) as arrays, without needless copies.

- :func:`read_embeddings`: track ids and one (tracks, dim) NumPy matrix, preallocated from the
  Parquet row counts and filled batch by batch (peak memory: the matrix plus one batch; reading
  the whole table and joining its chunks held the vectors twice in Arrow memory besides).
  :func:`embeddings_matrix` views one Arrow chunk as a matrix without a copy.
- :func:`fixed_size_embeddings` / :func:`read_embeddings_table`: the column as a pyarrow
  ``fixed_size_list<float, dim>`` over the same values buffer (no copy): what polars reads as an
  ``Array``, Hugging Face ``datasets`` as a fixed-length sequence (2-D with ``with_format("numpy")``),
  and ``np.asarray(chunk.values).reshape(-1, dim)`` as a matrix view.
- :func:`write_npy` / :func:`load_npy`: a plain ``.npy`` (plus a ``.track_ids.txt`` of one id a line)
  written batch by batch into a memory-mapped file (bounded memory, any size), and loaded back as a
  read-only ``np.memmap``: no copy, pages read on demand.

    ids, matrix = read_embeddings("workspace/runs/demo-artist/embeddings/demo")
    write_npy("workspace/runs/demo-artist/embeddings/demo", "demo-artist")   # demo-artist.npy + .track_ids.txt
    ids, matrix = load_npy("demo-artist")                                      # np.memmap, no copy
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError
from .io import atomic_path, iter_batches, table_files, write_text_atomic

#: Rows per batch when streaming embeddings into a .npy.
BATCH_ROWS = 16_384
ID_COLUMN, VECTOR_COLUMN = "track_id", "embedding"


def _values_and_dim(arr: pa.Array) -> tuple[pa.Array, int]:
    """The flat values of a list or fixed-size-list array of equal-length vectors (a slice of its
    buffer, no copy) and the common length."""
    n = len(arr)
    if arr.null_count:
        raise InputError("embeddings", f"{arr.null_count} rows have no embedding")
    if pa.types.is_fixed_size_list(arr.type):
        dim = arr.type.list_size
        return arr.values.slice(arr.offset * dim, n * dim), dim
    offsets = arr.offsets.to_numpy()
    lengths = np.diff(offsets)
    if len(np.unique(lengths)) != 1:
        raise InputError("embeddings", "vectors of different lengths cannot form one matrix")
    dim = int(lengths[0])
    return arr.values.slice(int(offsets[0]), n * dim), dim


def embeddings_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(rows, dim) float matrix of a list or fixed-size-list column of equal-length vectors: a view
    of Arrow's buffer for one chunk; several chunks are copied once into one matrix."""
    if isinstance(column, pa.ChunkedArray) and column.num_chunks != 1:
        chunks = [c for c in column.chunks if len(c)]
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        views = [embeddings_matrix(c) for c in chunks]
        if len({v.shape[1] for v in views}) != 1:
            raise InputError("embeddings", "vectors of different lengths cannot form one matrix")
        out = np.empty((sum(len(v) for v in views), views[0].shape[1]), dtype=views[0].dtype)
        start = 0
        for v in views:
            out[start:start + len(v)] = v
            start += len(v)
        return out
    arr = column.chunk(0) if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    values, dim = _values_and_dim(arr)
    return values.to_numpy(zero_copy_only=True).reshape(len(arr), dim)


def fixed_size_embeddings(column: pa.Array) -> pa.FixedSizeListArray:
    """The vectors as ``fixed_size_list<float, dim>`` over the same values buffer (no copy)."""
    if pa.types.is_fixed_size_list(column.type):
        return column
    if len(column) == 0:
        return pa.FixedSizeListArray.from_arrays(pa.array([], column.type.value_type), 1)
    values, dim = _values_and_dim(column)
    return pa.FixedSizeListArray.from_arrays(values, dim)


def read_embeddings_table(path: str | os.PathLike[str]) -> pa.Table:
    """``track_id`` and ``embedding`` as ``fixed_size_list<float, dim>`` (one chunk per part file or
    row group, each a view of what Parquet decoded: nothing is joined or copied afterwards)."""
    table = pq.read_table(path, columns=[ID_COLUMN, VECTOR_COLUMN])
    chunks = [fixed_size_embeddings(c) for c in table.column(VECTOR_COLUMN).chunks if len(c)]
    dims = {c.type.list_size for c in chunks}
    if len(dims) > 1:
        raise InputError(path, f"embeddings of different lengths {sorted(dims)} cannot form one column")
    column = pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.list_(pa.float32(), 1))
    ids = pa.chunked_array([c for c in table.column(ID_COLUMN).chunks if len(c)], type=pa.string())
    return pa.table({ID_COLUMN: ids, VECTOR_COLUMN: column})


def _fill(path: str | os.PathLike[str], allocate) -> tuple[list[str], np.ndarray]:
    """Stream the embeddings at ``path`` batch by batch into the (rows, dim) array that
    ``allocate(rows, dim)`` returns: Arrow holds one batch at a time, whatever the table's size."""
    rows = _count_rows(path)
    matrix = None
    ids: list[str] = []
    for batch in iter_batches(path, columns=[ID_COLUMN, VECTOR_COLUMN], batch_size=BATCH_ROWS):
        if not batch.num_rows:
            continue
        block = embeddings_matrix(batch.column(1))
        if matrix is None:
            matrix = allocate(rows, block.shape[1])
        elif block.shape[1] != matrix.shape[1]:
            raise InputError(path, f"embeddings of {block.shape[1]} and {matrix.shape[1]} values in one table")
        matrix[len(ids):len(ids) + len(block)] = block
        ids.extend(batch.column(0).to_pylist())
    if matrix is None:
        return ids, np.zeros((0, 0), dtype=np.float32)
    return ids, matrix


def read_embeddings(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Track ids and the (tracks, dim) float32 matrix of an embeddings Parquet file or folder, filled
    batch by batch (peak memory: the matrix plus one batch)."""
    return _fill(path, lambda rows, dim: np.empty((rows, dim), dtype=np.float32))


def _count_rows(path: str | os.PathLike[str]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in table_files(path))


def write_npy(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the embeddings at ``path`` to ``<out>.npy`` (float32, tracks x dim) and
    ``<out>.track_ids.txt`` (one id a line, row order), streamed batch by batch into a
    memory-mapped file; both appear atomically. Returns their paths."""
    out = Path(out)
    npy, ids_txt = out.with_name(out.name + ".npy"), out.with_name(out.name + ".track_ids.txt")
    with atomic_path(npy) as tmp:
        ids, matrix = _fill(path, lambda rows, dim: np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.float32, shape=(rows, dim)))
        if not ids:
            raise InputError(path, "no embedding to export")
        matrix.flush()
        del matrix
    write_text_atomic(ids_txt, "".join(f"{t}\n" for t in ids))
    return {"matrix": npy, "track_ids": ids_txt}


def load_npy(out: str | os.PathLike[str]) -> tuple[list[str], np.memmap]:
    """Track ids and the read-only memory-mapped matrix written by :func:`write_npy` (no copy)."""
    out = Path(out)
    npy, ids_txt = out.with_name(out.name + ".npy"), out.with_name(out.name + ".track_ids.txt")
    matrix = np.load(npy, mmap_mode="r")
    ids = ids_txt.read_text(encoding="utf-8").splitlines()
    if len(ids) != len(matrix):
        raise InputError(ids_txt, f"{len(ids)} track ids for {len(matrix)} rows of {npy}")
    return ids, matrix
