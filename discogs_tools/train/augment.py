"""Batch augmentations of the MAEST recipe (seed 004 sec. 6.3.2), on the numpy batches the trainer builds.

- :func:`mixup` (Zhang et al. 2018, "mixup with alpha = 0.3"): every row ``i`` of the batch becomes
  ``lam_i * x_i + (1 - lam_i) * x_j`` with ``j`` a random permutation of the batch and
  ``lam_i ~ Beta(alpha, alpha)``; its multi-hot targets are mixed with the same ``lam_i``, so targets
  stay in [0, 1] and each mixed input lies between its two sources.
- :func:`spec_augment` (Park et al. 2019, "masking up to 20 groups of 8 timestamps and up to 5 groups
  of 8 frequency bands"): per row, ``time_masks`` masks of a width drawn uniformly from 0..``time_width``
  frames, and ``freq_masks`` masks of 0..``freq_width`` bands, each at a uniform start; masked values
  are set to 0, silence in the stored log10(1 + 10000 x) mel scale. Masks may overlap, so a row loses
  at most ``time_masks * time_width`` frames and ``freq_masks * freq_width`` bands.

Both draw only from the generator passed in (the trainer's per-epoch one), so they are reproducible.
"""

from __future__ import annotations

import numpy as np


def mixup(x: np.ndarray, targets: np.ndarray, alpha: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mixed x, mixed targets, lam per row, partner per row); x is (n, ...), targets (n, classes)."""
    n = len(x)
    lam = rng.beta(alpha, alpha, size=n).astype(np.float32)
    partner = rng.permutation(n)
    shape = (n,) + (1,) * (x.ndim - 1)
    mixed = lam.reshape(shape) * x + (1.0 - lam.reshape(shape)) * x[partner]
    mixed_targets = lam[:, None] * targets + (1.0 - lam[:, None]) * targets[partner]
    return mixed.astype(x.dtype, copy=False), mixed_targets.astype(targets.dtype, copy=False), lam, partner


def spec_augment(x: np.ndarray, rng: np.random.Generator, *, time_masks: int, time_width: int,
                 freq_masks: int, freq_width: int) -> np.ndarray:
    """Masks in place and returns ``x`` of shape (n, 1, frames, bands) (see module doc)."""
    n, _, frames, bands = x.shape
    for i in range(n):
        for count, width, size, axis in ((time_masks, time_width, frames, 0), (freq_masks, freq_width, bands, 1)):
            for _ in range(count):
                w = int(rng.integers(0, min(width, size) + 1))
                start = int(rng.integers(0, size - w + 1))
                if w == 0:
                    continue
                if axis == 0:
                    x[i, :, start:start + w, :] = 0.0
                else:
                    x[i, :, :, start:start + w] = 0.0
    return x


__all__ = ["mixup", "spec_augment"]
