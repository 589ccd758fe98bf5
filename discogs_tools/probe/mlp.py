"""The MLP probe trained on frozen embeddings.

One hidden layer (512 units, ReLU), Adam (learning rate 1e-3, weight decay 1e-5), the learning
rate halved when the validation score stops improving, 30 epochs, and the weights of the best
validation epoch kept (DESIGN section 6). ``ProbeConfig.selection = "loss"`` keeps (and watches for
the plateau) the lowest validation loss instead, and ``schedule = "warmup-hold-linear"`` replaces the
plateau rule with the MAEST schedule: the named protocols of :mod:`.protocols` set these. Inputs are standardised with the train split's mean
and standard deviation. Objectives:

- multi-label: one logit per class, binary cross-entropy; validation score macro ROC-AUC;
- multi-class: softmax cross-entropy; validation score accuracy;
- triplets: a projection trained with a triplet margin loss on cosine distance; validation score
  triplet accuracy.

Everything random (initial weights, batch order, dropout) comes from the given seed, and the
global torch RNG is left untouched, so the same inputs and seed give the same probe.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, DiscogsToolsError
from .ticker import tick


class ProbeTrainingError(DiscogsToolsError):
    """The probe could not be trained (NaN losses: inputs too large or a learning rate too high)."""


@dataclass(frozen=True)
class ProbeConfig:
    """Hyper-parameters of the probe (defaults: the papers' setup)."""

    hidden: int = 512
    epochs: int = 30
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 256
    plateau_patience: int = 3  # PyTorch's ReduceLROnPlateau patience: the rate changes at the end of
    # the (patience + 1)-th consecutive epoch without improvement
    plateau_factor: float = 0.5
    dropout: float = 0.0
    triplet_dim: int = 128
    triplet_margin: float = 0.2
    standardize: bool = True
    # What picks the kept epoch and what the plateau scheduler watches: "score" (the validation
    # score, higher is better) or "loss" (the validation loss, lower is better).
    selection: str = "score"
    # "plateau": rate times plateau_factor after plateau_patience epochs without improvement of the
    # selection value; "warmup-hold-linear": per-epoch rate raised exponentially from 0 to
    # learning_rate over warmup_epochs, held, then linearly down to final_learning_rate from
    # epoch rampdown_start (default: half the epochs) to the last epoch (MAEST, seed 004 sec. 6.3.3).
    schedule: str = "plateau"
    warmup_epochs: int = 10
    rampdown_start: int | None = None
    final_learning_rate: float = 1e-7
    # Fine-tuning (icassp2023-finetune): the cyclical triangular rate runs between min_learning_rate
    # and learning_rate, half a cycle lasting cycle_epochs epochs of steps; early_stop > 0 ends
    # training after that many epochs without a better validation score.
    min_learning_rate: float = 1e-5
    cycle_epochs: int = 2
    early_stop: int = 0
    threads: int = 1  # torch CPU threads while training: the MLP is small, and one thread is both
    # faster than several contending ones and independent of the machine's core count

    def __post_init__(self) -> None:
        if min(self.epochs, self.hidden, self.batch_size, self.triplet_dim, self.threads) < 1:
            raise ConfigError(f"probe epochs, hidden units, batch size, triplet dim and threads must be >= 1 ({self})")
        if not 0 <= self.dropout < 1 or not 0 < self.plateau_factor < 1:
            raise ConfigError("probe dropout must lie in [0, 1) and the plateau factor in (0, 1)")
        if self.selection not in ("score", "loss"):
            raise ConfigError(f"probe selection must be 'score' or 'loss', not {self.selection!r}")
        if self.schedule not in ("plateau", "warmup-hold-linear"):
            raise ConfigError(f"probe schedule must be 'plateau' or 'warmup-hold-linear', not {self.schedule!r}")
        if self.warmup_epochs < 0 or self.final_learning_rate < 0 or self.early_stop < 0 or self.cycle_epochs < 1:
            raise ConfigError("probe warmup epochs, final learning rate and early stop must be >= 0, cycle epochs >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedProbe:
    """A trained probe: ``predict`` gives logits (classification) or projected embeddings (triplets)."""

    model: Any
    mean: np.ndarray
    scale: np.ndarray
    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)

    def predict(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        import torch

        self.model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                chunk = torch.from_numpy(((x[start:start + batch_size] - self.mean) / self.scale).astype(np.float32))
                out.append(self.model(chunk).numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _mlp(n_in: int, n_out: int, config: ProbeConfig) -> Any:
    from torch import nn

    layers: list[Any] = [nn.Linear(n_in, config.hidden), nn.ReLU()]
    if config.dropout:
        layers.append(nn.Dropout(config.dropout))
    layers.append(nn.Linear(config.hidden, n_out))
    return nn.Sequential(*layers)


def _standardiser(x_train: np.ndarray, config: ProbeConfig) -> tuple[np.ndarray, np.ndarray]:
    if not config.standardize:
        return np.zeros(x_train.shape[1], np.float32), np.ones(x_train.shape[1], np.float32)
    mean = x_train.mean(axis=0).astype(np.float32)
    scale = x_train.std(axis=0).astype(np.float32)
    scale[scale < 1e-8] = 1.0
    return mean, scale


def schedule_factor(config: ProbeConfig, epoch: int) -> float:
    """Multiplier of ``learning_rate`` at ``epoch`` (0-based) for the warmup-hold-linear schedule.

    Seed 004 sec. 6.3.3: "exponentially raised to its maximum value during the first 10 epochs,
    kept constant ..., and linearly reduced until reaching 1e-7 at the end of training". The
    exponential ramp is exp(-5 (1 - t)^2), t = (epoch + 1) / warmup_epochs (the ramp-up of PaSST, on
    which MAEST builds; the seed does not give its formula). How long the rate is held is not stated
    there: by default the linear decay starts at half the epochs (``rampdown_start``) and reaches
    ``final_learning_rate`` on the last epoch."""
    if config.warmup_epochs and epoch < config.warmup_epochs:
        t = (epoch + 1) / config.warmup_epochs
        return math.exp(-5.0 * (1.0 - t) ** 2)
    start = config.rampdown_start if config.rampdown_start is not None else config.epochs // 2
    start = max(start, config.warmup_epochs)
    last = config.epochs - 1
    if epoch < start or last <= start:
        return 1.0
    floor = config.final_learning_rate / config.learning_rate if config.learning_rate else 0.0
    t = min((epoch - start) / (last - start), 1.0)
    return 1.0 + t * (floor - 1.0)


def _fit(model: Any, n_items: int, batch_loss: Callable[[Any], Any], validate: Callable[[], tuple[float, float]],
         config: ProbeConfig, seed: int, on_epoch: Callable[[int], None] | None = None
         ) -> tuple[int, float, list[dict[str, float]]]:
    """The training loop shared by every objective; loads the best epoch's weights into ``model``.

    ``batch_loss(indices)`` returns the loss of a batch of item indices; ``validate()`` returns
    (validation loss, validation score, higher is better; NaN when undefined: then -loss is used).
    ``on_epoch(epoch)`` runs before each epoch's batches (the patch probe re-draws its crops there).
    With ``config.selection == "loss"`` the kept epoch is the one of the lowest validation loss (the
    returned best score is still that epoch's validation score).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _loop(model, n_items, batch_loss, validate, config, seed, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _loop(model: Any, n_items: int, batch_loss: Callable[[Any], Any], validate: Callable[[], tuple[float, float]],
          config: ProbeConfig, seed: int, on_epoch: Callable[[int], None] | None = None
          ) -> tuple[int, float, list[dict[str, float]]]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    plateau = None
    if config.schedule == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min" if config.selection == "loss" else "max", factor=config.plateau_factor,
            patience=config.plateau_patience)
    best_state, best_epoch, best_score, best_value = None, -1, -math.inf, -math.inf
    history = []
    for epoch in range(config.epochs):
        if plateau is None:
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * schedule_factor(config, epoch)
        if on_epoch is not None:
            on_epoch(epoch)
        model.train()
        order = torch.randperm(n_items, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n_items, config.batch_size):
            loss = batch_loss(order[start:start + config.batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        model.eval()
        with torch.no_grad():
            val_loss, val_metric = validate()
        score = val_metric if not math.isnan(val_metric) else -val_loss
        value = -val_loss if config.selection == "loss" else score  # higher is better
        history.append({"epoch": epoch, "train_loss": total / max(batches, 1), "validation_loss": val_loss,
                        "validation_score": val_metric, "learning_rate": optimizer.param_groups[0]["lr"]})
        if value > best_value:  # NaN never wins
            best_state, best_epoch, best_score, best_value = copy.deepcopy(model.state_dict()), epoch, score, value
        if plateau is not None:
            plateau.step(val_loss if config.selection == "loss" else score)
        tick()
    if best_state is None:
        raise ProbeTrainingError(f"probe training gave no finite validation score in {config.epochs} epochs "
                                 f"(last: {history[-1]}); lower --lr or check the embeddings")
    model.load_state_dict(best_state)
    model.eval()
    return best_epoch, float(best_score), history


def train_classifier(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
                     multilabel: bool, n_classes: int, config: ProbeConfig, seed: int,
                     score: Callable[[np.ndarray, np.ndarray], float]) -> TrainedProbe:
    """Train a multi-label (``y`` n x classes 0/1) or multi-class (``y`` n class indices) probe.

    ``score(y_val, logits)`` is the validation score that picks the best epoch (higher is better).
    """
    import torch
    from torch import nn

    mean, scale = _standardiser(x_train, config)
    xt = torch.from_numpy(((x_train - mean) / scale).astype(np.float32))
    xv = torch.from_numpy(((x_val - mean) / scale).astype(np.float32))
    yt = torch.from_numpy(y_train.astype(np.float32 if multilabel else np.int64))
    yv = torch.from_numpy(y_val.astype(np.float32 if multilabel else np.int64))
    loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _mlp(xt.shape[1], n_classes, config)

        def batch_loss(idx: Any) -> Any:
            return loss_fn(model(xt[idx]), yt[idx])

        def validate() -> tuple[float, float]:
            logits = model(xv)
            return float(loss_fn(logits, yv)), float(score(y_val, logits.numpy()))

        best_epoch, best_score, history = _fit(model, len(xt), batch_loss, validate, config, seed)
    return TrainedProbe(model, mean, scale, best_epoch, best_score, history)


def train_triplet_projection(x: np.ndarray, train_triplets: np.ndarray, val_triplets: np.ndarray, *,
                             config: ProbeConfig, seed: int) -> TrainedProbe:
    """Train a projection of the embeddings ``x`` (tracks x dim) so that, for each triplet of row
    indices (anchor, positive, negative), the anchor is closer in cosine distance to the positive."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from .metrics import triplet_scores

    train_rows = np.unique(train_triplets)
    mean, scale = _standardiser(x[train_rows], config)
    xs = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    tt = torch.from_numpy(train_triplets.astype(np.int64))
    tv = torch.from_numpy(val_triplets.astype(np.int64))
    loss_fn = nn.TripletMarginWithDistanceLoss(
        distance_function=lambda a, b: 1.0 - F.cosine_similarity(a, b), margin=config.triplet_margin)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _mlp(xs.shape[1], config.triplet_dim, config)

        def triplet_loss(triplets: Any) -> Any:
            return loss_fn(model(xs[triplets[:, 0]]), model(xs[triplets[:, 1]]), model(xs[triplets[:, 2]]))

        def validate() -> tuple[float, float]:
            z = model(xs[tv.reshape(-1)]).reshape(len(tv), 3, -1)
            loss = float(loss_fn(z[:, 0], z[:, 1], z[:, 2]))
            z = z.numpy()
            return loss, triplet_scores(z[:, 0], z[:, 1], z[:, 2])["triplet_accuracy"]

        best_epoch, best_score, history = _fit(model, len(tt), lambda idx: triplet_loss(tt[idx]), validate,
                                               config, seed)
    return TrainedProbe(model, mean, scale, best_epoch, best_score, history)
