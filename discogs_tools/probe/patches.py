"""Per-patch embeddings for the ``ismir2022`` probe protocol, and the MLP trained on random patches.

Seed 000 sec. 4.4 (= seed 004 sec. 4.3.4): "we trained the downstream models with 2-second patches
randomly cropped on each epoch. For validation, we averaged over the activations from the
half-overlapped patches of the entire tracks. We passed the patches through the frozen backbone".

The backbone is frozen, so a patch's embedding never changes during probe training. Instead of
running the backbone on a fresh random crop of every track on every epoch, each track's patches
are embedded **once**, on a grid of starts every ``crop_hop`` frames (:func:`embed_patches`), and
every epoch one of them is drawn at random per track (:meth:`PatchBank.sample`). This gives the
MLP exactly the input a random crop on that grid would give, for one backbone pass per grid
patch instead of one per track and epoch. ``crop_hop`` = 1 draws from every possible crop; the
default, 64 frames (half a 128-frame patch), draws from the half-overlapped patches, which are
also the patches averaged at validation and test, so one pass serves both.

Validation and test average the activations (sigmoid or softmax outputs) of the MLP over the
half-overlapped patches of the whole track (starts 0, 64, 128, ... while a patch fits; a track
shorter than a patch is one zero-padded patch), the same patches ``discogs-tools embed`` averages.

Memory: tracks x patches per track x embedding dim x 4 bytes, twice that while the probe trains
(its standardised copy). MTG-Jamendo genre (55k tracks of ~4 min, 1280-d EfficientNet embeddings)
is ~65 GB at crop_hop 64; MagnaTagATune's 30-s clips (26k x 28 patches) ~3.7 GB.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..train.embed import PATCH_FRAMES, patch_batches, patch_starts
from .mlp import ProbeConfig, TrainedProbe, _fit, _mlp, _standardiser


@dataclass
class PatchBank:
    """Embeddings of every grid patch of some tracks.

    Track ``i`` (``ids[i]``) owns rows ``offsets[i]:offsets[i+1]`` of ``values``; ``starts`` holds
    each row's first frame. ``patch`` is the patch length, ``crop_hop`` the grid step."""

    ids: list[str]
    values: np.ndarray   # (patches, dim) float32
    offsets: np.ndarray  # (tracks + 1,) int64
    starts: np.ndarray   # (patches,) int64
    patch: int
    crop_hop: int

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.ids)}
        self.is_eval = self.starts % max(self.patch // 2, 1) == 0  # the half-overlapped patches

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sample(self, tracks: Sequence[int], rng: np.random.Generator) -> np.ndarray:
        """Row index into ``values`` of one uniformly random grid patch of each of ``tracks``."""
        tracks = np.asarray(tracks, dtype=np.int64)
        counts = self.counts()[tracks]
        return self.offsets[tracks] + (rng.random(len(tracks)) * counts).astype(np.int64)

    def eval_rows(self, tracks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, owner position in ``tracks``) of the half-overlapped patches of ``tracks``."""
        rows, owner = [], []
        for k, t in enumerate(tracks):
            r = np.arange(self.offsets[t], self.offsets[t + 1])
            r = r[self.is_eval[r]]
            rows.append(r)
            owner.append(np.full(len(r), k, dtype=np.int64))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(owner)

    def track_means(self) -> np.ndarray:
        """Mean embedding over each track's half-overlapped patches (what ``embed`` writes)."""
        rows, owner = self.eval_rows(range(len(self.ids)))
        sums = np.zeros((len(self.ids), self.dim), np.float64)
        np.add.at(sums, owner, self.values[rows])
        return (sums / np.maximum(np.bincount(owner, minlength=len(self.ids)), 1)[:, None]).astype(np.float32)

    def subset(self, track_ids: Sequence[str]) -> PatchBank:
        """The bank of ``track_ids`` only, in that order (each must be present)."""
        pos = [self.index[t] for t in track_ids]
        pieces = [np.arange(self.offsets[p], self.offsets[p + 1]) for p in pos]
        rows = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64)
        return PatchBank(list(track_ids), self.values[rows], offsets, self.starts[rows], self.patch, self.crop_hop)


def average_by_owner(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Mean of the rows of ``values`` per owner 0..n-1 (the track-level average of patch outputs)."""
    sums = np.zeros((n, values.shape[1]), np.float64)
    np.add.at(sums, owner, values)
    return (sums / np.maximum(np.bincount(owner, minlength=n), 1)[:, None]).astype(np.float32)


def embed_patches(backbone: Any, store: Any, track_ids: Sequence[str], *, crop_hop: int = 64,
                  batch_size: int = 64, device: Any = None, patch: int = PATCH_FRAMES) -> PatchBank:
    """Embed every grid patch of ``track_ids`` (those in the feature ``store``) with the frozen
    ``backbone`` (eval mode, no gradient). A backbone built for one patch length (``input_frames``)
    takes that length. ``crop_hop`` must divide half the patch, so the half-overlapped patches of
    validation and test are on the grid."""
    import torch

    patch = getattr(backbone, "input_frames", None) or patch
    half = max(patch // 2, 1)
    if crop_hop < 1 or half % crop_hop:
        raise ConfigError(f"--crop-hop must divide half the patch ({half} frames), got {crop_hop}")
    device = device or torch.device("cpu")
    present = [t for t in track_ids if t in store]
    positions = store.positions(present)
    # the grid: 0, hop, 2 hop, ... while a whole patch fits; [0] for a track no longer than a patch
    starts_all = [np.asarray(patch_starts(int(store.frames[pos]), patch, crop_hop), np.int64) for pos in positions]
    counts = [len(s) for s in starts_all]
    values = np.zeros((int(sum(counts)), backbone.embedding_dim), np.float32)
    was_training = backbone.training
    backbone.eval()
    row = 0
    try:
        with torch.no_grad():
            for x, _ in patch_batches(store, positions, batch_size, patch, starts_all):
                values[row:row + len(x)] = backbone(torch.from_numpy(x).to(device)).float().cpu().numpy()
                row += len(x)
    finally:
        backbone.train(was_training)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    starts_flat = np.concatenate(starts_all) if starts_all else np.zeros(0, np.int64)
    return PatchBank(present, values, offsets, starts_flat, patch, crop_hop)


def stack_banks(banks: Sequence[PatchBank]) -> PatchBank:
    """Concatenate per patch the banks of several backbones (same tracks, patch length and grid)."""
    first = banks[0]
    if len(banks) == 1:
        return first
    common = [t for t in first.ids if all(t in b.index for b in banks[1:])]
    parts = [b.subset(common) for b in banks]
    for b in parts[1:]:
        if b.patch != first.patch or not np.array_equal(b.starts, parts[0].starts):
            raise ConfigError("a stack under the ismir2022 protocol needs backbones with the same patch length")
    return PatchBank(common, np.concatenate([b.values for b in parts], axis=1), parts[0].offsets,
                     parts[0].starts, first.patch, first.crop_hop)


@dataclass
class TrainedPatchProbe(TrainedProbe):
    """A probe trained on patches; ``predict_tracks`` averages activations over half-overlapped patches."""

    bank: PatchBank | None = None
    multilabel: bool = True

    def predict_tracks(self, tracks: Sequence[int]) -> np.ndarray:
        """Track-level activations (sigmoid or softmax, averaged over the track's half-overlapped
        patches) of the bank's tracks at positions ``tracks``."""
        assert self.bank is not None
        rows, owner = self.bank.eval_rows(tracks)
        logits = self.predict(self.bank.values[rows])
        return average_by_owner(activation(logits, self.multilabel), owner, len(tracks))


def activation(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    """Sigmoid (multi-label) or softmax (multi-class) of logits."""
    logits = np.asarray(logits, np.float64)
    if multilabel:
        return 1.0 / (1.0 + np.exp(-logits))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def averaged_loss(probs: np.ndarray, y: np.ndarray, multilabel: bool) -> float:
    """Cross-entropy of track-level averaged activations: binary (multi-label) or categorical."""
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    if multilabel:
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(y)), np.asarray(y, np.int64)]).mean())


def train_patch_classifier(bank: PatchBank, train_tracks: np.ndarray, y_train: np.ndarray, val_tracks: np.ndarray,
                           y_val: np.ndarray, *, multilabel: bool, n_classes: int, config: ProbeConfig, seed: int,
                           score: Callable[[np.ndarray, np.ndarray], float],
                           trace: list[np.ndarray] | None = None) -> TrainedPatchProbe:
    """The ismir2022 probe: each epoch one random grid patch per train track (drawn from
    ``numpy.random.default_rng([seed, epoch])``); validation loss and ``score(y_val, activations)``
    on activations averaged over each validation track's half-overlapped patches.

    ``trace``, when given, receives the row indices drawn for each epoch (for tests)."""
    import torch
    from torch import nn

    train_tracks = np.asarray(train_tracks, np.int64)
    val_tracks = np.asarray(val_tracks, np.int64)
    train_rows_all, _ = _all_rows(bank, train_tracks)
    mean, scale = _standardiser(bank.values[train_rows_all], config)
    xs = torch.from_numpy(((bank.values - mean) / scale).astype(np.float32))
    yt = torch.from_numpy(y_train.astype(np.float32 if multilabel else np.int64))
    val_rows, val_owner = bank.eval_rows(val_tracks)
    xv = xs[torch.from_numpy(val_rows)]
    loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    current = {"rows": torch.zeros(len(train_tracks), dtype=torch.int64)}

    def on_epoch(epoch: int) -> None:
        rows = bank.sample(train_tracks, np.random.default_rng([seed, epoch]))
        if trace is not None:
            trace.append(rows.copy())
        current["rows"] = torch.from_numpy(rows)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _mlp(xs.shape[1], n_classes, config)

        def batch_loss(idx: Any) -> Any:
            return loss_fn(model(xs[current["rows"][idx]]), yt[idx])

        def validate() -> tuple[float, float]:
            probs = average_by_owner(activation(model(xv).numpy(), multilabel), val_owner, len(val_tracks))
            return averaged_loss(probs, y_val, multilabel), float(score(y_val, probs))

        best_epoch, best_score, history = _fit(model, len(train_tracks), batch_loss, validate, config, seed,
                                               on_epoch=on_epoch)
    return TrainedPatchProbe(copy.deepcopy(model), mean, scale, best_epoch, best_score, history,
                             bank=bank, multilabel=multilabel)


def _all_rows(bank: PatchBank, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pieces = [np.arange(bank.offsets[t], bank.offsets[t + 1]) for t in tracks]
    if not pieces:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(pieces), np.concatenate([np.full(len(p), k) for k, p in enumerate(pieces)])


# (source, features folder, track ids, random-init seed or None, crop hop) -> PatchBank
PatchEmbedder = Callable[[Any, Any, Sequence[str], "int | None", int], PatchBank]


def default_patch_embedder(source: Any, features: Any, track_ids: Sequence[str], random_init_seed: int | None,
                           crop_hop: int) -> PatchBank:
    """The patch bank of ``track_ids`` from the backbone of a run or checkpoint ``source`` (a seeded
    random initialisation of the same architecture with ``random_init_seed``: the baseline).
    Not cached: the bank is held in memory for the probe only."""
    import torch

    from ..features.store import FeatureStore
    from ..train.backbones import backbone_from_config
    from ..train.embed import load_backbone, resolve_device
    from .backbone import checkpoint_path

    if features is None:
        raise ConfigError("the ismir2022 protocol embeds patches: it needs --features (a feature set)")
    backbone, cfg = load_backbone(checkpoint_path(source))
    if random_init_seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(random_init_seed)
            backbone = backbone_from_config(cfg)
    device = resolve_device("auto")
    backbone.to(device)
    return embed_patches(backbone, FeatureStore(features), track_ids, crop_hop=crop_hop, device=device)
