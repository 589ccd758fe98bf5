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

The ``5-fold`` protocol (seed 004 sec. 3.2.1) uses the same machinery on another grid: one
embedding per second ("a target rate of 1Hz ... one embedding per second"), a training sample
being one random timestamp of the track (sec. 3.3.6: "choosing a random time index t"). Such a
bank (``rate_hz``) has a patch starting every second (:func:`timestamp_starts`) and validation and
test average over all of them (``eval_all``).

Memory: a bank is tracks x patches per track x embedding dim x 4 bytes: MTG-Jamendo genre (55k
tracks of ~4 min, 1280-d EfficientNet embeddings) is ~65 GB at crop_hop 64, more than the RAM of
the machines this runs on. So a bank may live on disk (:func:`embed_patches` with ``directory``:
a ``.npy`` opened as a memory map), and nothing here reads more than :data:`CHUNK_ROWS` rows of it
at once: the standardiser is accumulated in chunks, each training batch reads its own rows (and
standardises them), and validation and test average activations chunk by chunk. The probe's
memory is then a few chunks plus per-row indices (8 bytes a patch), whatever the bank's size.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..io import atomic_path
from ..train.embed import PATCH_FRAMES, patch_batches, patch_starts
from .mlp import ProbeConfig, TrainedProbe, _fit, _mlp

CHUNK_ROWS = 16384  # the most bank rows read at once outside a training batch (64 MB at 1280-d)
BANK_FORMAT = 1


@dataclass
class PatchBank:
    """Embeddings of every grid patch of some tracks.

    Track ``i`` (``ids[i]``) owns rows ``offsets[i]:offsets[i+1]``; ``starts`` holds each row's first
    frame. ``patch`` is the patch length, ``crop_hop`` the grid step. The embedding of a row is the
    concatenation of that row of every array in ``parts`` (one per backbone of a stack); an array
    may be a read-only memory map of a bank on disk. Read rows with :meth:`read`."""

    ids: list[str]
    parts: tuple[np.ndarray, ...]  # each (patches, dim_k) float32, ndarray or np.memmap
    offsets: np.ndarray            # (tracks + 1,) int64
    starts: np.ndarray             # (patches,) int64
    patch: int
    crop_hop: int                  # grid step in frames (0 for a timestamp grid)
    eval_all: bool = False         # validation and test average every row (timestamp grids)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.ids)}
        if self.eval_all:
            self.is_eval = np.ones(len(self.starts), dtype=bool)
        else:
            self.is_eval = self.starts % max(self.patch // 2, 1) == 0  # the half-overlapped patches

    @property
    def values(self) -> np.ndarray:
        """The rows of a single-backbone bank (stacks: use :meth:`read`)."""
        if len(self.parts) != 1:
            raise ValueError("a stacked bank has several parts: read rows with PatchBank.read")
        return self.parts[0]

    @property
    def dim(self) -> int:
        return int(sum(p.shape[1] for p in self.parts))

    @property
    def rows(self) -> int:
        return int(self.offsets[-1])

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The embeddings (float32) of bank rows ``rows``, in that order. Rows are fetched in
        ascending order (sequential reads on a memory-mapped bank) and put back in place."""
        rows = np.asarray(rows, np.int64)
        ascending = bool(np.all(rows[1:] >= rows[:-1]))  # chunks of eval / track rows already are
        order = None if ascending else np.argsort(rows, kind="stable")
        ordered = rows if order is None else rows[order]
        if len(self.parts) == 1 and order is None:
            return np.asarray(self.parts[0][ordered], dtype=np.float32)
        out = np.empty((len(rows), self.dim), np.float32)
        column = 0
        for part in self.parts:
            width = part.shape[1]
            if order is None:
                out[:, column:column + width] = part[ordered]
            else:
                out[order, column:column + width] = part[ordered]
            column += width
        return out

    def sample(self, tracks: Sequence[int], rng: np.random.Generator) -> np.ndarray:
        """Row index of one uniformly random grid patch of each of ``tracks``."""
        tracks = np.asarray(tracks, dtype=np.int64)
        counts = self.counts()[tracks]
        return self.offsets[tracks] + (rng.random(len(tracks)) * counts).astype(np.int64)

    def track_rows(self, tracks: Sequence[int], *, eval_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, owner position in ``tracks``) of all patches of ``tracks`` (or only of their
        half-overlapped patches with ``eval_only``)."""
        tracks = np.asarray(tracks, np.int64)
        if not len(tracks):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        counts = self.counts()[tracks]
        owner = np.repeat(np.arange(len(tracks), dtype=np.int64), counts)
        # row = track's first row + position within the track
        first = np.repeat(self.offsets[tracks], counts)
        within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = first + within
        if eval_only:
            keep = self.is_eval[rows]
            rows, owner = rows[keep], owner[keep]
        return rows, owner

    def eval_rows(self, tracks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, owner position in ``tracks``) of the half-overlapped patches of ``tracks``."""
        return self.track_rows(tracks, eval_only=True)

    def track_means(self) -> np.ndarray:
        """Mean embedding over each track's half-overlapped patches (what ``embed`` writes)."""
        rows, owner = self.eval_rows(range(len(self.ids)))
        return average_rows(lambda r: self.read(r), rows, owner, len(self.ids))


def timestamp_starts(frames: int, patch: int, frames_per_second: float, rate_hz: float = 1.0) -> list[int]:
    """Starts (frames) of one patch every 1 / ``rate_hz`` seconds, rounded to the nearest frame,
    while a whole patch fits; [0] for a track no longer than a patch."""
    if frames <= patch:
        return [0]
    step = frames_per_second / rate_hz
    count = int(math.floor((frames - patch) / step + 1e-9)) + 1
    starts = [int(round(k * step)) for k in range(count)]
    return [t for t in starts if t + patch <= frames]


def chunks(n: int, size: int | None = None) -> Iterator[slice]:
    """Slices of 0..n of at most ``size`` (default :data:`CHUNK_ROWS`) items."""
    size = size or CHUNK_ROWS
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def average_rows(transform: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, owner: np.ndarray,
                 n: int) -> np.ndarray:
    """Mean per owner 0..n-1 of ``transform(rows chunk)`` (a (len(chunk), k) array), computed chunk
    by chunk so that at most :data:`CHUNK_ROWS` rows are in memory at once."""
    sums: np.ndarray | None = None
    for piece in chunks(len(rows)):
        values = np.asarray(transform(rows[piece]), np.float64)
        if sums is None:
            sums = np.zeros((n, values.shape[1]), np.float64)
        np.add.at(sums, owner[piece], values)
    if sums is None:
        return np.zeros((n, 0), np.float32)
    return (sums / np.maximum(np.bincount(owner, minlength=n), 1)[:, None]).astype(np.float32)


def average_by_owner(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Mean of the rows of ``values`` per owner 0..n-1 (the track-level average of patch outputs)."""
    return average_rows(lambda r: values[r], np.arange(len(values)), owner, n)


def streamed_standardiser(bank: PatchBank, rows: np.ndarray, config: ProbeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per dimension of the bank's ``rows`` (the training patches),
    accumulated in float64 chunk by chunk; a constant dimension gets scale 1 (as ``_standardiser``)."""
    if not config.standardize or not len(rows):
        return np.zeros(bank.dim, np.float32), np.ones(bank.dim, np.float32)
    total = np.zeros(bank.dim, np.float64)
    squares = np.zeros(bank.dim, np.float64)
    for piece in chunks(len(rows)):
        x = bank.read(rows[piece])
        total += x.sum(axis=0, dtype=np.float64)
        np.multiply(x, x, out=x)
        squares += x.sum(axis=0, dtype=np.float64)
    mean = total / len(rows)
    scale = np.sqrt(np.maximum(squares / len(rows) - mean * mean, 0.0)).astype(np.float32)
    scale[scale < 1e-8] = 1.0
    return mean.astype(np.float32), scale


# --------------------------------------------------------------------------- building and storing banks


def embed_patches(backbone: Any, store: Any, track_ids: Sequence[str], *, crop_hop: int = 64,
                  batch_size: int = 64, device: Any = None, patch: int = PATCH_FRAMES,
                  directory: str | os.PathLike[str] | None = None, key: dict[str, Any] | None = None,
                  rate_hz: float | None = None) -> PatchBank:
    """Embed every grid patch of ``track_ids`` (those in the feature ``store``) with the frozen
    ``backbone`` (eval mode, no gradient). A backbone built for one patch length (``input_frames``)
    takes that length. ``crop_hop`` must divide half the patch, so the half-overlapped patches of
    validation and test are on the grid. With ``rate_hz`` the grid is one patch every 1 / rate_hz
    seconds instead (the store's sample rate / hop frames a second; ``crop_hop`` is then unused)
    and validation and test average every patch.

    With ``directory`` the bank is written there (atomically: a folder holding ``values.npy``,
    ``offsets.npy``, ``starts.npy`` and ``bank.json`` with ``key``, what identifies its inputs) and
    returned memory-mapped, so no more than one batch of it is ever in memory; without, it is an
    in-memory array."""
    import torch

    patch = getattr(backbone, "input_frames", None) or patch
    half = max(patch // 2, 1)
    if rate_hz is not None:
        if rate_hz <= 0:
            raise ConfigError(f"the timestamp rate must be positive, got {rate_hz} Hz")
        from .finetune import frames_per_second

        fps = frames_per_second(store.settings)
        crop_hop = 0

        def grid(frames: int) -> list[int]:
            return timestamp_starts(frames, patch, fps, rate_hz)
    else:
        if crop_hop < 1 or half % crop_hop:
            raise ConfigError(f"--crop-hop must divide half the patch ({half} frames), got {crop_hop}")

        def grid(frames: int) -> list[int]:
            # 0, hop, 2 hop, ... while a whole patch fits; [0] for a track no longer than a patch
            return patch_starts(frames, patch, crop_hop)
    device = device or torch.device("cpu")
    present = [t for t in track_ids if t in store]
    positions = store.positions(present)
    starts_all = [np.asarray(grid(int(store.frames[pos])), np.int64) for pos in positions]
    counts = [len(s) for s in starts_all]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    starts_flat = np.concatenate(starts_all) if starts_all else np.zeros(0, np.int64)
    shape = (int(offsets[-1]), int(backbone.embedding_dim))

    def fill(values: np.ndarray) -> None:
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

    if directory is None:
        values = np.zeros(shape, np.float32)
        fill(values)
        return PatchBank(present, (values,), offsets, starts_flat, patch, crop_hop, eval_all=rate_hz is not None)
    with atomic_path(directory, is_dir=True) as tmp:
        values = np.lib.format.open_memmap(tmp / "values.npy", mode="w+", dtype=np.float32, shape=shape)
        fill(values)
        values.flush()
        del values
        np.save(tmp / "offsets.npy", offsets)
        np.save(tmp / "starts.npy", starts_flat)
        (tmp / "bank.json").write_text(json.dumps({
            "format": BANK_FORMAT, "ids": present, "patch": patch, "crop_hop": crop_hop, "rate_hz": rate_hz,
            "rows": shape[0], "dim": shape[1], "key": key}) + "\n", encoding="utf-8")
    return load_bank(directory)


def bank_key(directory: str | os.PathLike[str]) -> Any:
    """The ``key`` a stored bank was written with (None when there is no readable bank there)."""
    try:
        meta = json.loads((Path(directory) / "bank.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return meta.get("key") if meta.get("format") == BANK_FORMAT else None


def load_bank(directory: str | os.PathLike[str]) -> PatchBank:
    """A bank written by :func:`embed_patches`, its values memory-mapped read-only."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "bank.json").read_text(encoding="utf-8"))
        values = np.load(directory / "values.npy", mmap_mode="r")
        offsets = np.load(directory / "offsets.npy")
        starts = np.load(directory / "starts.npy")
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise InputError(directory, f"not a readable patch bank ({exc})") from None
    if values.shape != (meta["rows"], meta["dim"]) or len(offsets) != len(meta["ids"]) + 1 or len(starts) != meta["rows"]:
        raise InputError(directory, "patch bank files disagree with bank.json (an interrupted write?); delete the folder")
    return PatchBank(list(meta["ids"]), (values,), offsets, starts, int(meta["patch"]), int(meta["crop_hop"]),
                     eval_all=meta.get("rate_hz") is not None)


def stack_banks(banks: Sequence[PatchBank]) -> PatchBank:
    """The bank of a stack of backbones: each row the concatenation of the banks' rows. The banks
    must cover the same tracks on the same grid (they do when cut from one feature set with one
    patch length); nothing is copied."""
    first = banks[0]
    if len(banks) == 1:
        return first
    for b in banks[1:]:
        if b.patch != first.patch or b.ids != first.ids or not np.array_equal(b.starts, first.starts):
            raise ConfigError("a stack of per-patch embeddings needs backbones with the same patch length")
    return PatchBank(first.ids, tuple(p for b in banks for p in b.parts), first.offsets, first.starts,
                     first.patch, first.crop_hop, eval_all=first.eval_all)


# --------------------------------------------------------------------------- the probe


@dataclass
class TrainedPatchProbe(TrainedProbe):
    """A probe trained on patches; ``predict_tracks`` averages activations over half-overlapped patches."""

    bank: PatchBank | None = None
    multilabel: bool = True

    def predict_tracks(self, tracks: Sequence[int]) -> np.ndarray:
        """Track-level activations (sigmoid or softmax, averaged over the track's half-overlapped
        patches) of the bank's tracks at positions ``tracks``."""
        assert self.bank is not None
        bank = self.bank
        rows, owner = bank.eval_rows(tracks)
        return average_rows(lambda r: activation(self.predict(bank.read(r)), self.multilabel), rows, owner,
                            len(tracks))


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

    Bank rows are read per batch and per validation chunk (see the module docstring on memory).
    ``trace``, when given, receives the row indices drawn for each epoch (for tests)."""
    import torch
    from torch import nn

    train_tracks = np.asarray(train_tracks, np.int64)
    val_tracks = np.asarray(val_tracks, np.int64)
    train_rows_all, _ = bank.track_rows(train_tracks)
    mean, scale = streamed_standardiser(bank, train_rows_all, config)
    del train_rows_all

    def standardised(rows: np.ndarray) -> Any:
        x = bank.read(rows)  # a fresh float32 array: standardised in place
        np.subtract(x, mean, out=x)
        np.divide(x, scale, out=x)
        return torch.from_numpy(x)

    yt = torch.from_numpy(y_train.astype(np.float32 if multilabel else np.int64))
    val_rows, val_owner = bank.eval_rows(val_tracks)
    loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    current = {"rows": np.zeros(len(train_tracks), dtype=np.int64)}

    def on_epoch(epoch: int) -> None:
        rows = bank.sample(train_tracks, np.random.default_rng([seed, epoch]))
        if trace is not None:
            trace.append(rows.copy())
        current["rows"] = rows

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _mlp(bank.dim, n_classes, config)

        def batch_loss(idx: Any) -> Any:
            return loss_fn(model(standardised(current["rows"][idx.numpy()])), yt[idx])

        def validate() -> tuple[float, float]:
            probs = average_rows(lambda r: activation(model(standardised(r)).numpy(), multilabel), val_rows,
                                 val_owner, len(val_tracks))
            return averaged_loss(probs, y_val, multilabel), float(score(y_val, probs))

        best_epoch, best_score, history = _fit(model, len(train_tracks), batch_loss, validate, config, seed,
                                               on_epoch=on_epoch)
    return TrainedPatchProbe(copy.deepcopy(model), mean, scale, best_epoch, best_score, history,
                             bank=bank, multilabel=multilabel)


# --------------------------------------------------------------------------- the default embedder

# (source, features folder, track ids, random-init seed or None, crop hop) -> PatchBank
PatchEmbedder = Callable[[Any, Any, Sequence[str], "int | None", int], PatchBank]


def cached_patch_embedder(cache_dir: str | os.PathLike[str], rate_hz: float | None = None) -> PatchEmbedder:
    """The patch embedder of the backbone of a run or checkpoint ``source`` (a seeded random
    initialisation of the same architecture with ``random_init_seed``: the baseline), its banks
    stored on disk under ``cache_dir`` (one folder per model, initialisation and grid) and reused
    while the checkpoint, the feature set, the tracks and the grid are the same. With ``rate_hz``
    the grid is one patch every 1 / rate_hz seconds (the hop argument is then unused)."""
    cache = Path(cache_dir)

    def embed(source: Any, features: Any, track_ids: Sequence[str], random_init_seed: int | None,
              crop_hop: int) -> PatchBank:
        import hashlib

        from ..features.store import FeatureStore
        from .backbone import _safe, _stamp, checkpoint_path, frozen_backbone

        if features is None:
            raise ConfigError("the ismir2022 protocol embeds patches: it needs --features (a feature set)")
        checkpoint = checkpoint_path(source)
        features = Path(features)
        name = _safe(source.label) + (f".random-init-{random_init_seed}" if random_init_seed is not None else "")
        grid = f"{rate_hz:g}hz" if rate_hz is not None else f"hop{crop_hop}"
        directory = cache / f"{name}.{_safe(features.name)}.{grid}.bank"
        key = {"source": _stamp(checkpoint), "features": _stamp(features), "random_init_seed": random_init_seed,
               "grid": grid, "tracks": hashlib.sha256("\n".join(track_ids).encode()).hexdigest()}
        if bank_key(directory) == json.loads(json.dumps(key)):
            try:
                return load_bank(directory)
            except InputError:
                pass  # damaged: built again below
        backbone, device = frozen_backbone(checkpoint, random_init_seed)
        return embed_patches(backbone, FeatureStore(features), track_ids, crop_hop=crop_hop, device=device,
                             directory=directory, key=key, rate_hz=rate_hz)

    return embed
