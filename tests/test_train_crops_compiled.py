"""The compiled copy loop of the training crops (``train/_crops.pyx``): the same floats as the
numpy + torch path on real feature shards, the F16C and portable widenings agree on every float16,
ranges are checked before a byte is read, and two threads really copy at the same time."""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from discogs_tools.features.store import FeatureStore
from discogs_tools.train import loader
from test_train_data import N_MELS, make_feature_set

try:
    from discogs_tools.train import _crops as compiled
except ImportError:  # an install without a C compiler: the numpy + torch path only
    compiled = None
needs_compiled = pytest.mark.skipif(compiled is None, reason="the compiled crop loop is not built")


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI installs with a C compiler; elsewhere both are optional")
@pytest.mark.parametrize("module", ["discogs_tools.train._crops", "discogs_tools.discogs._walk"])
def test_ci_builds_the_compiled_modules(module: str):
    """In CI the install must build both compiled modules (a build failure is only a warning for
    users), or every test of them would be skipped unseen."""
    importlib.import_module(module)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    make_feature_set(tmp_path / "f", n_groups=4, per_group=6, short=3)  # two shards, three short tracks
    return FeatureStore(tmp_path / "f")


def fallback(store, shards, begins, counts, length, monkeypatch) -> np.ndarray:
    monkeypatch.setenv("DISCOGS_TOOLS_NO_COMPILED_CROPS", "1")
    out = np.full((len(shards), 1, length, N_MELS), np.nan, np.float32)
    loader.fill_crops(store, shards, begins, counts, out)
    monkeypatch.delenv("DISCOGS_TOOLS_NO_COMPILED_CROPS")
    return out


@needs_compiled
@pytest.mark.parametrize("length", [16, 128, 300])  # 300: longer than every track, all zero padded
def test_compiled_crops_equal_the_numpy_torch_path(store: FeatureStore, length: int, monkeypatch):
    assert loader.compiled_available()
    rng = np.random.default_rng(5)
    for positions in (np.arange(len(store)), rng.permutation(len(store)), np.repeat([0, len(store) - 1], 7)):
        shards, begins, counts = loader.plan_crops(store, positions, length, np.random.default_rng(3))
        out = np.full((len(positions), 1, length, N_MELS), np.nan, np.float32)
        loader.fill_crops(store, shards, begins, counts, out)
        assert np.array_equal(out, fallback(store, shards, begins, counts, length, monkeypatch))
        for portable in (False, True):
            again = np.full_like(out, np.nan)
            loader.gather_compiled(store, shards, begins, counts, again, portable=portable)
            assert np.array_equal(out, again)


@needs_compiled
def test_both_widenings_give_numpys_float_for_every_float16():
    """All 65,536 bit patterns through the F16C path and the portable one: numpy's exact cast
    (NaNs compared as NaNs: the payload is not part of the contract)."""
    every = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(-1, 16)
    expected = every.astype(np.float32)
    bases = np.array([every.ctypes.data], dtype=np.uintp)
    which = np.zeros(len(every), np.int64)
    begins = np.arange(len(every), dtype=np.int64)
    counts = np.ones(len(every), np.int64)
    for portable in (False, True):
        out = np.empty((len(every), 16), np.float32)
        compiled.gather(bases, which, begins, counts, 1, 16, out, portable)
        assert np.array_equal(out, expected, equal_nan=True), portable
        assert np.array_equal(np.signbit(out), np.signbit(expected))


@needs_compiled
def test_a_crop_outside_its_shard_is_refused_before_any_copy(store: FeatureStore):
    shards, begins, counts = loader.plan_crops(store, np.arange(4), 64, None)
    begins = begins.copy()
    begins[2] = store.array(int(shards[2])).shape[0] - 10  # runs 54 rows past the end of the shard
    out = np.zeros((4, 1, 64, N_MELS), np.float32)
    with pytest.raises(IndexError, match=r"crop 2: rows .* outside feature shard 0"):
        loader.gather_compiled(store, shards, begins, counts, out)
    assert not out.any()


@needs_compiled
def test_two_threads_copy_at_the_same_time(store: FeatureStore):
    """The whole batch is one call without the GIL: while one thread is inside a long copy, another
    thread runs Python (it notes the time, over and over). Ticks are counted in the middle half of
    the call only: with the GIL held for the copy there are none there (ticks right before or after
    the call are not evidence either way)."""
    import time

    big = np.zeros((4000, N_MELS), np.float16)
    bases = np.array([big.ctypes.data], dtype=np.uintp)
    n, length = 200, 4000
    out = np.empty((n, length * N_MELS), np.float32)  # 300 MB of writes: long enough to be seen
    args = (bases, np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, length, np.int64), length, N_MELS, out)
    done = threading.Event()
    ticks: list[float] = []

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())

    t = threading.Thread(target=tick)
    t.start()
    while not ticks:
        time.sleep(0.001)
    start = time.perf_counter()
    compiled.gather(*args)
    end = time.perf_counter()
    done.set()
    t.join()
    quarter = (end - start) / 4
    assert sum(start + quarter < x < end - quarter for x in ticks) > 0
