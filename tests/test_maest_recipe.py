"""The MAEST training recipe's parts (seed 004 sec. 6.3.1-6.3.2) against their definitions: the balanced
epoch sample, the warm-up / constant / linear-decay LR schedule, mixup and SpecAugment."""

from __future__ import annotations

import numpy as np
import pytest

from discogs_tools.train.augment import mixup, spec_augment
from discogs_tools.train.balanced_sampler import (
    balanced_epoch,
    inverse_frequency_weights,
    weighted_sample_without_replacement,
)
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.schedules import LrSchedule, warmup_constant_linear_lr


def skewed_labels(n: int = 2000, seed: int = 0) -> list[np.ndarray]:
    """Label 0 on most tracks, label 3 on few; 1-2 labels per track."""
    rng = np.random.default_rng(seed)
    p = np.array([0.6, 0.25, 0.1, 0.05])
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 3))
        out.append(np.unique(rng.choice(4, size=k, p=p)))
    return out


def test_inverse_frequency_weights_sum_over_a_tracks_labels():
    labels = [np.array([0]), np.array([0, 1]), np.array([0]), np.array([], dtype=np.int64)]
    w = inverse_frequency_weights(labels, 3)
    assert np.allclose(w, [1 / 3, 1 / 3 + 1, 1 / 3, 0.0])


def test_sample_is_without_replacement_seeded_and_skips_zero_weights():
    labels = skewed_labels(300) + [np.array([], dtype=np.int64)] * 5
    a = balanced_epoch(labels, 4, 200, np.random.default_rng([1, 0]))
    b = balanced_epoch(labels, 4, 200, np.random.default_rng([1, 0]))
    c = balanced_epoch(labels, 4, 200, np.random.default_rng([1, 1]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(a) == 200 and len(set(a.tolist())) == 200
    assert not set(a.tolist()) & set(range(300, 305))
    assert len(balanced_epoch(labels, 4, 10_000, np.random.default_rng(0))) == 300  # all usable tracks


def test_inclusion_frequencies_follow_the_inverse_frequency_weights():
    labels = skewed_labels(2000)
    w = inverse_frequency_weights(labels, 4)
    k, trials = 20, 3000
    hits = np.zeros(len(labels))
    for t in range(trials):
        hits[weighted_sample_without_replacement(w, k, np.random.default_rng([7, t]))] += 1
    # with k << n each draw picks track i with probability ~ w_i / sum(w); compare per label group
    expected = k * trials * w / w.sum()
    for label in range(4):
        members = np.array([label in lab for lab in labels])
        assert hits[members].sum() == pytest.approx(expected[members].sum(), rel=0.05)
    # the point of the sampler: labels are far closer to balanced than in the data
    counts_data = np.array([sum(label in lab for lab in labels) for label in range(4)], dtype=float)
    share = lambda c: c / c.sum()
    sampled = np.array([hits[[label in lab for lab in labels]].sum() for label in range(4)])
    assert np.ptp(share(sampled)) < 0.5 * np.ptp(share(counts_data))


@pytest.mark.parametrize("epoch, expected", [(0, 1e-4 / 5), (2, 3e-4 / 5), (4, 1e-4), (5, 1e-4), (49, 1e-4),
                                             (50, 1e-4), (75, 1e-4 + (1e-7 - 1e-4) * 25 / 50),
                                             (99, 1e-4 + (1e-7 - 1e-4) * 49 / 50), (100, 1e-7), (129, 1e-7)])
def test_maest_schedule_equals_its_formula(epoch, expected):
    # seed 004 sec. 6.3.2: 5 warm-up epochs, 1e-4 until epoch 50, linear to 1e-7 over 50 epochs; 130 epochs
    f = warmup_constant_linear_lr(epoch, lr=1e-4, warmup_epochs=5, decay_start=50, decay_epochs=50, min_lr=1e-7)
    assert f == pytest.approx(expected, rel=1e-12)
    cfg = TrainConfig(run="r", features="f", objective="classification", associations=(), backbone="maest",
                      epochs=130, lr=1e-4, min_lr=1e-7, schedule="warmup_constant_linear", warmup_epochs=5,
                      decay_start_epoch=50, decay_epochs=50, swa_start=50, swa_every=5)
    schedule = LrSchedule(cfg)
    schedule.set_total_steps(100)
    assert schedule.lr_at(epoch, epoch * 100 + 1) == f  # the SWA phase (no swa_lr) keeps the schedule


def test_mixup_stays_between_its_sources_and_mixes_targets_alike():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1, 20, 96)).astype(np.float32)
    y = (rng.random((64, 10)) < 0.2).astype(np.float32)
    mixed, my, lam, partner = mixup(x.copy(), y, 0.3, np.random.default_rng(5))
    assert mixed.dtype == np.float32 and my.shape == y.shape
    assert ((lam >= 0) & (lam <= 1)).all() and sorted(partner.tolist()) == list(range(64))
    lo, hi = np.minimum(x, x[partner]), np.maximum(x, x[partner])
    assert ((mixed >= lo - 1e-5) & (mixed <= hi + 1e-5)).all()
    assert ((my >= 0) & (my <= 1)).all()
    assert np.allclose(my, lam[:, None] * y + (1 - lam[:, None]) * y[partner])
    # Beta(0.3, 0.3) is U-shaped: most weights near 0 or 1
    lams = mixup(x, y, 0.3, np.random.default_rng(6))[2]
    assert np.mean((lams < 0.1) | (lams > 0.9)) > 0.5
    again = mixup(x.copy(), y, 0.3, np.random.default_rng(5))
    assert np.array_equal(again[0], mixed)


def test_spec_augment_masks_at_most_20_groups_of_8_frames_and_5_of_8_bands():
    x = np.ones((40, 1, 312, 96), dtype=np.float32)
    spec_augment(x, np.random.default_rng(3), time_masks=20, time_width=8, freq_masks=5, freq_width=8)
    masked_frames = (x[:, 0] == 0).all(axis=2).sum(axis=1)   # frames zero over all bands
    masked_bands = (x[:, 0] == 0).all(axis=1).sum(axis=1)    # bands zero over all frames
    assert (masked_frames <= 20 * 8).all() and (masked_bands <= 5 * 8).all()
    assert masked_frames.max() > 40 and masked_bands.max() > 8   # masks do happen, several per row
    # every zero is inside a masked frame or a masked band (nothing else touched)
    zeros = x[:, 0] == 0
    explained = (x[:, 0] == 0).all(axis=2)[:, :, None] | (x[:, 0] == 0).all(axis=1)[:, None, :]
    assert not (zeros & ~explained).any()
    none = np.ones((2, 1, 50, 96), dtype=np.float32)
    spec_augment(none, np.random.default_rng(3), time_masks=0, time_width=8, freq_masks=0, freq_width=8)
    assert (none == 1).all()
