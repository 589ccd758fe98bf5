"""``torch.utils.data.Dataset`` views of a workspace, for training and evaluation code of your own.

* :class:`PairsDataset`: the positive pairs ``make-pairs`` wrote for one association, split and
  epoch, each item the two tracks' mel-spectrogram crops from a feature set;
* :class:`ProbeTaskDataset`: one split of a probe task manifest (the CSV ``probe`` reads), each
  item a track's crop and its target (class index or multi-hot vector), or a triplet's three crops.

Items are dicts of tensors (the default collate batches them). A crop is ``(1, crop_frames,
n_mels)`` float32, as the trainer feeds its backbones: a random window of the track in the train
split (drawn from ``seed``, the epoch and the item, so a DataLoader with workers gives the same
items every run), its centre elsewhere; a track shorter than the crop is zero padded. Features stay
memory-mapped on disk, so a dataset costs a few dozen bytes per track in each worker.

Both take a :class:`~discogs_tools.workspace.Workspace` or a workspace path, like every library
function (docs/python-api.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DiscogsToolsError, MissingInputError
from .workspace import Workspace


def _store(ws: Workspace, features: str | os.PathLike[str]):
    from .features.store import FeatureStore

    path = Path(features)
    return FeatureStore(path if path.is_dir() and (path / "index").is_dir() else ws.features / str(features))


def _crop(store, track_id: str, frames: int, rng: np.random.Generator | None) -> torch.Tensor:
    """(1, frames, n_mels) float32: a window of the track (random with ``rng``, else centred)."""
    full = store.get(track_id)
    n = len(full)
    start = 0 if n <= frames else (int(rng.integers(0, n - frames + 1)) if rng is not None else (n - frames) // 2)
    out = np.zeros((frames, store.n_mels), dtype=np.float32)
    piece = full[start:start + frames]
    out[: len(piece)] = piece
    return torch.from_numpy(out).unsqueeze(0)


class PairsDataset(Dataset):
    """Pairs of ``datasets/<dataset>/pairs/<association>/<split>.parquet/epoch-<epoch>``.

    ``len()`` counts the pairs whose two tracks both have features (``skipped`` the others). An
    item: ``anchor`` and ``positive`` crops (1, crop_frames, n_mels), ``anchor_id``, ``positive_id``.
    For the ``track`` association anchor and positive are two crops of the same track.
    """

    def __init__(self, workspace: Workspace | str | os.PathLike[str], dataset: str, association: str,
                 split: str = "train", *, features: str | os.PathLike[str] = "default", epoch: int = 0,
                 crop_frames: int = 128, seed: int = 0) -> None:
        import pyarrow.parquet as pq

        from .pairs.output import epoch_name, pairs_dir

        ws = Workspace.of(workspace)
        path = pairs_dir(ws, dataset, association, split) / epoch_name(epoch)
        if not path.exists():
            raise MissingInputError(f"pairs {association}/{split} epoch {epoch}", path,
                                    f"discogs-tools make-pairs --dataset {dataset} -a {association} --split {split}")
        table = pq.read_table(path, columns=["anchor", "positive"])
        self.store = _store(ws, features)
        anchors, positives = table.column("anchor").to_pylist(), table.column("positive").to_pylist()
        keep = [i for i, (a, p) in enumerate(zip(anchors, positives)) if a in self.store and p in self.store]
        self.anchors = [anchors[i] for i in keep]
        self.positives = [positives[i] for i in keep]
        self.skipped = len(anchors) - len(keep)
        self.split, self.epoch, self.crop_frames, self.seed = split, int(epoch), int(crop_frames), int(seed)

    def __len__(self) -> int:
        return len(self.anchors)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, int(i)]) if self.split == "train" else None
        a, p = self.anchors[i], self.positives[i]
        return {"anchor": _crop(self.store, a, self.crop_frames, rng),
                "positive": _crop(self.store, p, self.crop_frames, rng), "anchor_id": a, "positive_id": p}


class ProbeTaskDataset(Dataset):
    """One split of a probe task manifest, read and split exactly as ``probe`` does (same seed,
    same fractions), keeping the records whose tracks have features.

    Labelled tasks: ``x`` (1, crop_frames, n_mels), ``y`` (class index, int64, for multi-class; a
    float32 multi-hot vector over ``classes`` for multi-label), ``track_id``. Triplets: ``anchor``,
    ``positive``, ``negative`` crops and their ids. ``classes`` is the train split's vocabulary.
    """

    def __init__(self, workspace: Workspace | str | os.PathLike[str], manifest: str | os.PathLike[str],
                 split: str = "train", *, features: str | os.PathLike[str] = "default", crop_frames: int = 128,
                 seed: int = 0, epoch: int = 0) -> None:
        from .probe.datasets import (TRIPLET_COLUMNS, TRIPLETS, BadRecords, DatasetOptions, assign_splits,
                                     fix_vocabulary, load_dataset)

        ws = Workspace.of(workspace)
        options = DatasetOptions()
        bad = BadRecords(manifest)
        task = assign_splits(load_dataset(manifest, options, bad, workspace=ws), options, seed)
        if task.kind != TRIPLETS:
            task = fix_vocabulary(task, bad)
        self.store = _store(ws, features)
        self.kind, self.classes = task.kind, list(task.classes)
        self._columns = TRIPLET_COLUMNS if task.kind == TRIPLETS else ("track_id",)
        in_split = task.split_indices(split)
        keep = [int(i) for i in in_split if all(task.columns[c][i] in self.store for c in self._columns)]
        if not keep:
            raise DiscogsToolsError(f"{manifest}: no record of split {split} has features in {self.store.root}")
        self.skipped = len(in_split) - len(keep)
        self.ids = {c: [task.columns[c][i] for i in keep] for c in self._columns}
        self.targets = None if task.kind == TRIPLETS else torch.from_numpy(task.keep(
            [i in set(keep) for i in range(len(task))]).label_matrix())
        self.split, self.epoch, self.crop_frames, self.seed = split, int(epoch), int(crop_frames), int(seed)

    def __len__(self) -> int:
        return len(self.ids[self._columns[0]])

    def __getitem__(self, i: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, int(i)]) if self.split == "train" else None
        if self.targets is None:
            item: dict[str, Any] = {c: _crop(self.store, self.ids[c][i], self.crop_frames, rng) for c in self._columns}
            item.update({f"{c}_id": self.ids[c][i] for c in self._columns})
            return item
        track = self.ids["track_id"][i]
        return {"x": _crop(self.store, track, self.crop_frames, rng), "y": self.targets[i], "track_id": track}
