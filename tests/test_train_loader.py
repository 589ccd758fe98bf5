"""The training input pipeline: crops built by worker threads into reusable buffers, a batch
generator run ``depth`` batches ahead, identical batches whatever the number of workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from discogs_tools.features.store import FeatureStore
from discogs_tools.train.data import crops
from discogs_tools.train.loader import CropBuilder, prefetch_batches
from test_train_data import N_MELS, make_feature_set


def reference_crops(store: FeatureStore, positions, length: int, rng) -> np.ndarray:
    """The crops of the first trainer (one scalar draw per crop, float16 rows cast on copy)."""
    out = np.zeros((len(positions), 1, length, store.n_mels), dtype=np.float32)
    for i, pos in enumerate(positions):
        frames = int(store.frames[pos])
        spare = max(frames - length, 0)
        start = int(rng.integers(0, spare + 1)) if rng is not None else spare // 2
        rows = store.rows(int(pos), start, min(length, frames))
        out[i, 0, : len(rows)] = rows
    return out


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    make_feature_set(tmp_path / "f", n_groups=4, per_group=6, short=3)  # two shards, three short tracks
    return FeatureStore(tmp_path / "f")


def test_crops_equal_the_reference_and_leave_the_generator_in_the_same_state(store: FeatureStore):
    pos = np.random.default_rng(0).permutation(len(store))
    for rng_seed in (None, 7):
        r1 = None if rng_seed is None else np.random.default_rng(rng_seed)
        r2 = None if rng_seed is None else np.random.default_rng(rng_seed)
        assert np.array_equal(crops(store, pos, 128, r1), reference_crops(store, pos, 128, r2))
        if rng_seed is not None:
            assert r1.integers(0, 2**62) == r2.integers(0, 2**62)


def steps(store: FeatureStore, seed: int, n_steps: int = 6, batch: int = 5):
    """A trainer-like batch generator: anchors then positives cropped with one generator."""
    rng = np.random.default_rng([seed, 3])
    order = np.random.default_rng(seed).permutation(len(store))
    for s in range(n_steps):
        a = order[(s * batch) % len(order):][:batch]
        yield crops(store, a, 64, rng), crops(store, a[::-1], 64, rng), s


def test_identical_batches_with_0_1_and_2_workers(store: FeatureStore):
    plain = [(a.copy(), p.copy(), s) for a, p, s in steps(store, 1)]
    for workers in (0, 1, 2):
        for depth in (1, 3):
            got = [(a.copy(), p.copy(), s) for a, p, s in
                   prefetch_batches(steps(store, 1), store, workers=workers, depth=depth)]
            assert len(got) == len(plain)
            for (a, p, s), (ea, ep, es) in zip(got, plain):
                assert s == es and np.array_equal(a, ea) and np.array_equal(p, ep)


def test_buffers_are_reused_but_not_while_the_trainer_holds_them(store: FeatureStore):
    """The trainer looks one batch ahead (with_last): the last two batches must stay intact."""
    held: list[tuple] = []
    seen_buffers: set[int] = set()
    for batch in prefetch_batches(steps(store, 2, n_steps=24), store, workers=2, depth=2):
        held = (held + [(batch, batch[0].copy(), batch[1].copy())])[-2:]
        for (a, p, _), ca, cp in held:
            assert np.array_equal(a, ca) and np.array_equal(p, cp)
        seen_buffers.add(batch[0].__array_interface__["data"][0])
    assert len(seen_buffers) < 24  # the same memory serves again


def test_errors_reach_the_trainer_and_an_early_stop_ends_the_thread(store: FeatureStore):
    import threading

    def broken():
        yield from steps(store, 3, n_steps=2)
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(prefetch_batches(broken(), store, workers=1, depth=2))
    before = threading.active_count()
    it = prefetch_batches(steps(store, 4, n_steps=50), store, workers=2, depth=2)
    next(it)
    it.close()
    assert threading.active_count() <= before


def test_builder_reads_ahead_and_crops_like_the_reference(store: FeatureStore):
    builder = CropBuilder(store, workers=2, readahead=True)
    pos = np.arange(len(store))
    try:
        got = builder(pos, 128, np.random.default_rng(5))
        assert got.shape == (len(store), 1, 128, N_MELS) and got.dtype == np.float32
        assert np.array_equal(got, reference_crops(store, pos, 128, np.random.default_rng(5)))
    finally:
        builder.close()  # waits for the read-ahead thread
    assert builder.advised == len(store)  # one read-ahead hint per crop


def test_the_trainer_hook_trains_identically_with_0_and_2_workers(tmp_path: Path, monkeypatch):
    """``data.prefetch`` around the trainer's batch generator (the one-line hook proposed for
    loop.py, applied here by wrapping ``loop._batches``) changes nothing in what is trained."""
    from discogs_tools.train import loop
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.data import prefetch
    from discogs_tools.workspace import Workspace
    from test_train_data import GroupPairs

    plain = loop._batches

    def hooked(cfg, model, inputs, *rest):
        return prefetch(plain(cfg, model, inputs, *rest), inputs.store, cfg)

    monkeypatch.setattr(loop, "_batches", hooked)
    results = {}
    for workers in (0, 2):
        ws = Workspace(tmp_path / f"w{workers}").ensure()
        ids = make_feature_set(ws.features / "syn", n_groups=8, per_group=4, frames=(40, 80))
        cfg = TrainConfig(run="hook", features="syn", objective="simclr", associations=("artist",),
                          backbone="small_cnn", cnn_width=8, epochs=2, batch_size=8, crop_frames=16, device="cpu",
                          num_workers=workers)
        report = loop.run(ws, cfg, source=GroupPairs(ids), echo=lambda s: None)
        results[workers] = (report.figures["train_loss"], report.figures["val_loss"])
    assert results[0] == results[2]


def test_gathered_crops_equal_per_crop_copies_on_one_and_several_shards(store: FeatureStore, monkeypatch):
    """copy_rows gathers each shard's crops in one np.take; the bytes are those of one slice copy
    per crop (short tracks zero padded), whether the batch spans one shard or two."""
    from discogs_tools.train import loader

    rng = np.random.default_rng(11)
    one_shard = np.flatnonzero(store.shards == store.shards[0])
    padded = 0
    for positions in (np.arange(len(store)), rng.permutation(len(store)), np.repeat(one_shard, 3)):
        shards, begins, counts = loader.plan_crops(store, positions, 128, np.random.default_rng(2))
        gathered = np.full((len(positions), 128, N_MELS), np.nan, np.float16)
        loader.copy_rows(store, shards, begins, counts, gathered)
        monkeypatch.setattr(loader, "_GATHER_MIN_PER_SHARD", 10**9)  # per-crop slice copies
        looped = np.full((len(positions), 128, N_MELS), np.nan, np.float16)
        loader.copy_rows(store, shards, begins, counts, looped)
        monkeypatch.undo()
        assert np.array_equal(gathered, looped)
        padded += int((counts < 128).sum())
    assert padded > 0  # short tracks were among them


def test_a_released_buffer_is_reused_and_a_held_one_never_rewritten(store: FeatureStore):
    builder = CropBuilder(store, workers=1, ring=4, readahead=False)
    pos = np.arange(8)
    try:
        held = builder(pos, 32, np.random.default_rng(0))
        kept = held.copy()
        dropped = builder(pos, 32, np.random.default_rng(1))
        address = dropped.ctypes.data
        del dropped
        again = builder(pos, 32, np.random.default_rng(2))
        assert again.ctypes.data == address  # the free buffer, not the next in a rotation
        views = [builder(pos, 32, np.random.default_rng(k))[:1] for k in range(3, 9)]  # views hold theirs
        assert np.array_equal(held, kept)
        assert len({v.ctypes.data for v in views} | {held.ctypes.data, again.ctypes.data}) == 8
    finally:
        builder.close()


def test_read_ahead_hints_go_out_from_their_own_thread(store: FeatureStore, monkeypatch):
    import os
    import threading

    callers = []
    real = os.posix_fadvise
    monkeypatch.setattr(os, "posix_fadvise", lambda *a: (callers.append(threading.current_thread().name), real(*a)))
    builder = CropBuilder(store, workers=1, readahead=True)
    try:
        builder(np.arange(len(store)), 64, np.random.default_rng(0))
    finally:
        builder.close()
    assert len(callers) == len(store) and threading.current_thread().name not in callers


def test_pinned_buffers_keep_the_rotation_whoever_holds_them(store: FeatureStore, monkeypatch):
    """An asynchronous copy to the device may still read a pinned buffer after its last Python
    reference is gone: pinned buffers are reused only after a full turn of the ring, unpinned
    ones as soon as they are free."""
    import torch

    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **k: real_empty(*a, **k))  # no CUDA here
    pos = np.arange(8)
    addresses = {}
    for pinned in (False, True):
        builder = CropBuilder(store, workers=1, ring=3, readahead=False)
        builder.pin = pinned
        seen = []
        for k in range(4):
            seen.append(builder(pos, 32, np.random.default_rng(k)).ctypes.data)  # dropped at once
        builder.close()
        addresses[pinned] = seen
    assert len(set(addresses[False])) == 1  # the one free buffer, again and again
    assert len(set(addresses[True][:3])) == 3 and addresses[True][3] == addresses[True][0]
