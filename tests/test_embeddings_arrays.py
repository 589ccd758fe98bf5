"""Issue 15: embeddings as a fixed-size array column (pyarrow FixedSizeList over the same values
buffer) and as a memory-mapped `.npy` (no copy when loaded), read from what `embed` writes: a table
folder of several part files."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from discogs_tools import embeddings_io
from discogs_tools.embeddings_io import (
    fixed_size_embeddings,
    load_npy,
    read_embeddings,
    read_embeddings_table,
    write_npy,
)
from discogs_tools.errors import InputError
from discogs_tools.io import TableWriter


def embed_like_folder(path, n: int = 10, dim: int = 6, per_part: int = 4) -> tuple[list[str], np.ndarray]:
    """An embeddings table folder as `embed` writes it: list<float32> vectors, several part files."""
    rng = np.random.default_rng(0)
    ids = [f"t{i:02d}" for i in range(n)]
    matrix = rng.normal(size=(n, dim)).astype(np.float32)
    with TableWriter(path, "runs/embeddings", rows_per_part=per_part) as writer:
        for start in range(0, n, per_part):
            part = matrix[start:start + per_part]
            writer.write(pa.table({"track_id": ids[start:start + per_part],
                                   "embedding": pa.array(list(part), pa.list_(pa.float32()))}))
        writer.commit()
    return ids, matrix


def test_a_list_column_becomes_a_fixed_size_list_over_the_same_buffer():
    m = np.arange(12, dtype=np.float32).reshape(4, 3)
    column = pa.array(list(m), type=pa.list_(pa.float32())).slice(1, 3)
    fixed = fixed_size_embeddings(column)
    assert fixed.type == pa.list_(pa.float32(), 3)
    assert fixed.values.buffers()[1].address == column.values.buffers()[1].address   # no copy
    assert np.array_equal(np.asarray(fixed.values).reshape(-1, 3), m[1:])
    with pytest.raises(InputError, match="different lengths"):
        fixed_size_embeddings(pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32())))


def test_embed_folder_reads_as_a_fixed_size_table(tmp_path):
    ids, matrix = embed_like_folder(tmp_path / "emb")
    table = read_embeddings_table(tmp_path / "emb")
    assert table.column("track_id").to_pylist() == ids
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 6)
    assert table.column("embedding").num_chunks == 3            # one chunk per part file, none joined
    got = np.concatenate([np.asarray(c.values).reshape(-1, 6) for c in table.column("embedding").chunks])
    assert np.array_equal(got, matrix)


def test_several_part_files_fill_one_matrix_batch_by_batch(tmp_path, monkeypatch):
    """Arrow's memory peak while reading is one batch: reading the whole table and joining its
    chunks (the old way) held every vector twice in Arrow memory (2.1x the matrix)."""
    ids, matrix = embed_like_folder(tmp_path / "emb", n=8000, dim=64, per_part=1000)
    monkeypatch.setattr(embeddings_io, "BATCH_ROWS", 500)
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    pa.set_memory_pool(pool)
    try:
        got_ids, got = read_embeddings(tmp_path / "emb")
    finally:
        pa.set_memory_pool(previous)
    assert got_ids == ids and np.array_equal(got, matrix) and got.shape == (8000, 64) and got.dtype == np.float32
    assert pool.max_memory() < 0.5 * matrix.nbytes


def test_npy_export_is_streamed_and_loads_as_a_memory_map(tmp_path, monkeypatch):
    ids, matrix = embed_like_folder(tmp_path / "emb")
    monkeypatch.setattr(embeddings_io, "BATCH_ROWS", 3)         # several batches per part file
    out = write_npy(tmp_path / "emb", tmp_path / "export" / "demo")
    assert out == {"matrix": tmp_path / "export" / "demo.npy", "track_ids": tmp_path / "export" / "demo.track_ids.txt"}
    got_ids, got = load_npy(tmp_path / "export" / "demo")
    assert got_ids == ids
    assert isinstance(got, np.memmap) and not got.flags.owndata and not got.flags.writeable   # a view of the file
    assert got.shape == (10, 6) and got.dtype == np.float32 and np.array_equal(got, matrix)
    assert np.array_equal(np.load(tmp_path / "export" / "demo.npy"), matrix)    # a plain .npy for any reader
