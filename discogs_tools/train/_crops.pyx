# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled copy loop of the training crops (optional: :mod:`.loader` falls back to numpy + torch).

Why: with the copies in Python + numpy + torch, each crop thread re-took the GIL a few dozen times
per batch (index arithmetic, one ``np.take`` per shard, one torch cast per 31k values), so two
crop threads were slower than one (84k against 98k crops/s on 2 cores). Here a thread's whole
share of a batch (gather + float16 -> float32 widening + zero padding) is one call that holds the
GIL only to read its arguments, so the threads copy in parallel. The arithmetic is in
``_crops_kernel.h``."""

from libc.stdint cimport int64_t, uint16_t, uintptr_t

cdef extern from "_crops_kernel.h" nogil:
    void crops_gather(const uint16_t *const *bases, const int64_t *which, const int64_t *begins,
                      const int64_t *counts, int64_t n, int64_t length, int64_t width, float *out,
                      int fast)
    int crops_cpu_has_f16c()

cdef int _fast = crops_cpu_has_f16c()


def widening() -> str:
    """Which float16 -> float32 path this CPU uses: ``"f16c"`` or ``"portable"``."""
    return "f16c" if _fast else "portable"


def gather(const uintptr_t[::1] bases, const int64_t[::1] which, const int64_t[::1] begins,
           const int64_t[::1] counts, int64_t length, int64_t width, float[:, ::1] out,
           bint portable=False) -> None:
    """Crop ``j`` (``out[j]``, ``length * width`` float32 values) = rows ``begins[j]`` ..
    ``begins[j] + counts[j] - 1`` of the float16 array at address ``bases[which[j]]`` (rows of
    ``width`` values), then zeros. The caller keeps the arrays alive and has checked the ranges.
    ``portable``: skip the F16C path (tests compare the two)."""
    cdef int64_t n = which.shape[0]
    if begins.shape[0] != n or counts.shape[0] != n or out.shape[0] < n or out.shape[1] != length * width:
        raise ValueError("gather: arguments of different lengths")
    if n == 0:
        return
    cdef int fast = _fast and not portable
    with nogil:
        crops_gather(<const uint16_t *const *> &bases[0], &which[0], &begins[0], &counts[0], n,
                     length, width, &out[0, 0], fast)
