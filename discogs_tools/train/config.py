"""The run configuration: one frozen dataclass, saved as runs/<run>/config.json and in every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import ConfigError

OBJECTIVES = ("cola", "simclr", "multitask", "w2v", "ico", "classification")
# Backbones (train/backbones.py BACKBONE_NAMES; kept here so that config needs no torch):
# EfficientNet-B0 (ISMIR 2022, seed 000 sec. 4.2), a small CNN for tests and quick runs, VGGish and
# ResNet50 (ICASSP 2023, seed 004 sec. 5.3.2).
# ResNet50 (ICASSP 2023, seed 004 sec. 5.3.2), and MAEST, the spectrogram transformer with
# patchout (seed 004 ch. 6, train/backbones_maest.py).
BACKBONES = ("efficientnet_b0", "small_cnn", "vggish", "resnet50", "maest")
# LR schedules: plateau (ISMIR 2022: /10 after 10 epochs without a lower validation loss),
# warmup_cosine (ICASSP 2023: linear warm-up then cosine decay to the end of training), constant,
# warmup_constant_linear (MAEST, seed 004 sec. 6.3.2: warm-up, constant, linear decay, per epoch).
SCHEDULES = ("plateau", "warmup_cosine", "constant", "warmup_constant_linear")
# MAEST embedding tokens (seed 004 sec. 6.3.3): cls^n, dist^n, avg^n (mean of the patch tokens).
EMBED_TOKEN_NAMES = ("cls", "dist", "avg")
# How the backbone's last feature map becomes the embedding: global average pooling, or a
# fully-connected layer on the flattened map (ISMIR 2022, seed 000 sec. 4.2: 1280 units).
EMBEDDING_HEADS = ("pool", "flatten_fc")
# View augmentation of the SimCLR baseline: none, or mix each view with a random patch of the
# batch scaled by a gain drawn from Beta(a, b) (ICASSP 2023, seed 004 sec. 5.3.3).
SIMCLR_AUGMENTS = ("none", "mix")
# Default multi-task weights (DESIGN section 6); other associations default to 1.
DEFAULT_TASK_WEIGHTS = {"track": 0.1, "release": 0.15, "artist": 0.6, "label": 0.15}
# Fields stored as JSON lists and held as tuples.
TUPLE_FIELDS = ("associations", "task_weights", "adam_betas", "batch_shares", "mix_gain_beta", "embed_tokens")
# Fields that may differ between a run and its resumption.
RESUMABLE_CHANGES = ("epochs", "device", "amp", "channels_last", "num_workers", "prefetch", "strict")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (with the inputs on disk)."""

    run: str                                   # runs/<run>/
    features: str                              # features/<name>/ (or a path to a feature set)
    dataset: str | None = None                 # datasets/<name>/ for pairs, tracks, styles
    objective: str = "cola"
    associations: tuple[str, ...] = ("release",)
    task_weights: tuple[float, ...] = ()       # multitask: one per association (empty: DEFAULT_TASK_WEIGHTS)
    backbone: str = "efficientnet_b0"
    cnn_width: int = 32                        # small_cnn: channels of its first block (then x2, x4, x8)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    plateau_patience: int = 2                  # plateau: epochs without a lower loss (ISMIR: 10, seed 000 sec. 4.2)
    plateau_factor: float = 0.5                # plateau: LR multiplier (ISMIR: 0.1, seed 000 sec. 4.2)
    crop_frames: int = 128                     # 2 s of 16 ms frames
    temperature: float = 0.1                   # SimCLR NT-Xent
    cola_dim: int = 512                        # COLA / w2v projection size
    simclr_dim: int = 128
    top_styles: int = 400                      # classification baseline vocabulary
    w2v_vectors: str | None = None             # Parquet (track_key|track_id, vector)
    swa_start: int | None = None               # first epoch (0-based) averaged by SWA; None: off
    swa_lr: float | None = None                # constant LR from swa_start on (None: the schedule goes on)
    schedule: str = "plateau"                  # one of SCHEDULES
    warmup_steps: int = 0                      # warmup_cosine: optimiser steps of linear warm-up from 0
    min_lr: float = 0.0                        # warmup_cosine: LR at the end of training
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    accumulate: int = 1                        # micro-batches of batch_size pairs per optimiser step
    batch_shares: tuple[int, ...] = ()         # pairs per association in each batch (sum = batch; default equal)
    keep_epoch_checkpoints: bool = False       # also keep checkpoints/epoch-NNN.pt (init from an epoch)
    embedding_head: str = "pool"               # one of EMBEDDING_HEADS
    embedding_dim: int | None = None           # flatten_fc units (None: the backbone's channel count)
    simclr_hidden: int = 128                   # SimCLR projector hidden units
    simclr_augment: str = "none"               # one of SIMCLR_AUGMENTS
    mix_gain_beta: tuple[float, float] = (5.0, 2.0)
    max_steps_per_epoch: int | None = None     # cap (quick runs, benchmarks)
    # MAEST (seed 004 ch. 6; train/backbones_maest.py). Architecture defaults = the published model;
    # recipe fields default to off (the published values are in pipelines/maest_discogs20.toml).
    maest_width: int = 768                     # not in seed 004 (sec. 6.2: ~87M parameters): DeiT-B / PaSST width
    maest_depth: int = 12                      # sec. 6.2: 12 blocks of self-attention
    maest_heads: int = 12                      # not in seed 004: DeiT-B / PaSST heads
    patchout_time: int | None = None           # sec. 6.3.6: time patches dropped (None: 15 per 5 s)
    patchout_freq: int = 3                     # sec. 6.2: 3 frequency patches dropped
    embed_block: int = 7                       # sec. 6.3.4: embeddings of block 7 ...
    embed_tokens: tuple[str, ...] = ("cls", "dist", "avg")  # ... stacked as (cls^7, dist^7, avg^7)
    init_weights: str | None = None            # sec. 6.2 / 6.3.5: local DeiT-B/384 or PaSST-S-S16 weights file
    input_norm_tracks: int | None = None       # sec. 6.3.1: training tracks for the mean/std (None: all)
    epoch_tracks: int | None = None            # sec. 6.3.1: balanced sample per epoch (200,000; None: all)
    mixup_alpha: float = 0.0                   # sec. 6.3.2: mixup alpha 0.3 (0: off)
    specaugment_time_masks: int = 0            # sec. 6.3.2: up to 20 groups ...
    specaugment_time_width: int = 8            # ... of 8 frames
    specaugment_freq_masks: int = 0            # sec. 6.3.2: up to 5 groups ...
    specaugment_freq_width: int = 8            # ... of 8 bands
    warmup_epochs: int = 0                     # warmup_constant_linear: sec. 6.3.2, 5 epochs
    decay_start_epoch: int = 0                 # warmup_constant_linear: constant until epoch 50
    decay_epochs: int = 0                      # warmup_constant_linear: linear to min_lr over 50 epochs
    swa_every: int = 1                         # SWA averages every N epochs from swa_start (sec. 6.3.2: 5)
    seed: int = 0
    strict: bool = False                       # fail on pairs whose tracks lack features
    device: str = "auto"                       # auto | cpu | cuda | cuda:N
    amp: bool = True                           # mixed precision on GPU (ignored on CPU)
    channels_last: bool = False
    num_workers: int = 0                       # crop worker threads of the input pipeline (0: in process)
    prefetch: int = 2                          # batches built ahead when num_workers > 0
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("epochs must be >= 1 and batch size >= 2 (contrastive losses need negatives)")
        if self.objective == "multitask" and self.task_weights and len(self.task_weights) != len(self.associations):
            raise ConfigError("--task-weights needs one weight per association")
        if self.objective in ("cola", "simclr") and len(self.associations) != 1:
            raise ConfigError(f"objective {self.objective} takes one association (use multitask for several)")
        if self.objective == "w2v" and not self.w2v_vectors:
            raise ConfigError("objective w2v needs --w2v-vectors (Parquet with track_key or track_id, vector)")
        if self.objective != "classification" and not self.associations:
            raise ConfigError(f"objective {self.objective} needs at least one association")
        if self.crop_frames < 16:
            raise ConfigError("crop_frames must be at least 16")
        for name, value, valid in (("schedule", self.schedule, SCHEDULES),
                                   ("embedding head", self.embedding_head, EMBEDDING_HEADS),
                                   ("SimCLR augmentation", self.simclr_augment, SIMCLR_AUGMENTS)):
            if value not in valid:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(valid)}")
        self._check_maest()
        if self.accumulate < 1:
            raise ConfigError(f"accumulate must be at least 1, got {self.accumulate}")
        self._check_recipe_numbers()
        self.task_sizes()  # a batch that cannot be split as requested is an error now, not at epoch 0

    def _check_recipe_numbers(self) -> None:
        checks = (("plateau_patience", self.plateau_patience >= 1, "at least 1"),
                  ("plateau_factor", 0.0 < self.plateau_factor <= 1.0, "in (0, 1]"),
                  ("lr", self.lr >= 0.0, ">= 0"),
                  ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
                  ("min_lr", 0.0 <= self.min_lr <= self.lr
                   or self.schedule not in ("warmup_cosine", "warmup_constant_linear"), "in [0, lr]"),
                  ("weight_decay", self.weight_decay >= 0.0, ">= 0"),
                  ("adam_betas", len(self.adam_betas) == 2 and all(0.0 <= b < 1.0 for b in self.adam_betas),
                   "two numbers in [0, 1)"),
                  ("swa_start", self.swa_start is None or 0 <= self.swa_start < self.epochs,
                   f"an epoch in 0..{self.epochs - 1}"),
                  ("swa_lr", self.swa_lr is None or self.swa_lr > 0.0, "> 0"),
                  ("mix_gain_beta", len(self.mix_gain_beta) == 2 and all(b > 0 for b in self.mix_gain_beta),
                   "two positive numbers"))
        for name, ok, what in checks:
            if not ok:
                raise ConfigError(f"{name} must be {what}, got {getattr(self, name)!r}")
        if self.swa_lr is not None and self.swa_start is None:
            raise ConfigError("swa_lr needs swa_start (the first epoch of the SWA phase)")

    def _check_maest(self) -> None:
        checks = (("mixup_alpha", self.mixup_alpha >= 0.0, ">= 0"),
                  ("swa_every", self.swa_every >= 1, "at least 1"),
                  ("epoch_tracks", self.epoch_tracks is None or self.epoch_tracks >= 1, "at least 1"),
                  ("input_norm_tracks", self.input_norm_tracks is None or self.input_norm_tracks >= 1, "at least 1"),
                  ("warmup_epochs", self.warmup_epochs >= 0, ">= 0"),
                  ("decay_start_epoch", self.decay_start_epoch >= self.warmup_epochs, "at least warmup_epochs"),
                  ("decay_epochs", self.decay_epochs >= 0, ">= 0"))
        checks += tuple((name, getattr(self, name) >= 0, ">= 0") for name in (
            "specaugment_time_masks", "specaugment_time_width", "specaugment_freq_masks", "specaugment_freq_width",
            "patchout_freq"))
        for name, ok, what in checks:
            if not ok:
                raise ConfigError(f"{name} must be {what}, got {getattr(self, name)!r}")
        bad = [t for t in self.embed_tokens if t not in EMBED_TOKEN_NAMES]
        if bad or not self.embed_tokens:
            raise ConfigError(f"embed_tokens must be some of {', '.join(EMBED_TOKEN_NAMES)}, got {list(self.embed_tokens)}")
        if self.mixup_alpha > 0 and self.objective != "classification":
            raise ConfigError("mixup mixes labels too: it needs objective classification")
        if self.backbone == "maest" and not 1 <= self.embed_block <= self.maest_depth:
            raise ConfigError(f"embed_block must be one of the {self.maest_depth} blocks (1..{self.maest_depth}), "
                              f"got {self.embed_block}")

    def task_sizes(self) -> list[int]:
        """Pairs of each task (association) in one batch of ``batch_size`` pairs.

        ``batch_shares`` gives them (ISMIR 2022 multi-task: 50 pairs per association, seed 000
        sec. 4.6); without it every association gets an equal share, which must divide the batch.
        """
        n = 1 if self.objective == "classification" else max(len(self.associations), 1)
        if self.batch_shares:
            shares = list(self.batch_shares)
            text = ", ".join(str(s) for s in shares)
            if len(shares) != n:
                raise ConfigError(f"{len(shares)} batch shares for {n} associations ({text}); give one per association")
            if min(shares) < 2:
                raise ConfigError(f"batch shares need at least 2 pairs each (negatives), got {text}")
            if sum(shares) != self.batch_size:
                raise ConfigError(f"batch shares {text} add up to {sum(shares)} pairs, not the batch size "
                                  f"{self.batch_size}")
            return shares
        if self.batch_size % n:
            raise ConfigError(f"a batch of {self.batch_size} pairs cannot be split equally over {n} associations "
                              f"({self.batch_size / n:.2f} each): give a multiple of {n} or --batch-shares")
        if self.batch_size // n < 2:
            raise ConfigError(f"a batch of {self.batch_size} pairs over {n} associations leaves fewer than 2 pairs "
                              "each (negatives): raise --batch-size")
        return [self.batch_size // n] * n

    def weights(self) -> tuple[float, ...]:
        """Loss weight of each association (1.0 each unless multitask)."""
        if self.objective != "multitask":
            return tuple(1.0 for _ in self.associations)
        if self.task_weights:
            return tuple(self.task_weights)
        return tuple(DEFAULT_TASK_WEIGHTS.get(a, 1.0) for a in self.associations)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in TUPLE_FIELDS:
            d[key] = list(d[key])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config fields {sorted(unknown)}")
        d = dict(d)
        for key in TUPLE_FIELDS:
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ (self, other)."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}

    def resumed_with(self, other: TrainConfig) -> TrainConfig:
        """This (saved) config updated by the fields a resumption may change; other changes are errors."""
        bad = {k: v for k, v in self.differences(other).items() if k not in RESUMABLE_CHANGES}
        if bad:
            desc = ", ".join(f"{k}: run has {v[0]!r}, given {v[1]!r}" for k, v in sorted(bad.items()))
            raise ConfigError(f"cannot resume run {self.run} with a different configuration ({desc})")
        if self.schedule == "warmup_cosine" and self.epochs != other.epochs:
            raise ConfigError(f"cannot resume run {self.run} with epochs {other.epochs} (run has {self.epochs}): "
                              "its warmup_cosine schedule decays to the end of the epochs it was started with")
        return replace(self, **{k: getattr(other, k) for k in RESUMABLE_CHANGES})
