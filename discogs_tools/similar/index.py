"""The approximate-nearest-neighbour index over a run's collection embeddings.

Library: usearch (HNSW graph, vectors stored as int8, cosine distance), measured against
faiss-cpu (HNSW with a float16 scalar quantiser, and IVF) and hnswlib by
``benchmarks/bench_similar.py`` (docs/similarity.md gives the figures): the same recall@10 and
sub-millisecond query CPU as the other HNSW libraries, the least build CPU of them with int8
vectors (27 CPU-s at 100k against 29-33 for hnswlib and faiss-HNSW, 41 for its own float16),
compact storage (int8: a quarter of hnswlib's float32), a wheel (hnswlib compiles from source),
and a saved index opens as a memory-mapped *view*, so a one-off ``similar`` query does not read
the whole index into memory.

Vectors (format 2): int8, each vector scaled on its own so that its largest absolute value is 127
(:func:`encode`). Cosine distance does not depend on a vector's length, so the per-vector scale
costs nothing, and it keeps about 7 bits for every value; usearch's own float-to-int8 cast
normalises first and multiplies by 127, which leaves a 1280-d unit vector's values (about 0.03)
only a few integer steps (recall@10 topped out at 0.974 at 100k generated tracks, against 0.998
scaled per vector). int8 distances run on the CPU's integer dot-product instructions and the
vectors take half the memory of float16, so the graph builds with less CPU (two thirds of
float16's at 100k tracks, 0.81-0.86 at 1M on a loaded machine: docs/similarity.md).

int8 is chosen only where it keeps the neighbours (``dtype="auto"``, the default,
:func:`choose_dtype`): a trained model's embeddings can share one direction (the demo model's
random tracks are at cosine 0.93), and then per-vector int8 spends its steps on the common part and
swaps near neighbours (exact search over int8 copies of the demo's embeddings keeps 0.987 of the
float top-10, float16 0.999). The first batch of embeddings is the sample: int8 is used when its
exact top-10 within the sample agrees with the float top-10 for at least 99 % of neighbours, else
float16. A large collection has closer neighbours than its first batch, so the check is optimistic
there (the 1M benchmark measures the whole effect). Format 1 indexes (float16 vectors, queries passed as float) are
still read and searched as they are; ``index-embeddings`` rebuilds them with the current settings.

Distance: cosine, as cosine.club compares a query with its database (seed 004 sec. 8.2.1).

Layout, one folder per embeddings table, next to the run::

    runs/<run>/similar/<embeddings table>/
        index.usearch   the HNSW graph and int8 vectors; key i = row i of ids.parquet
        ids.parquet     track_id per key
        index.json      what it was built from (embeddings path and version), settings, counts

The folder is built in a staging folder and renamed into place (a reader sees the old or the
new index, never half of one), under the output lock ``index-embeddings``/``<run>/<table>``.
An index whose recorded embeddings version differs from the table's current one is stale and
is rebuilt by :func:`open_index` (or ``index-embeddings``).

Memory while building: the index itself (n x dim bytes plus the graph; figures per million 1280-d
tracks in docs/similarity.md) and one batch of embeddings; the float32 table is streamed, never loaded whole.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import manifest
from ..errors import InputError
from ..io import atomic_path, iter_batches, write_json_atomic
from ..locks import output_lock
from ..manifest import Timer
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from .source import embeddings_path, embeddings_version

FORMAT_VERSION = 2  # 2: int8 vectors scaled per vector; 1: float16 vectors
READABLE_FORMATS = (1, 2)
STAGE = "index-embeddings"
LIBRARY = "usearch"
METRIC = "cos"  # cosine distance: seed 004 sec. 8.2.1
INDEX_FILE = "index.usearch"
IDS_FILE = "ids.parquet"
INFO_FILE = "index.json"
BATCH_ROWS = 16_384


@dataclass(frozen=True)
class IndexSettings:
    """HNSW parameters (M, efConstruction, ef in the HNSW paper's words).

    Chosen with ``benchmarks/bench_similar.py`` (figures in docs/similarity.md) over 1M generated
    1280-d embeddings, int8, 2 build threads: M 12 with efSearch 1024 built with 589 CPU-s (4.9 min
    on 2 idle cores) for recall@10 0.957 at a query p99 of 6.2 ms, the issue's three targets (5 min,
    0.95, 20 ms), narrowly; M 16 with efSearch 512 gave recall@10 0.971 at 4.5 ms but 693 CPU-s.
    efConstruction 64: 32 halves the build but leaves recall@10 at 0.855-0.885 even with efSearch
    512-1024 (the graph itself is worse). Vectors: ``auto`` (module docstring)."""

    connectivity: int = 12
    expansion_add: int = 64
    expansion_search: int = 1024
    dtype: str = "auto"


I8_AGREEMENT = 0.99  # least share of float top-10 neighbours that int8 storage must keep (auto)


def _unit(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def int8_agreement(sample: np.ndarray, queries: int = 500, k: int = 10) -> float:
    """Share of the exact cosine top-``k`` neighbours (within ``sample``) of its first ``queries``
    rows that exact search over the int8-encoded rows finds too."""
    n = len(sample)
    k = min(k, n - 1)
    if k < 1:
        return 1.0
    q = min(queries, n)
    found = []
    for values in (sample, encode(sample, "i8")):
        unit = _unit(values)
        sims = unit[:q] @ unit.T
        sims[np.arange(q), np.arange(q)] = -np.inf
        found.append(np.argpartition(-sims, k - 1, axis=1)[:, :k])
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(*found)]))


def choose_dtype(sample: np.ndarray, settings: IndexSettings) -> str:
    """The scalar kind to store: the settings' own, or for ``auto`` int8 when it keeps the sample's
    neighbours (:data:`I8_AGREEMENT`), else float16."""
    if settings.dtype != "auto":
        return settings.dtype
    return "i8" if int8_agreement(sample) >= I8_AGREEMENT else "f16"


def encode(vectors: np.ndarray, dtype: str) -> np.ndarray:
    """Vectors as the index stores them: for ``i8`` each row scaled so that its largest absolute
    value is 127 and rounded (cosine distance ignores the scale); other kinds as float32, which
    usearch converts itself. An all-zero row stays zero."""
    values = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if dtype != "i8":
        return values
    peak = np.abs(values).max(axis=1, keepdims=True)
    return np.rint(values * (127 / np.where(peak > 0, peak, 1))).astype(np.int8)


def index_folder(ws: Workspace, run: str, table: Path) -> Path:
    """``runs/<run>/similar/<embeddings table name>``."""
    return ws.runs / run / "similar" / table.name


def new_index(dim: int, settings: IndexSettings):
    from usearch.index import Index

    return Index(ndim=dim, metric=METRIC, dtype=settings.dtype, connectivity=settings.connectivity,
                 expansion_add=settings.expansion_add, expansion_search=settings.expansion_search)


def embedding_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[list[str], np.ndarray]]:
    """(track ids, float32 vectors) of an embeddings table, batch by batch; a null, empty or
    non-finite vector, or vectors of different lengths, are one-line errors naming the track."""
    dim: int | None = None
    for batch in iter_batches(path, columns=["track_id", "embedding"], batch_size=batch_rows):
        ids = batch.column(0).cast(pa.string()).to_pylist()
        vectors = batch.column(1)
        if not ids:
            continue
        if vectors.null_count:
            raise InputError(path, "embedding is null", record=ids[vectors.is_null().to_pylist().index(True)])
        lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
        dim = int(lengths[0]) if dim is None else dim
        if dim == 0 or (lengths != dim).any():
            bad = int(np.argmax(lengths != dim)) if dim else 0
            raise InputError(path, f"embedding has {int(lengths[bad])} values, others have {dim}", record=ids[bad])
        values = np.asarray(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            raise InputError(path, "embedding holds NaN or infinite values", record=ids[int(np.argmin(finite))])
        yield ids, values


def build_index(batches: Iterable[tuple[list[str], np.ndarray]], settings: IndexSettings = IndexSettings(),
                *, threads: int = 0, on_batch: Callable[[int], None] | None = None):
    """An in-memory usearch index and the track ids of its keys (key i = ids[i]); the scalar kind
    ``auto`` is decided on the first batch (:func:`choose_dtype`)."""
    index = None
    ids: list[str] = []
    dtype = settings.dtype
    for batch_ids, values in batches:
        if index is None:
            dtype = choose_dtype(values, settings)
            index = new_index(values.shape[1], replace(settings, dtype=dtype))
        keys = np.arange(len(ids), len(ids) + len(batch_ids), dtype=np.uint64)
        index.add(keys, encode(values, dtype), threads=threads)
        ids.extend(batch_ids)
        if on_batch is not None:
            on_batch(len(batch_ids))
    return index, ids


def _info(folder: Path) -> dict | None:
    try:
        return json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(folder: Path, table: Path, settings: IndexSettings | None = None) -> bool:
    """True when ``folder`` holds a complete, readable index built from the current version of
    ``table``; when ``settings`` are given, also built in the current format with those settings
    (``index-embeddings`` rebuilds an index that is merely readable, a search uses it)."""
    info = _info(folder)
    if not info or info.get("format_version") not in READABLE_FORMATS:
        return False
    if settings is not None and info.get("format_version") != FORMAT_VERSION:
        return False
    if not all((folder / f).exists() for f in (INDEX_FILE, IDS_FILE)):
        return False
    if info.get("embeddings_version") != embeddings_version(table):
        return False
    return settings is None or info.get("settings") == asdict(settings)


def build(ws: Workspace, run: str, *, embeddings: str | None = None, settings: IndexSettings = IndexSettings(),
          force: bool = False, threads: int = 0) -> Report:
    """Build (or keep, when up to date) the index of a run's embeddings table."""
    table = embeddings_path(ws, run, embeddings)
    folder = index_folder(ws, run, table)
    report = Report(stage=STAGE, outputs={"index": str(folder), "embeddings": str(table)})
    with output_lock(ws.root, STAGE, f"{run}/{table.name}"):
        if not force and is_current(folder, table, settings):
            info = _info(folder) or {}
            report.counts["tracks"] = int(info.get("count", 0))
            report.details.append({"up_to_date": True, "embeddings_version": info.get("embeddings_version")})
            report.warnings.append("index is up to date (built from this version of the embeddings); "
                                   "--force rebuilds it")
            return report
        version = embeddings_version(table)
        with Timer() as timer, atomic_path(folder, is_dir=True) as staging, \
                Progress(f"index {run}", unit="tracks") as bar:
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                bar.update(advance=n, records=done)

            index, ids = build_index(embedding_batches(table), settings, threads=threads, on_batch=advance)
            if index is None:
                raise InputError(table, "embeddings table has no rows: nothing to index (run `discogs-tools embed` "
                                        "on a feature set with tracks)")
            index.save(str(staging / INDEX_FILE))
            pq.write_table(pa.table({"track_id": pa.array(ids, pa.string())}), staging / IDS_FILE)
            info = {"format_version": FORMAT_VERSION, "library": LIBRARY, "library_version": _library_version(),
                    "metric": METRIC, "dim": int(index.ndim), "count": len(ids), "run": run,
                    "embeddings": str(table), "embeddings_version": version, "settings": asdict(settings),
                    "vectors": vector_kind(index),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            write_json_atomic(staging / INFO_FILE, info)
            del index
    report.counts["tracks"] = len(ids)
    report.figures.update({"seconds": round(timer.seconds, 3), "dim": info["dim"],
                           "tracks_per_s": round(len(ids) / timer.seconds, 1) if timer.seconds else 0.0,
                           "index_mb": round((folder / INDEX_FILE).stat().st_size / 2**20, 1),
                           "vectors": info["vectors"]})
    manifest.record(ws.manifest_path, f"{STAGE} {run}/{table.name}", {**report.to_dict(), "params": {
        "run": run, "embeddings": str(table), "embeddings_version": version, **asdict(settings)}})
    return report


def vector_kind(index) -> str:
    """The scalar kind an index stores, in usearch's spelling (``i8``, ``f16``, ...)."""
    return str(index.dtype).rsplit(".", 1)[-1].lower()


def _library_version() -> str:
    import usearch

    return str(getattr(usearch, "__version__", "?"))


class EmbeddingIndex:
    """A saved index opened for search: memory-mapped (``view``), with the track id of each key."""

    def __init__(self, folder: Path) -> None:
        from usearch.index import Index

        self.folder = folder
        self.info = _info(folder) or {}
        self.ids: pa.Array = pq.read_table(folder / IDS_FILE).column("track_id").combine_chunks()
        self.index = Index.restore(str(folder / INDEX_FILE), view=True)
        settings = self.info.get("settings", {})
        self.index.expansion_search = int(settings.get("expansion_search", IndexSettings.expansion_search))
        # format 1 stored float16 and took float queries; format 2 records the kind it chose
        self.dtype = str(self.info.get("vectors") or settings.get("dtype", "f16"))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.index.ndim)

    def key_of(self, track_id: str) -> int | None:
        """The key of a track, or None when it is not in the index."""
        at = pc.index(self.ids, pa.scalar(track_id, pa.string())).as_py()
        return None if at < 0 else int(at)

    def vector(self, key: int) -> np.ndarray:
        """The stored vector of a key as float32: float16-rounded, or for int8 indexes its direction
        scaled so that the largest absolute value is 127 (cosine distances are unchanged)."""
        return np.asarray(self.index.get(np.uint64(key)), dtype=np.float32).reshape(-1)

    def track_ids(self, keys: np.ndarray) -> list[str]:
        return self.ids.take(pa.array(np.asarray(keys, dtype=np.int64))).to_pylist()

    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(keys, cosine distances) of the ``count`` nearest entries, nearest first."""
        count = max(1, min(int(count), len(self)))
        self.index.expansion_search = max(self.index.expansion_search, count)
        found = self.index.search(encode(np.asarray(vector).reshape(-1), self.dtype)[0], count)
        return np.asarray(found.keys, dtype=np.int64), np.asarray(found.distances, dtype=np.float64)


def open_index(ws: Workspace, run: str, *, embeddings: str | None = None, rebuild: bool = True,
               echo: Callable[[str], None] | None = None) -> EmbeddingIndex:
    """The run's index, built first when missing or stale (the embeddings changed)."""
    table = embeddings_path(ws, run, embeddings)
    folder = index_folder(ws, run, table)
    if not is_current(folder, table):
        if not rebuild:
            raise InputError(folder, f"index missing or out of date; run `discogs-tools index-embeddings {run}`")
        if echo is not None:
            echo(f"indexing the embeddings of run {run} ({table.name}): missing or out of date")
        build(ws, run, embeddings=embeddings)
    return EmbeddingIndex(folder)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 65_536) -> np.ndarray:
    """Keys of the ``k`` nearest rows of ``vectors`` by cosine distance for each query, computed
    exactly in chunks (the reference the ANN index is measured against)."""
    q = np.asarray(queries, dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    best_sim = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_key = np.zeros((len(q), 0), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start:start + chunk], dtype=np.float32)
        block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        sims = q @ block.T
        keys = np.broadcast_to(np.arange(start, start + len(block)), sims.shape)
        sims = np.concatenate([best_sim, sims], axis=1)
        keys = np.concatenate([best_key, keys], axis=1)
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        best_sim = np.take_along_axis(sims, top, axis=1)
        best_key = np.take_along_axis(keys, top, axis=1)
    return best_key


__all__ = ["EmbeddingIndex", "IndexSettings", "build", "build_index", "choose_dtype", "encode", "exact_search",
           "index_folder", "int8_agreement", "is_current", "open_index", "vector_kind"]
