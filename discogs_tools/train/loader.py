"""The training input pipeline: mel crops built while the model steps.

Three parts, each usable alone:

- :func:`build_crops` is what :func:`~.data.crops` does: the crop starts of a whole batch in one
  vectorised draw (``rng.integers(0, spare + 1)`` over the batch gives the very numbers, and leaves
  the generator in the very state, of one scalar draw per crop), then the copies. Where the
  compiled module ``_crops`` is built (the install builds it; see ``hatch_build.py``), the float16
  rows of every crop are gathered from the memory maps and widened to float32 straight into the
  output in one C call that releases the GIL for the whole batch (F16C instructions where the CPU
  has them). Without it: the rows of every crop of a shard gathered into a staging buffer in one
  ``np.take`` (one slice copy per crop where a batch has fewer than 4 crops per shard), then torch
  float16 -> float32 conversions into the output. numpy's own float16 cast, row by row, was the
  largest cost of the first trainer's crops; the many short GIL-holding steps of the fallback are
  why two crop threads are no faster than one without the compiled module.
- :class:`CropBuilder` does the same with ``workers`` threads, each filling a contiguous slice
  of the batch (the calling thread one of them; the copies release the GIL), into reusable output buffers
  (pinned when CUDA is available, so that ``.to(device, non_blocking=True)`` is a real async
  copy), and can hint the kernel to read each crop's bytes ahead (``posix_fadvise WILLNEED``,
  from a read-ahead thread while the copies run: all the crops of a batch are requested at once,
  so shards that are not in page cache are read with a deep I/O queue instead of one page fault
  per worker at a time).
- :func:`prefetch_batches` runs the trainer's batch generator in a background thread,
  ``depth`` batches ahead of the model step, with a :class:`CropBuilder` active in that thread:
  every :func:`~.data.crops` call the generator makes goes through the builder.

Determinism: the generator runs in one thread, in order, so every random draw (crop starts, view
mixing) happens in the same order as without prefetching; workers only copy bytes whose
positions are already decided. Batches are identical with 0, 1 or N workers and any depth.

Buffer lifetime: an array handed out by :func:`prefetch_batches` is never rewritten while anything
references it (the array, a view of it, a tensor made from it): a builder reuses only ring buffers
that nobody else holds, and makes new ones when all are held. Pinned buffers (CUDA) keep the fixed
rotation through ``2 x (depth + 4)`` buffers instead, whoever holds them (an asynchronous copy to
the device may outlive the references): such an array stays valid until ``depth + 3`` further
batches have been taken, as before.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..features.store import FeatureStore, shard_path

try:  # the compiled copy loop (hatch_build.py builds it; optional)
    from . import _crops as _compiled
except ImportError:  # pragma: no cover - an install without a C compiler
    _compiled = None

_ACTIVE = threading.local()  # the CropBuilder of the prefetching thread, if any
_FREE_REFS = 3  # sys.getrefcount of a ring buffer nobody else holds: the ring list, the loop variable, the call

# float16 -> float32 conversion in pieces below torch's intra-op grain size (32,768 elements), so
# that each piece runs on the calling thread: a copy of a whole batch is split over torch's thread
# pool, whose barrier costs more than the copy on a busy machine (6,300 against 40,000 crops/s
# measured with 2 threads at load 12), and the pipeline's parallelism is its own workers.
_CAST_CHUNK = 31 * 1024


def plan_crops(store: FeatureStore, positions: np.ndarray, length: int,
               rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shard, first row in the shard, rows to copy) of each crop: random starts with ``rng``,
    centred without; a track shorter than ``length`` is copied whole (the rest is zero padding)."""
    positions = np.asarray(positions, dtype=np.int64)
    frames = store.frames[positions]
    spare = np.maximum(frames - length, 0)
    starts = rng.integers(0, spare + 1) if rng is not None else spare // 2
    return store.shards[positions], store.offsets[positions] + starts, np.minimum(frames, length)


def compiled_available() -> bool:
    """Whether the compiled copy loop (``_crops``) is built and not switched off
    (``DISCOGS_TOOLS_NO_COMPILED_CROPS=1``, read at each call: the tests compare both paths)."""
    return _compiled is not None and os.environ.get("DISCOGS_TOOLS_NO_COMPILED_CROPS", "") in ("", "0")


def fill_crops(store: FeatureStore, shards: np.ndarray, begins: np.ndarray, counts: np.ndarray,
               out: np.ndarray, staging: np.ndarray | None = None) -> None:
    """Copy the crops into ``out`` ((n, 1, length, n_mels) float32): in one compiled call where
    :func:`compiled_available`, else through ``staging`` (at least (n, length, n_mels) float16;
    made here when not given)."""
    import torch

    n = len(shards)
    if n == 0:
        return
    if compiled_available() and out.dtype == np.float32 and out.flags.c_contiguous:
        gather_compiled(store, shards, begins, counts, out)
        return
    if staging is None:
        staging = np.empty((n, out.shape[2], store.n_mels), dtype=np.float16)
    copy_rows(store, shards, begins, counts, staging)
    dst = torch.from_numpy(out).view(-1)
    src = torch.from_numpy(staging[:n]).view(-1)
    # serial pieces (see _CAST_CHUNK); split() makes all the piece views in one call instead of
    # two Python slices per piece
    for d, s in zip(dst.split(_CAST_CHUNK), src.split(_CAST_CHUNK)):
        d.copy_(s)


def gather_compiled(store: FeatureStore, shards: np.ndarray, begins: np.ndarray, counts: np.ndarray,
                    out: np.ndarray, *, portable: bool = False) -> None:
    """The compiled copy: every crop's rows widened into ``out`` (C-contiguous float32) in one call
    without the GIL. The ranges are checked here, before any byte is read: a crop outside its shard
    is an ``IndexError`` naming it (the plan never makes one; a damaged feature index could)."""
    n, length, width = len(shards), out.shape[2], store.n_mels
    kinds, which = np.unique(shards, return_inverse=True)
    arrays = [store.array(int(k)) for k in kinds.tolist()]
    for k, a in zip(kinds.tolist(), arrays):
        if a.dtype != np.float16 or not a.flags.c_contiguous or a.shape[1] != width:
            raise ValueError(f"feature shard {k} of {store.root}: not contiguous native float16 rows of {width}")
    rows = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    begins = np.ascontiguousarray(begins, dtype=np.int64)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    bad = np.flatnonzero((begins < 0) | (counts < 0) | (counts > length) | (begins + counts > rows[which]))
    if len(bad):
        j = int(bad[0])
        raise IndexError(f"crop {j}: rows {begins[j]}..{begins[j] + counts[j] - 1} are outside feature shard "
                         f"{int(shards[j])} of {store.root} ({rows[which[j]]} rows)")
    bases = np.array([a.ctypes.data for a in arrays], dtype=np.uintp)
    _compiled.gather(bases, which.astype(np.int64, copy=False).reshape(-1), begins, counts, length, width,
                     out[:n].reshape(n, length * width), portable)


# A shard's crops are gathered in one ``np.take`` (one C call, GIL released) when a batch has at
# least this many crops per shard on average; else one slice copy per crop.
_GATHER_MIN_PER_SHARD = 4


def copy_rows(store: FeatureStore, shards: np.ndarray, begins: np.ndarray, counts: np.ndarray,
              staging: np.ndarray) -> None:
    """The float16 rows of each crop into ``staging[:n]`` (zeros after a short track's frames).

    Why a gather: a Python loop of one slice copy per crop holds the GIL for ~2 us a crop, which
    serialised the crop threads; ``np.take`` over a shard copies every crop of that shard in one
    call that releases the GIL (the same bytes: rows ``begin .. begin + length - 1``)."""
    n, length = len(shards), staging.shape[1]
    short = np.flatnonzero(counts < length)
    kinds = np.unique(shards)
    if len(kinds) * _GATHER_MIN_PER_SHARD <= n:
        steps = np.arange(length)
        if len(short):
            steps = np.minimum(steps, np.maximum(counts[:, None] - 1, 0))  # a short crop repeats its last row
        rows = begins[:, None] + steps
        if len(kinds) == 1:
            flat = staging[:n].reshape(n * length, -1)
            np.take(store.array(int(kinds[0])), rows.reshape(-1), axis=0, out=flat, mode="clip")
        else:
            for s in kinds.tolist():
                sel = np.flatnonzero(shards == s)
                staging[sel] = np.take(store.array(s), rows[sel], axis=0, mode="clip")
        for j in short.tolist():  # ... then zeros after its frames, as the copy loop gives
            staging[j, counts[j]:] = 0
        return
    array = store.array
    for j, (s, b, c) in enumerate(zip(shards.tolist(), begins.tolist(), counts.tolist())):
        staging[j, :c] = array(s)[b:b + c]
        if c < length:
            staging[j, c:] = 0


def build_crops(store: FeatureStore, positions: np.ndarray, length: int,
                rng: np.random.Generator | None) -> np.ndarray:
    """(n, 1, length, n_mels) float32 crops; through this thread's :class:`CropBuilder` when one is
    active for ``store`` (inside :func:`prefetch_batches`), else built here into a new array."""
    builder = getattr(_ACTIVE, "builder", None)
    if builder is not None and builder.store is store:
        return builder(positions, length, rng)
    shards, begins, counts = plan_crops(store, positions, length, rng)
    out = np.empty((len(shards), 1, length, store.n_mels), dtype=np.float32)
    fill_crops(store, shards, begins, counts, out)
    return out


class CropBuilder:
    """Crops of a feature store built by ``workers`` threads into a ring of reusable buffers: the
    calling thread copies the first share of each batch while ``workers - 1`` pool threads copy
    the others (with the compiled copy loop each share is one call without the GIL, so the threads
    really copy at the same time).

    ``ring``: buffers per output shape (0: a new array per call); ``pin``: page-locked buffers
    (only where CUDA is available); ``readahead``: one ``posix_fadvise(WILLNEED)`` per crop, sent
    from a read-ahead thread while the copies run (``advised`` counts the hints sent)."""

    def __init__(self, store: FeatureStore, workers: int = 1, *, ring: int = 0, pin: bool = False,
                 readahead: bool = True) -> None:
        import torch

        self.store = store
        self.workers = max(1, workers)
        self.ring = ring
        self.pin = bool(pin) and torch.cuda.is_available()
        self.readahead = readahead and hasattr(os, "posix_fadvise")
        self.advised = 0
        # Read-ahead hints go out from a thread of their own, next to the copies: one
        # posix_fadvise per crop on the copying thread cost ~35% of the crops/s with the shard
        # in page cache (a GIL release and re-take per call), for nothing there. At most two
        # batches' hints are pending; a batch that finds both slots taken sends none (the
        # device is busy with the earlier ones anyway).
        self._advisor = ThreadPoolExecutor(1, thread_name_prefix="readahead") if self.readahead else None
        self._advice_slots = threading.Semaphore(2)
        self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="crops") if self.workers > 1 else None
        self._buffers: dict[tuple, list[np.ndarray]] = {}
        self._turn: dict[tuple, int] = {}  # pinned buffers: the next turn of the rotation
        self._staging = threading.local()
        self._fds: dict[int, int] = {}
        self._row_bytes = store.n_mels * 2

    def _output(self, shape: tuple) -> np.ndarray:
        """An output buffer for a batch of ``shape``.

        Unpinned: the first ring buffer nobody else holds (in creation order, so the same few
        buffers cycle and stay warm in cache), a new one while the ring has fewer than ``ring``,
        else a new one outside the ring. Free means no reference outside the ring: a batch handed
        out, a view or a tensor of it (``torch.from_numpy``) keeps its buffer, so a buffer is never
        rewritten while the trainer can still see it. The fixed rotation used before kept all
        ``ring`` buffers (~75 MB at 128 crops of 128 x 96) cycling through the cache.

        Pinned (CUDA): the fixed rotation through ``ring`` buffers, as before. A pinned buffer feeds
        ``.to(device, non_blocking=True)``, an asynchronous copy that may still be reading it after
        the last Python reference is gone, so a buffer is reused only ``ring`` turns later."""
        import torch

        if self.ring <= 0:
            return np.empty(shape, dtype=np.float32)
        ring = self._buffers.setdefault(shape, [])
        if self.pin:
            turn = self._turn.get(shape, 0)
            self._turn[shape] = (turn + 1) % self.ring
            if turn == len(ring):
                ring.append(torch.empty(shape, dtype=torch.float32, pin_memory=True).numpy())
            return ring[turn]
        for buf in ring:
            if sys.getrefcount(buf) <= _FREE_REFS:
                return buf
        fresh = np.empty(shape, dtype=np.float32)
        if len(ring) < self.ring:
            ring.append(fresh)
        return fresh

    def _stage(self, rows: int, length: int) -> np.ndarray:
        buf = getattr(self._staging, "buf", None)
        if buf is None or buf.shape[0] < rows or buf.shape[1] != length:
            buf = self._staging.buf = np.empty((rows, length, self.store.n_mels), dtype=np.float16)
        return buf

    def _advise(self, shards: np.ndarray, begins: np.ndarray, counts: np.ndarray) -> None:
        """One ``posix_fadvise(WILLNEED)`` per crop (runs on the read-ahead thread)."""
        try:
            rb = self._row_bytes
            for s, b, c in zip(shards.tolist(), begins.tolist(), counts.tolist()):
                fd = self._fds.get(s)
                if fd is None:
                    fd = self._fds[s] = os.open(shard_path(self.store.root, s), os.O_RDONLY)
                os.posix_fadvise(fd, b * rb, c * rb, os.POSIX_FADV_WILLNEED)
            self.advised += len(shards)
        finally:
            self._advice_slots.release()

    def __call__(self, positions: np.ndarray, length: int, rng: np.random.Generator | None) -> np.ndarray:
        shards, begins, counts = plan_crops(self.store, positions, length, rng)
        n = len(shards)
        if self._advisor is not None and self._advice_slots.acquire(blocking=False):
            self._advisor.submit(self._advise, shards, begins, counts)
        out = self._output((n, 1, length, self.store.n_mels))
        compiled = compiled_available()
        if self._pool is None or n < 2 * self.workers:
            fill_crops(self.store, shards, begins, counts, out, None if compiled else self._stage(n, length))
            return out
        cuts = np.linspace(0, n, self.workers + 1).astype(int)

        def part(k: int) -> None:
            a, b = cuts[k], cuts[k + 1]
            fill_crops(self.store, shards[a:b], begins[a:b], counts[a:b], out[a:b],
                       None if compiled else self._stage(b - a, length))

        # the first share is copied by this thread while the pool copies the others: one hand-off less
        futures = [self._pool.submit(part, k) for k in range(1, self.workers)]
        try:
            part(0)
        finally:
            for f in futures:
                f.result()
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._advisor is not None:
            self._advisor.shutdown(wait=True)  # its hints use the descriptors closed below
            self._advisor = None
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def prefetch_batches(batches: Iterator[Any], store: FeatureStore, *, workers: int = 0, depth: int = 2,
                     pin: bool | None = None, readahead: bool = True) -> Iterator[Any]:
    """Items of ``batches`` (a generator that calls :func:`~.data.crops` on ``store``), built
    ``depth`` items ahead in a background thread whose crops ``workers`` threads fill.

    ``workers = 0`` is the in-process path: the generator itself, nothing ahead. ``pin``: page-locked
    buffers (default: when CUDA is available). An exception in the generator is raised here, at the
    item where it happened; closing this iterator early stops the thread."""
    if workers <= 0:
        yield from batches
        return
    import torch

    depth = max(1, depth)
    pin = torch.cuda.is_available() if pin is None else pin
    builder = CropBuilder(store, workers, ring=2 * (depth + 4), pin=pin, readahead=readahead)
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        _ACTIVE.builder = builder
        try:
            for item in batches:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failed(exc))
        finally:
            _ACTIVE.builder = None
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
        builder.close()
