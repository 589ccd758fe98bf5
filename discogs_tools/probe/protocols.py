"""Probe protocols by name (``discogs-tools probe --protocol NAME``), each as its seed states it.

- ``mean-embedding`` (default; the probe as it always was here): the MLP trains on each track's
  mean embedding over half-overlapped patches (``discogs-tools embed``); the rate is halved after
  3 epochs without improvement of the validation score, and the epoch of the best validation
  score (macro ROC-AUC / accuracy) is kept. Inputs standardised with train statistics.
- ``ismir2022`` (seed 000 sec. 4.4 = seed 004 sec. 4.3.4): frozen backbone; the MLP (one hidden
  layer of 512) trains on random 2-s (128-frame) patches re-drawn every epoch; validation and test
  average the activations of the half-overlapped patches of the whole track; sigmoid / softmax
  for multi-label / multi-class, cross-entropy; Adam 1e-3, weight decay 1e-5; the rate halved
  when the validation loss has not decreased for 5 epochs (``ISMIR_PATIENCE``); 30 epochs; the weights of the
  lowest-validation-loss epoch. Needs the backbone (a run or a checkpoint) and its feature set,
  see :mod:`discogs_tools.probe.patches`.
- ``icassp2023-finetune`` (seed 004 sec. 5.3.5; :mod:`discogs_tools.probe.finetune`): the backbone
  is fine-tuned with a new head (one hidden layer of 128, sec. 5.3.2; sigmoid outputs); Adam
  (0.9, 0.999), cross-entropy, L2 1e-5; at most 50 epochs; cyclical triangular rate 1e-5..1e-4;
  random patches in training; validation averages non-overlapping patches of the 30 s at the
  track's centre, test those of the whole track; the epoch of the highest validation average
  precision; early stop after 10 epochs without improvement; 3 seeds (the default ``--seeds``).
  ``from_scratch`` fine-tunes a random initialisation instead (the *From Scratch* baseline of
  sec. 5.4), which is also the random-weight baseline row of a fine-tuned model.
- ``maest`` (seed 004 sec. 6.3.3): embeddings averaged over half-overlapped segments (the same
  for train, validation and test); MLP of 512 with ReLU and dropout (0.5), batch 128, 30 epochs
  (the fixed setup of secs. 6.3.4-6.3.8); binary cross-entropy; Adam, weight decay 1e-3; the
  rate raised exponentially to its maximum over 10 epochs, held, then linearly down to 1e-7;
  the weights of the epoch of the highest validation ROC-AUC.

- ``5-fold`` (seed 004 sec. 3.2.2; :mod:`discogs_tools.probe.folds`): stratified 5-fold
  cross-validation of a multi-class task, 20% test per fold, the rest 85/15 train/validation;
  the MLP of sec. 3.3.2 (100 hidden units, ReLU, softmax, Adam 1e-3, weight decay 1e-5, at most
  30 epochs, the weights of the lowest validation loss); balanced accuracy mean and std over the
  folds.

Values the seeds do not give, and what is used (searched in the cited sections):
- ``ismir2022`` batch size: not stated in seed 000 sec. 4.4 / seed 004 sec. 4.3.4 -> 256 (as
  ``mean-embedding``); input standardisation: not stated -> kept (train statistics; a linear
  rescaling per dimension), ``--no-standardize`` turns it off.
- ``maest`` maximum learning rate for the fixed setup: not stated (the grid of sec. 6.3.3 is
  {1e-3, 1e-4, 5e-4, 1e-5}) -> 1e-3; how long the rate is held: not stated -> linear decay over
  the second half of the epochs (``ProbeConfig.rampdown_start``); the formula of the exponential
  ramp: not stated -> exp(-5 (1 - t)^2) (see ``mlp.schedule_factor``).
- ``maest`` input standardisation: not stated in sec. 6.3.3 -> kept (train statistics),
  ``--no-standardize`` turns it off.
- ``maest`` grid search (``probe --grid-search``): the 144 combinations of sec. 6.3.3 (batch
  {64, 128, 256}, epochs {30, ..., 80}, dropout {0.5, 0.75}, maximum rate {1e-3, 1e-4, 5e-4,
  1e-5}); each is trained with the first seed and the one of the highest validation score
  (ROC-AUC) is then run with every seed. How the seed picks the combination is not stated ->
  the validation score, as for the epochs.
- ``5-fold``: the rate schedule (sec. 3.3.2 states none -> constant); the MLP input: given a run or
  a checkpoint, one embedding per second (sec. 3.2.1; 128-frame patches starting every second),
  one random timestamp per track and epoch (sec. 3.3.6, "choosing a random time index t"); how
  validation and test turn timestamps into one prediction per track is not stated -> the
  activations are averaged over all of the track's timestamps (as ``ismir2022`` does over its
  patches). Embedding files hold one vector per track: they are probed on those (a warning
  says so); how folds are drawn (see
  :mod:`discogs_tools.probe.folds`); multi-label tasks: the tasks of sec. 3.2.5 are all
  multi-class and the seed gives no multi-label stratification -> refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from .mlp import ProbeConfig

MEAN, PATCHES, FINETUNE = "mean", "patches", "finetune"
# Seed 000 sec. 4.4: "divided the learning rate by half if the loss had not decreased in five
# epochs". ``plateau_patience`` counts as PyTorch's ReduceLROnPlateau does (the rate changes after
# patience + 1 epochs without improvement), so 4 halves it at the end of the 5th such epoch.
ISMIR_PATIENCE = 4


@dataclass(frozen=True)
class Protocol:
    """A named probe protocol: where its inputs come from and its probe hyper-parameters."""

    name: str
    inputs: str                 # mean (per-track mean embeddings) | patches (per-patch, needs the backbone)
    settings: dict[str, Any] = field(default_factory=dict)  # ProbeConfig fields that differ from its defaults
    source: str = ""
    crop_hop: int = 64          # patches: grid step of the random training crops (frames)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # the seed's hyper-parameter grid, if any
    folds: int = 0              # k-fold cross-validation (multi-class) instead of one split; 0: one split
    timestamps_hz: float = 0.0  # > 0: given a backbone, train on per-timestamp embeddings at this rate

    def config(self, **overrides: Any) -> ProbeConfig:
        """The protocol's ProbeConfig; ``overrides`` (None values ignored) replace single fields."""
        chosen = {k: v for k, v in overrides.items() if v is not None}
        return replace(ProbeConfig(), **{**self.settings, **chosen})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": self.inputs, "source": self.source,
                **({"crop_hop": self.crop_hop} if self.inputs == PATCHES else {}),
                **({"folds": self.folds} if self.folds else {})}


PROTOCOLS: dict[str, Protocol] = {
    "mean-embedding": Protocol(
        "mean-embedding", MEAN, {"plateau_patience": 3, "selection": "score"},
        "this toolkit's default: mean embeddings, selection on the validation score"),
    "ismir2022": Protocol(
        "ismir2022", PATCHES,
        {"hidden": 512, "epochs": 30, "learning_rate": 1e-3, "weight_decay": 1e-5, "plateau_patience": ISMIR_PATIENCE,
         "plateau_factor": 0.5, "selection": "loss", "schedule": "plateau"},
        "seed 000 sec. 4.4; seed 004 sec. 4.3.4"),
    "maest": Protocol(
        "maest", MEAN,
        {"hidden": 512, "epochs": 30, "batch_size": 128, "dropout": 0.5, "learning_rate": 1e-3,
         "weight_decay": 1e-3, "schedule": "warmup-hold-linear", "warmup_epochs": 10,
         "final_learning_rate": 1e-7, "selection": "score"},
        "seed 004 sec. 6.3.3",
        # seed 004 sec. 6.3.3, the grid searched "for each task" in sec. 6.3.7
        grid={"batch_size": (64, 128, 256), "epochs": (30, 40, 50, 60, 70, 80), "dropout": (0.5, 0.75),
              "learning_rate": (1e-3, 1e-4, 5e-4, 1e-5)}),
    "icassp2023-finetune": Protocol(
        "icassp2023-finetune", FINETUNE,
        {"hidden": 128, "epochs": 50, "learning_rate": 1e-4, "min_learning_rate": 1e-5, "weight_decay": 1e-5,
         "batch_size": 64, "cycle_epochs": 2, "early_stop": 10, "selection": "score", "standardize": False},
        "seed 004 sec. 5.3.5 (head: sec. 5.3.2; seeds and From Scratch: sec. 5.4)"),
    # seed 004 sec. 3.2.2 (folds, 20% test, 85/15 train/validation, balanced accuracy over folds);
    # the MLP of sec. 3.3.2: one hidden layer of 100 units, ReLU, softmax, Adam 1e-3, weight decay
    # 1e-5, at most 30 epochs, the weights of the lowest validation loss; no rate schedule is
    # stated, so the rate is constant (a plateau patience no run reaches).
    "5-fold": Protocol(
        "5-fold", MEAN,
        {"hidden": 100, "epochs": 30, "learning_rate": 1e-3, "weight_decay": 1e-5, "selection": "loss",
         "schedule": "plateau", "plateau_patience": 1_000_000},
        "seed 004 sec. 3.2.2 (MLP: sec. 3.3.2; 1-Hz timestamps: sec. 3.2.1)", folds=5,
        # seed 004 sec. 3.2.1: "a target rate of 1Hz (i.e., one embedding per second)"
        timestamps_hz=1.0),
}
DEFAULT = "mean-embedding"


def grid_configs(base: ProbeConfig, grid: dict[str, tuple[Any, ...]]) -> list[tuple[dict[str, Any], ProbeConfig]]:
    """Every combination of the ``grid`` values (in the grid's key order) applied to ``base``:
    (the combination, its ProbeConfig). Unknown field names are a one-line error."""
    unknown = [k for k in grid if k not in ProbeConfig.__dataclass_fields__]
    if unknown:
        raise ConfigError(f"grid search over unknown probe setting(s) {unknown}")
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        choice = dict(zip(keys, values))
        out.append((choice, replace(base, **choice)))
    return out


def get(name: str) -> Protocol:
    """The protocol called ``name``; a one-line error listing the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown probe protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None
