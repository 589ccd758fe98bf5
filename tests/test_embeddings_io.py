"""Embeddings read as a matrix over the Parquet values buffer (no copy), list or fixed-size list."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools.embeddings_io import embeddings_matrix, read_embeddings
from discogs_tools.errors import InputError


def test_a_list_column_is_viewed_as_a_matrix_without_copy(tmp_path):
    m = np.arange(12, dtype=np.float32).reshape(4, 3)
    column = pa.array(list(m), type=pa.list_(pa.float32()))
    view = embeddings_matrix(column)
    assert np.array_equal(view, m) and not view.flags.owndata  # a view of Arrow's buffer
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 3)
    assert np.array_equal(embeddings_matrix(fixed.slice(1, 2)), m[1:3])
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"track_id": list("abcd"), "embedding": column}), path)
    ids, matrix = read_embeddings(path)
    assert ids == list("abcd") and np.array_equal(matrix, m)


def test_ragged_vectors_are_refused():
    with pytest.raises(InputError, match="different lengths"):
        embeddings_matrix(pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32())))
