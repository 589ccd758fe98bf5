"""Learning-rate schedules of the trainer, and the SWA phase that overrides them.

Three kinds (``TrainConfig.schedule``):

- ``plateau``: the LR is multiplied by ``plateau_factor`` once the validation loss (the training
  loss when there are no validation pairs) has not decreased for ``plateau_patience`` epochs in a
  row; the count starts again after each reduction. ISMIR 2022: "reduced the learning rate by a
  factor of 10 if the validation loss had not decreased in 10 epochs" (seed 000 sec. 4.2, seed 004
  sec. 4.3.2), i.e. factor 0.1, patience 10. "Decreased" is strict: a loss equal to the best so far
  counts as an epoch without a decrease (no relative threshold, unlike torch's ReduceLROnPlateau,
  which also waits ``patience + 1`` epochs).
- ``warmup_cosine``: optimiser step ``s`` (counted from 1) uses ``lr * s / W`` while ``s <= W``
  (linear warm-up from 0, reaching ``lr`` at step ``W = warmup_steps``), then
  ``min_lr + (lr - min_lr) * (1 + cos(pi * (s - W) / (T - W))) / 2``, which reaches ``min_lr`` at
  the last step ``T`` of training (and stays there if an epoch holds more steps than the first).
  ICASSP 2023: "increased linearly from 0 to 1e-4 for the first 5,000 steps and then decreased
  following a cosine decay until the models complete 50 epochs" (seed 004 sec. 5.3.3).
- ``constant``: ``lr`` throughout.
- ``warmup_constant_linear`` (MAEST, seed 004 sec. 6.3.2: "We warm up the model for 5 epochs and
  then keep the learning rate at 1e-4 until epoch 50. Then the learning rate is linearly decreased
  to 1e-7 during 50 additional epochs"), set per epoch ``e`` (0-based) as MAEST's per-epoch
  schedule: ``lr * (e + 1) / W`` for ``e < W = warmup_epochs`` (linear warm-up; the seed gives
  its length, not its shape), ``lr`` until ``S = decay_start_epoch``, then
  ``lr + (min_lr - lr) * (e - S) / D`` reaching ``min_lr`` at ``e = S + D`` (``D =
  decay_epochs``), and ``min_lr`` from there to the end of training (epochs 100-129 of 130).
  :func:`warmup_constant_linear_lr`.

SWA (``swa_start``, ``swa_lr``): from epoch ``swa_start`` (0-based) on, every optimiser step uses
``swa_lr`` and the base schedule no longer moves. ISMIR 2022: "for the last 25 epochs, we imposed a
learning rate of 1e-3 and kept a moving average of the weights" (seed 000 sec. 4.2). Without
``swa_lr`` the base schedule goes on while weights are averaged.

Schedules count optimiser steps, not micro-batches (see ``accumulate``). ``T`` is fixed when the
first epoch starts: ``epochs`` x that epoch's optimiser steps (epochs whose pair files hold more
pairs run past ``T`` at ``min_lr``). The state (steps taken, steps per epoch, plateau best and
count, last LR) is saved in checkpoints, so a resumed run follows the same LRs as an
uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from .config import TrainConfig


def warmup_cosine_lr(step: int, *, lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """LR of optimiser step ``step`` (1-based) under linear warm-up then cosine decay (see module doc)."""
    if warmup_steps > 0 and step <= warmup_steps:
        return lr * step / warmup_steps
    span = total_steps - warmup_steps
    if span <= 0:
        return lr if step <= warmup_steps else min_lr
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_constant_linear_lr(epoch: int, *, lr: float, warmup_epochs: int, decay_start: int,
                              decay_epochs: int, min_lr: float) -> float:
    """LR of 0-based ``epoch`` under warm-up, constant, then linear decay (see module doc)."""
    if epoch < warmup_epochs:
        return lr * (epoch + 1) / warmup_epochs
    if epoch < decay_start:
        return lr
    if decay_epochs <= 0 or epoch >= decay_start + decay_epochs:
        return min_lr
    return lr + (min_lr - lr) * (epoch - decay_start) / decay_epochs


class Plateau:
    """Multiply the LR by ``factor`` after ``patience`` epochs in a row without a lower loss."""

    def __init__(self, lr: float, factor: float, patience: int) -> None:
        self.lr = lr
        self.factor = factor
        self.patience = patience
        self.best = math.inf
        self.bad_epochs = 0

    def end_epoch(self, loss: float) -> float:
        """Record an epoch's loss; returns the LR of the next epoch."""
        if loss < self.best:
            self.best, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.lr *= self.factor
                self.bad_epochs = 0
        return self.lr


class LrSchedule:
    """The LR of every optimiser step of a run: base schedule, then the SWA phase.

    Use: ``set_total_steps`` once the steps per epoch are known (warmup_cosine needs it), then for
    every optimiser step ``before_step(epoch, optimizer)`` and ``after_step()``, and at the end of
    each epoch ``end_epoch(epoch, loss)``.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        self.kind = cfg.schedule
        self.lr = cfg.lr
        self.warmup_steps = cfg.warmup_steps
        self.min_lr = cfg.min_lr
        self.epochs = cfg.epochs
        self.swa_start = cfg.swa_start
        self.swa_lr = cfg.swa_lr
        self.warmup_epochs = cfg.warmup_epochs
        self.decay_start = cfg.decay_start_epoch
        self.decay_epochs = cfg.decay_epochs
        self.plateau = Plateau(cfg.lr, cfg.plateau_factor, cfg.plateau_patience)
        self.steps = 0                    # optimiser steps taken
        self.steps_per_epoch: int | None = None
        self.last_lr = cfg.lr

    @property
    def total_steps(self) -> int | None:
        """Optimiser steps of the whole run: epochs x the steps of the first epoch."""
        return None if self.steps_per_epoch is None else self.epochs * self.steps_per_epoch

    def set_total_steps(self, steps_per_epoch: int) -> str | None:
        """Fix the length of training from the first epoch's optimiser steps, once; returns a note
        when a warm-up would not end before the end of training (small runs)."""
        if self.steps_per_epoch is not None:
            return None
        self.steps_per_epoch = steps_per_epoch
        if self.kind == "warmup_cosine" and self.warmup_steps >= self.total_steps:
            return (f"warm-up of {self.warmup_steps} steps does not end before the end of training "
                    f"({self.epochs} epochs x {steps_per_epoch} optimiser steps = {self.total_steps}): "
                    "the LR never reaches its peak")
        return None

    def in_swa(self, epoch: int) -> bool:
        return self.swa_start is not None and self.swa_lr is not None and epoch >= self.swa_start

    def lr_at(self, epoch: int, step: int) -> float:
        """LR of optimiser step ``step`` (1-based, counted over the whole run) in ``epoch``."""
        if self.in_swa(epoch):
            return float(self.swa_lr)
        if self.kind == "warmup_cosine":
            if self.total_steps is None:
                raise RuntimeError("warmup_cosine needs set_total_steps before the first step")
            return warmup_cosine_lr(step, lr=self.lr, warmup_steps=self.warmup_steps,
                                    total_steps=self.total_steps, min_lr=self.min_lr)
        if self.kind == "plateau":
            return self.plateau.lr
        if self.kind == "warmup_constant_linear":
            return warmup_constant_linear_lr(epoch, lr=self.lr, warmup_epochs=self.warmup_epochs,
                                             decay_start=self.decay_start, decay_epochs=self.decay_epochs,
                                             min_lr=self.min_lr)
        return self.lr

    def before_step(self, epoch: int, optimizer) -> float:
        """Set the LR of the next optimiser step in every parameter group; returns it."""
        lr = self.lr_at(epoch, self.steps + 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        self.last_lr = lr
        return lr

    def after_step(self) -> None:
        self.steps += 1

    def end_epoch(self, epoch: int, loss: float) -> None:
        """The plateau schedule follows the epoch's loss (not during the SWA phase)."""
        if self.kind == "plateau" and not self.in_swa(epoch):
            self.plateau.end_epoch(loss)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": self.steps, "steps_per_epoch": self.steps_per_epoch, "last_lr": self.last_lr,
                "plateau": {"lr": self.plateau.lr, "best": self.plateau.best, "bad_epochs": self.plateau.bad_epochs}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ConfigError(f"checkpoint holds the state of schedule {state.get('kind')!r}, not {self.kind!r} "
                              "(checkpoint of an older version? start the run over with --force)")
        self.steps, self.steps_per_epoch, self.last_lr = state["steps"], state["steps_per_epoch"], state["last_lr"]
        p = state["plateau"]
        self.plateau.lr, self.plateau.best, self.plateau.bad_epochs = p["lr"], p["best"], p["bad_epochs"]


__all__ = ["LrSchedule", "Plateau", "warmup_constant_linear_lr", "warmup_cosine_lr"]
