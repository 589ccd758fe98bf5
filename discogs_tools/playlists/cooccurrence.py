"""``cooccurrence``: each track's top-k most co-occurring tracks -> table playlists/cooccurrence.

count(a, b) = number of distinct playlists containing both a and b (a track repeated within a
playlist counts once). For each track a, its neighbours b != a with count >= ``min_count`` are
ranked by higher count, then smaller ``neighbor_key`` (byte order), and the first ``top_k``
are kept. Tracks that never share a playlist with another track get no rows.

Out of core, scaling to the MPD (1M playlists, 66M entries, 2.26M tracks):

1. DuckDB maps keys to integers (track index = rank of the key in byte order, so index order
   is key order and ties break by key for free) and streams the distinct (playlist, track)
   pairs into int32 arrays (8 bytes per pair: 0.5 GB at MPD size).
2. scipy builds the binary playlist x track matrix X (CSR) and its transpose; both are saved
   as .npy files in a temporary folder and memory-mapped by worker processes (shared pages).
3. Tracks are cut into row blocks whose co-occurrence work (sum over the block's tracks of the
   lengths of their playlists, an upper bound of the block's non-zeros) stays under
   ``block_budget``; per block ``B = X[:, block].T @ X`` gives the counts, and one int64 sort of
   a packed (row, -count, neighbour) key gives the per-row ranking. Peak memory per worker is
   proportional to ``block_budget``, not to the data size.
4. Blocks are written in order, so the table is sorted by track_key, then rank.

An empty playlists/playlist_tracks is an error (:class:`~discogs_tools.errors.EmptyInputError`), not an empty
table over the previous one; entries in which no two tracks share a playlist give an empty
table with a warning. The run holds the stage's output lock (a concurrent run fails at once),
and its scratch folder ``.cooccurrence.tmp-<pid>-*`` is collected by the next run after a kill.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .. import manifest
from ..cores import available_cores
from ..errors import ConfigError
from ..io import TableWriter, parquet_glob
from ..locks import output_lock
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from . import duck
from .empty import require_rows
from .parallel import ordered_map
from .scratch import scratch_dir

STAGE = "cooccurrence"
INPUT_TABLE = "playlists/playlist_tracks"
OUTPUT_TABLE = "playlists/cooccurrence"
DEFAULT_BLOCK_BUDGET = 25_000_000


@dataclass(frozen=True)
class BlockResult:
    """Top-k of the rows of one block: anchor and neighbour indices, counts, 1-based ranks."""

    anchors: np.ndarray
    neighbors: np.ndarray
    counts: np.ndarray
    ranks: np.ndarray


def top_k_rows(block: Any, first_row: int, top_k: int, min_count: int) -> BlockResult:
    """Per-row top-k of a CSR co-occurrence block whose row i is track ``first_row + i``.

    The diagonal (a track with itself) and counts below ``min_count`` are dropped; rows are
    ranked by count descending, then column ascending.

    Most non-zeros of a long row are small counts that cannot reach its top-k. A few vectorised
    passes find, per row, the largest threshold of a geometric ladder (2, 3, 4, 6, 9, ...) that
    at least ``top_k`` of its entries reach; entries below it are dropped before the sort. This
    is exact: every entry that can rank in the top-k (ties included) is at or above it.
    """
    n_rows = block.shape[0]
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(block.indptr))
    cols = np.asarray(block.indices)
    counts = np.asarray(block.data)
    keep = cols != rows + first_row
    if min_count > 1:
        keep &= counts >= min_count
    rows, cols, counts = rows[keep], cols[keep], counts[keep]
    del keep
    if rows.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return BlockResult(empty, empty, empty, empty.astype(np.int32))
    max_count = int(counts.max())

    threshold = np.zeros(n_rows, dtype=counts.dtype)
    candidate_rows, candidate_counts = rows, counts
    level = 2
    while level <= max_count:
        reach = candidate_counts >= level
        candidate_rows, candidate_counts = candidate_rows[reach], candidate_counts[reach]
        if candidate_rows.size < top_k:
            break
        enough = np.bincount(candidate_rows, minlength=n_rows) >= top_k
        if not enough.any():
            break
        threshold[enough] = level
        level = max(level + 1, level * 3 // 2)
    del candidate_rows, candidate_counts
    if threshold.any():
        survive = counts >= threshold[rows]
        rows, cols, counts = rows[survive], cols[survive], counts[survive]
        del survive
    cols = cols.astype(np.int64)
    counts = counts.astype(np.int64)

    col_bits = max(1, int(block.shape[1] - 1).bit_length())
    count_bits = max(1, max_count.bit_length())
    row_bits = max(1, int(n_rows - 1).bit_length())
    if col_bits + count_bits + row_bits <= 63:
        # One int64 per non-zero: row asc, then count desc, then column asc.
        packed = (rows << (count_bits + col_bits)) | ((max_count - counts) << col_bits) | cols
        del rows, cols, counts
        packed.sort()
        rows = packed >> (count_bits + col_bits)
        counts = max_count - ((packed >> col_bits) & ((1 << count_bits) - 1))
        cols = packed & ((1 << col_bits) - 1)
    else:  # pragma: no cover - needs > 2^63 combinations (not reachable at MPD scale)
        order = np.lexsort((cols, -counts, rows))
        rows, cols, counts = rows[order], cols[order], counts[order]
    return _ranked(rows, cols, counts, first_row, top_k)


def _ranked(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, first_row: int, top_k: int) -> BlockResult:
    """The first ``top_k`` entries of every row of row-grouped, ranked arrays, with 1-based ranks."""
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, rows.size])
    rank = np.arange(rows.size, dtype=np.int64) - np.repeat(starts, lengths)
    sel = rank < top_k
    return BlockResult(rows[sel] + first_row, cols[sel], counts[sel], (rank[sel] + 1).astype(np.int32))


def _load_matrices(folder: str):
    """Memory-map X (playlists x tracks) and X^T as CSR matrices from ``folder``."""
    from scipy import sparse

    def load(prefix: str):
        indptr = np.load(f"{folder}/{prefix}_indptr.npy", mmap_mode="r")
        indices = np.load(f"{folder}/{prefix}_indices.npy", mmap_mode="r")
        shape = tuple(np.load(f"{folder}/{prefix}_shape.npy"))
        data = np.load(f"{folder}/{prefix}_data.npy", mmap_mode="r") if prefix == "x" else None
        return indptr, indices, shape, data

    x_indptr, x_indices, x_shape, x_data = load("x")
    xt_indptr, xt_indices, xt_shape, _ = load("xt")
    x = sparse.csr_matrix((x_data, x_indices, x_indptr), shape=x_shape, copy=False)
    return x, (xt_indptr, xt_indices, xt_shape)


_MATRICES: dict[str, Any] = {}


def _block_worker(bounds: tuple[int, int], folder: str, top_k: int, min_count: int) -> BlockResult:
    """Compute the top-k of tracks [start, stop) (runs in a worker; matrices cached per process)."""
    from scipy import sparse

    if folder not in _MATRICES:
        _MATRICES.clear()
        _MATRICES[folder] = _load_matrices(folder)
    x, (xt_indptr, xt_indices, xt_shape) = _MATRICES[folder]
    start, stop = bounds
    lo, hi = int(xt_indptr[start]), int(xt_indptr[stop])
    xt_block = sparse.csr_matrix(
        (np.ones(hi - lo, dtype=np.int32), np.asarray(xt_indices[lo:hi]),
         (np.asarray(xt_indptr[start:stop + 1]) - lo).astype(xt_indices.dtype)),
        shape=(stop - start, xt_shape[1]))
    block = (xt_block @ x).tocsr()
    return top_k_rows(block, start, top_k, min_count)


def plan_blocks(row_work: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Cut rows into consecutive [start, stop) blocks whose summed work stays under ``budget``
    (a single heavier row forms a block of its own)."""
    blocks: list[tuple[int, int]] = []
    cumulative = np.cumsum(row_work, dtype=np.int64)
    start, n = 0, row_work.size
    base = 0
    while start < n:
        stop = int(np.searchsorted(cumulative, base + budget, side="right"))
        stop = max(stop, start + 1)
        blocks.append((start, stop))
        base = int(cumulative[stop - 1])
        start = stop
    return blocks


def _build_index(workspace: Workspace, tmp: Path, memory_limit: str) -> tuple[pa.Array, int, int]:
    """Write X and X^T (CSR arrays) into ``tmp``; return the sorted track keys, playlists, pairs."""
    from scipy import sparse

    src = f"read_parquet('{parquet_glob(workspace.table(INPUT_TABLE))}')"
    con = duck.connect(tmp / "duckdb", memory_limit, keep_order=False)
    try:
        con.execute(f"CREATE TEMP TABLE keys AS SELECT track_key, (row_number() OVER (ORDER BY track_key) - 1)::INTEGER AS t "
                    f"FROM (SELECT DISTINCT track_key FROM {src})")
        con.execute(f"CREATE TEMP TABLE lists AS SELECT playlist_id, (row_number() OVER (ORDER BY playlist_id) - 1)::INTEGER AS p "
                    f"FROM (SELECT DISTINCT playlist_id FROM {src})")
        keys = duck.arrow_table(con, "SELECT track_key FROM keys ORDER BY t").column(0).combine_chunks()
        n_playlists = duck.fetch_one(con, "SELECT count(*) FROM lists")[0]
        pairs = duck.arrow_batches(con, f"SELECT DISTINCT l.p, k.t FROM {src} e JOIN keys k USING (track_key) "
                                        f"JOIN lists l USING (playlist_id)", 4_000_000)
        p_parts, t_parts = [], []
        for batch in pairs:
            p_parts.append(batch.column(0).to_numpy())
            t_parts.append(batch.column(1).to_numpy())
    finally:
        con.close()
    p = np.concatenate(p_parts) if p_parts else np.empty(0, dtype=np.int32)
    t = np.concatenate(t_parts) if t_parts else np.empty(0, dtype=np.int32)
    del p_parts, t_parts
    n_tracks = len(keys)
    n_pairs = int(p.size)
    ones = np.ones(n_pairs, dtype=np.int8)
    x = sparse.csr_matrix((ones, (p, t)), shape=(n_playlists, n_tracks))
    _save_csr(tmp, "x", x)
    del x
    xt = sparse.csr_matrix((ones, (t, p)), shape=(n_tracks, n_playlists))
    del p, t, ones
    _save_csr(tmp, "xt", xt)
    return keys, n_playlists, n_pairs


def _save_csr(folder: Path, prefix: str, matrix: Any) -> None:
    """Save CSR arrays with the dtypes scipy's matmul uses as they are (int32 indices when they
    fit, int32 data), so memory-mapped operands are never copied or converted per block."""
    matrix.sort_indices()
    index_dtype = np.int32 if matrix.nnz < 2**31 else np.int64
    np.save(folder / f"{prefix}_indptr.npy", matrix.indptr.astype(index_dtype, copy=False))
    np.save(folder / f"{prefix}_indices.npy", matrix.indices.astype(index_dtype, copy=False))
    np.save(folder / f"{prefix}_shape.npy", np.array(matrix.shape, dtype=np.int64))
    if prefix == "x":
        np.save(folder / f"{prefix}_data.npy", np.ones(matrix.nnz, dtype=np.int32))


def run(workspace: Workspace, *, top_k: int = 10, min_count: int = 1, workers: int | None = None,
        block_budget: int = DEFAULT_BLOCK_BUDGET, memory_limit: str = "4GB") -> Report:
    """Compute the top-k co-occurrence table from playlists/playlist_tracks.

    ``workers`` processes compute blocks in parallel (default: all cores); ``block_budget``
    bounds the work (and memory, about 50 bytes per unit) of one block; ``memory_limit`` caps
    DuckDB while it builds the integer index.
    """
    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {top_k}")
    if min_count < 1:
        raise ConfigError(f"--min-count must be at least 1, got {min_count}")
    if block_budget < 1:
        raise ConfigError(f"block budget must be positive, got {block_budget}")
    ws = workspace.ensure()
    with output_lock(ws.root, STAGE):
        return _run_locked(ws, top_k=top_k, min_count=min_count, workers=workers or available_cores(),
                           block_budget=block_budget, memory_limit=memory_limit)


def _run_locked(ws: Workspace, *, top_k: int, min_count: int, workers: int, block_budget: int,
                memory_limit: str) -> Report:
    ws.require_table(INPUT_TABLE, "discogs-tools ingest playlists")
    require_rows(ws.table(INPUT_TABLE), "playlist entries", "discogs-tools ingest playlists")

    with manifest.Timer() as timer, scratch_dir(ws.root, "cooccurrence") as folder:
        with manifest.Timer() as index_timer:
            keys, n_playlists, n_pairs = _build_index(ws, folder, memory_limit)
        xt_indptr = np.load(folder / "xt_indptr.npy").astype(np.int64)
        x_indptr = np.load(folder / "x_indptr.npy").astype(np.int64)
        playlist_len = np.diff(x_indptr)
        xt_indices = np.load(folder / "xt_indices.npy", mmap_mode="r")
        # Work of a track row = sum of the lengths of its playlists (upper bound of its non-zeros).
        row_work = np.add.reduceat(playlist_len[xt_indices], xt_indptr[:-1]) if xt_indices.size else \
            np.zeros(len(keys), dtype=np.int64)
        row_work[np.diff(xt_indptr) == 0] = 0
        del xt_indices, x_indptr, playlist_len
        blocks = plan_blocks(row_work, block_budget) if len(keys) else []
        total_work = int(row_work.sum())
        del row_work

        compute = partial(_block_worker, folder=str(folder), top_k=top_k, min_count=min_count)
        rows_written = 0
        anchors_with_neighbors = 0
        with TableWriter(ws.table(OUTPUT_TABLE), OUTPUT_TABLE) as writer, \
                Progress("co-occurrence", total=len(keys), unit="tracks") as bar:
            for (start, stop), result in zip(blocks, ordered_map(compute, blocks, workers)):
                if result.anchors.size:
                    writer.write(pa.table({
                        "track_key": keys.take(pa.array(result.anchors)),
                        "neighbor_key": keys.take(pa.array(result.neighbors)),
                        "count": pa.array(result.counts, type=pa.int64()),
                        "rank": pa.array(result.ranks, type=pa.int32()),
                    }))
                    anchors_with_neighbors += int(np.count_nonzero(result.ranks == 1))
                    rows_written += int(result.anchors.size)
                bar.update(completed=stop, records=rows_written)
        _MATRICES.clear()

    report = Report(
        stage=STAGE,
        counts={"playlists": int(n_playlists), "tracks": len(keys), "playlist_track_pairs": n_pairs,
                "tracks_with_neighbors": anchors_with_neighbors,
                "tracks_without_neighbors": len(keys) - anchors_with_neighbors, "rows": rows_written,
                "blocks": len(blocks)},
        outputs={"cooccurrence": str(ws.table(OUTPUT_TABLE))},
        figures={"seconds": round(timer.seconds, 3), "index_seconds": round(index_timer.seconds, 3),
                 "work_units": total_work},
        warnings=[] if rows_written else [
            f"no two tracks share a playlist (with --min-count {min_count}): the table is empty"],
    )
    manifest.record(ws.manifest_path, STAGE, {
        **report.to_dict(),
        "inputs": {"table": str(ws.table(INPUT_TABLE))},
        "params": {"top_k": top_k, "min_count": min_count, "workers": workers, "block_budget": block_budget,
                   "memory_limit": memory_limit},
    })
    return report
