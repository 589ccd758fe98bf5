"""Hugging Face ``datasets`` over a dataset folder: which files make each association's splits.

make-pairs stores one folder per association and split, ``pairs/<association>/<split>.parquet/``,
with one Parquet file per epoch plus a JSON description. ``load_dataset`` given the folder name
finds no data (it is a folder, not a file), and given the whole dataset folder it merges every
association into one split. Two ways to load them as they are meant:

- :func:`pair_data_files` gives ``load_dataset("parquet", data_files=...)`` the epoch files of each
  existing split of one association;
- :func:`write_card` writes the dataset folder's ``README.md`` whose YAML header declares one
  config per association (its existing splits) plus ``tracks``, ``labels`` and ``splits``, so
  ``load_dataset("workspace/datasets/demo", "artist")`` loads the artist pairs alone.
  ``build-dataset`` writes it and every ``make-pairs`` run refreshes it, so new pairs are listed.

The package is not a dependency of discogs-tools (only of its tests); nothing here imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..io import write_text_atomic
from ..workspace import Workspace

SPLIT_ORDER = ("train", "validation", "test")
TABLES = ("tracks", "labels", "splits")
EPOCH_GLOB = "epoch-*.parquet"


def _splits(pairs_root: Path, association: str) -> list[str]:
    folder = pairs_root / association
    found = {p.name[:-len(".parquet")] for p in folder.glob("*.parquet")
             if p.is_dir() and any(p.glob(EPOCH_GLOB))} if folder.is_dir() else set()
    return sorted(found, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def associations(ws: Workspace | str | os.PathLike[str], dataset: str) -> list[str]:
    """Associations of ``dataset`` with at least one stored split of pairs."""
    root = Workspace.of(ws).dataset(dataset) / "pairs"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _splits(root, p.name)) if root.is_dir() else []


def pair_data_files(ws: Workspace | str | os.PathLike[str], dataset: str, association: str) -> dict[str, str]:
    """``{split: glob of its epoch files}`` for ``load_dataset("parquet", data_files=...)``; only the
    splits that exist (the demo's label pairs have no validation split); absolute paths."""
    ws = Workspace.of(ws)
    root = ws.dataset(dataset) / "pairs"
    return {split: str(root / association / f"{split}.parquet" / EPOCH_GLOB) for split in _splits(root, association)}


def card_text(ws: Workspace | str | os.PathLike[str], dataset: str) -> str:
    """The README.md (YAML header of configs, then a short description) for ``dataset``."""
    ws = Workspace.of(ws)
    folder = ws.dataset(dataset)
    lines = ["---", "configs:"]
    for table in TABLES:
        if (folder / table).is_dir():
            lines += [f"- config_name: {table}", "  data_files:", "  - split: train", f"    path: {table}/*.parquet"]
    for association in associations(ws, dataset):
        lines += [f"- config_name: {association}", "  data_files:"]
        for split in _splits(folder / "pairs", association):
            lines += [f"  - split: {split}", f"    path: pairs/{association}/{split}.parquet/{EPOCH_GLOB}"]
    lines += ["---", "", f"# discogs-tools dataset `{dataset}`", "",
              "Written by discogs-tools (`build-dataset`, `make-pairs`). One config per table and per pair",
              "association, each pair split its own split (every stored epoch; `epoch` is a column):", "",
              "```python", "from datasets import load_dataset", "",
              f'artist = load_dataset("path/to/datasets/{dataset}", "artist")', "```", ""]
    return "\n".join(lines)


def write_card(ws: Workspace | str | os.PathLike[str], dataset: str) -> Path:
    """Write (atomically) ``datasets/<dataset>/README.md`` listing what exists now (build-dataset
    and make-pairs call it)."""
    ws = Workspace.of(ws)
    return write_text_atomic(ws.dataset(dataset) / "README.md", card_text(ws, dataset))
