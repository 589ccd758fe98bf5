"""The ``icassp2023-finetune`` protocol: the backbone is fine-tuned with a new MLP head.

Seed 004 sec. 5.3.5 (music tagging, the ICASSP 2023 playlist models): "We keep the pre-trained
B(.) and replace H(.) with an MLP with the same hidden layer configuration [sec. 5.3.2: one hidden
layer of 128, ReLU] and output dimensions matching the number of classes followed by a Sigmoid
activation. We optimize B(.) and the new H(.) using Adam (beta1 = 0.9, beta2 = 0.999) and
cross-entropy loss with an L2 regularization term of 1e-5 for a maximum of 50 epochs. We use a
cyclical triangular scheduler that varies the learning rate from 1e-5 to 1e-4 (Smith, 2017). The
weights are selected from the epoch with the highest Average Precision on the validation set. We
apply early stopping after ten epochs without any improvement on this metric. In training, we use
the same random patch selection approach as in pre-training [one random crop per track and epoch,
sec. 4.3.2]. During inference, we average the activations from non-overlapping patches." and
"We use 30 seconds of audio from the center of the track in validation, and the full duration
available in testing." Sec. 5.4: mean and std of three runs whose seed sets "the initialization
of the MLP classifier, the selection of offsets for the mel-spectrogram patches, and the order in
which tracks are presented"; the *From Scratch* baseline is the same training from a random
initialisation (``from_scratch``).

Not stated in those sections, and chosen here: the batch size (``ProbeConfig.batch_size``, 64
for this protocol) and the cycle length of the triangular schedule (half a cycle = 2 epochs of
steps, the lower end of the 2-10 epochs Smith recommends); the L2 term is Adam's weight decay.
Multi-class tasks use a softmax head and cross-entropy (the seed's tasks are all multi-label).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..train.embed import PATCH_FRAMES, patch_batches
from .mlp import ProbeConfig
from .patches import activation, average_by_owner
from .ticker import tick

VALIDATION_SECONDS = 30.0


def frames_per_second(settings: dict[str, Any]) -> float:
    """Feature frames per second from a feature set's settings (sample rate / hop size)."""
    front = settings.get("front_end", settings)
    try:
        return float(front["sample_rate"]) / float(front["hop_size"])
    except (KeyError, TypeError, ZeroDivisionError):
        raise ConfigError("the feature set's features.json gives no front_end sample_rate and hop_size") from None


def inference_starts(frames: int, patch: int, window: tuple[int, int] | None = None) -> list[int]:
    """Starts of the non-overlapping patches of a track (within ``window`` = (first, end) frames
    when given): first, first + patch, ... while a whole patch fits; one (zero-padded) patch at
    ``first`` when none fits."""
    first, end = window if window is not None else (0, frames)
    starts = list(range(first, end - patch + 1, patch))
    return starts or [first]


def centre_window(frames: int, length: int) -> tuple[int, int]:
    """The ``length`` frames at the centre of a track (the whole track when shorter)."""
    if frames <= length:
        return 0, frames
    first = (frames - length) // 2
    return first, first + length


@dataclass
class FinetuneResult:
    """The fine-tuned model's test activations, best epoch and its validation AP, per-epoch history."""

    test_scores: np.ndarray
    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)


def tagger(backbone: Any, hidden: int, n_classes: int) -> Any:
    """The backbone followed by the new head: one hidden layer (ReLU) and one logit per class."""
    from torch import nn

    return nn.Sequential(backbone, nn.Linear(backbone.embedding_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def _patches(store: Any, positions: Sequence[int], starts: Sequence[Sequence[int]], patch: int) -> np.ndarray:
    """Every patch of ``positions`` at their ``starts``, in one (n, 1, patch, mels) array."""
    total = sum(len(s) for s in starts)
    if total == 0:
        return np.zeros((0, 1, patch, store.n_mels), np.float32)
    return next(patch_batches(store, positions, total, patch, starts))[0]


def predict_tracks(model: Any, store: Any, positions: Sequence[int], starts: Sequence[Sequence[int]], patch: int,
                   multilabel: bool, batch_size: int, device: Any) -> np.ndarray:
    """Activations averaged per track over the given patch starts (model in eval mode)."""
    import torch

    owner = np.concatenate([np.full(len(s), k) for k, s in enumerate(starts)]).astype(np.int64)
    logits = []
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(positions), max(1, batch_size // 4)):
            chunk = slice(lo, lo + max(1, batch_size // 4))
            x = torch.from_numpy(_patches(store, positions[chunk], starts[chunk], patch)).to(device)
            logits.append(model(x).float().cpu().numpy())
    return average_by_owner(activation(np.concatenate(logits), multilabel), owner, len(positions))


def finetune(make_backbone: Callable[[], Any], store: Any, positions: dict[str, np.ndarray], y: dict[str, np.ndarray],
             *, multilabel: bool, n_classes: int, config: ProbeConfig, seed: int,
             score: Callable[[np.ndarray, np.ndarray], float], device: Any = None,
             trace: list[np.ndarray] | None = None) -> FinetuneResult:
    """Fine-tune ``make_backbone()`` with a new head on ``positions['train']`` (feature-store
    positions) and targets ``y['train']``; select on ``score`` of ``y['validation']`` (validation
    AP) over the 30-s centre; return the test activations of the best epoch.

    Every epoch each train track gives one patch at a random offset drawn from
    ``numpy.random.default_rng([seed, epoch])`` (``trace`` receives them, for tests)."""
    import torch
    from torch import nn

    device = device or torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = make_backbone()
        model = tagger(backbone, config.hidden, n_classes).to(device)
        patch = getattr(backbone, "input_frames", None) or PATCH_FRAMES
        fps = frames_per_second(store.settings)
        val_len = round(VALIDATION_SECONDS * fps)
        frames = store.frames
        val_starts = [inference_starts(int(frames[p]), patch, centre_window(int(frames[p]), val_len))
                      for p in positions["validation"]]
        test_starts = [inference_starts(int(frames[p]), patch) for p in positions["test"]]
        train_pos = positions["train"]
        yt = torch.from_numpy(y["train"].astype(np.float32 if multilabel else np.int64))
        loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.999),
                                     weight_decay=config.weight_decay)
        steps_per_epoch = max(1, math.ceil(len(train_pos) / config.batch_size))
        scheduler = torch.optim.lr_scheduler.CyclicLR(
            optimizer, base_lr=config.min_learning_rate, max_lr=config.learning_rate, mode="triangular",
            step_size_up=config.cycle_epochs * steps_per_epoch, cycle_momentum=False)
        generator = torch.Generator().manual_seed(seed)
        best_state, best_epoch, best_score, waited = None, -1, -math.inf, 0
        history = []
        for epoch in range(config.epochs):
            rng = np.random.default_rng([seed, epoch])
            span = np.maximum(frames[train_pos] - patch, 0)
            offsets = (rng.random(len(train_pos)) * (span + 1)).astype(np.int64)
            if trace is not None:
                trace.append(offsets.copy())
            model.train()
            order = torch.randperm(len(train_pos), generator=generator).numpy()
            total = 0.0
            for lo in range(0, len(order), config.batch_size):
                idx = order[lo:lo + config.batch_size]
                x = torch.from_numpy(_patches(store, train_pos[idx], [[int(o)] for o in offsets[idx]], patch))
                loss = loss_fn(model(x.to(device)), yt[idx].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach())
            val = predict_tracks(model, store, positions["validation"], val_starts, patch, multilabel,
                                 config.batch_size, device)
            value = float(score(y["validation"], val))
            history.append({"epoch": epoch, "train_loss": total / steps_per_epoch, "validation_score": value,
                            "learning_rate": optimizer.param_groups[0]["lr"]})
            tick()
            if value > best_score:
                best_state, best_epoch, best_score, waited = copy.deepcopy(model.state_dict()), epoch, value, 0
            else:
                waited += 1
                if config.early_stop and waited >= config.early_stop:
                    break
        if best_state is None:
            from .mlp import ProbeTrainingError

            raise ProbeTrainingError(f"fine-tuning gave no finite validation score in {len(history)} epochs")
        model.load_state_dict(best_state)
        test = predict_tracks(model, store, positions["test"], test_starts, patch, multilabel, config.batch_size,
                              device)
    return FinetuneResult(test, best_epoch, best_score, history)


def average_precision_score_macro(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Validation score of the protocol: macro average precision over the classes with a positive
    (multi-label), or accuracy (multi-class targets given as class indices)."""
    from sklearn.metrics import average_precision_score

    y_true = np.asarray(y_true)
    if y_true.ndim == 1:
        return float((np.asarray(scores).argmax(axis=1) == y_true).mean()) if len(y_true) else math.nan
    keep = y_true.any(axis=0)
    if not keep.any():
        return math.nan
    return float(average_precision_score(y_true[:, keep] > 0.5, scores[:, keep], average="macro"))
