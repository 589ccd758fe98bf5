"""In-memory index of one split of a built dataset: track ids and, per entity kind
(releases, artists, labels), a CSR array track -> sorted dense entity codes.

This is the working set of the pair generators; it holds integer arrays only (3.3M tracks
with ~5 releases each take ~200 MB), read column-wise from datasets/<name>/tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..dataset.version import peek
from ..errors import ConfigError, DiscogsToolsError, MissingInputError
from ..workspace import Workspace

ENTITY_KINDS: tuple[str, ...] = ("releases", "artists", "labels")
SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


@dataclass
class EntityCSR:
    """Rows are tracks; ``codes[ptr[t]:ptr[t+1]]`` are the track's entities as dense codes
    (ascending), ``ids[code]`` the Discogs id of a code."""

    ptr: np.ndarray
    codes: np.ndarray
    ids: np.ndarray

    @property
    def n_entities(self) -> int:
        return int(self.ids.size)

    def row(self, t: int) -> np.ndarray:
        return self.codes[self.ptr[t]:self.ptr[t + 1]]

    def row_ids(self, t: int) -> np.ndarray:
        return self.ids[self.row(t)]

    def inverted(self) -> "EntityCSR":
        """Entity -> tracks (rows are entity codes, values track indices ascending)."""
        n_tracks = self.ptr.size - 1
        track_of = np.repeat(np.arange(n_tracks, dtype=np.int64), np.diff(self.ptr))
        order = np.argsort(self.codes, kind="stable")
        ptr = np.zeros(self.n_entities + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.codes, minlength=self.n_entities), out=ptr[1:])
        return EntityCSR(ptr=ptr, codes=track_of[order], ids=np.arange(n_tracks, dtype=np.int64))


def csr_from_lists(values: pa.ListArray | pa.ChunkedArray) -> EntityCSR:
    """CSR of a list<int64> column (sorted distinct per row, as build-dataset writes them)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.int64)
    ptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    ids, codes = np.unique(flat, return_inverse=True)
    return EntityCSR(ptr=ptr, codes=codes.astype(np.int64).reshape(-1), ids=ids.astype(np.int64))


@dataclass
class SplitIndex:
    """Tracks of one split (``track_ids[i]`` is track i) and their entity CSRs."""

    dataset: str
    split: str
    track_ids: pa.Array
    entities: dict[str, EntityCSR] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # epoch-independent derived inputs
    version: str | None = None  # the dataset version read (None: the dataset records none)

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    def position_of(self) -> dict[str, int]:
        """track_id -> index (a Python dict; for validation and small lookups)."""
        return {t: i for i, t in enumerate(self.track_ids.to_pylist())}


def tracks_dir(ws: Workspace, dataset: str):
    return ws.dataset(dataset) / "tracks"


def load_split(ws: Workspace, dataset: str, split: str) -> SplitIndex:
    """Read the tracks of ``split`` from datasets/<dataset>/tracks into a :class:`SplitIndex`.

    The dataset version is read before and after the tracks: a rebuild committed in between
    (the index would mix two builds, or be labelled with the wrong one) is an error.
    """
    import pyarrow.dataset as pads

    if split not in SPLIT_NAMES:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
    folder = tracks_dir(ws, dataset)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise MissingInputError(f"dataset {dataset} tracks", folder, f"discogs-tools build-dataset --name {dataset}")
    before = peek(ws, dataset)
    try:
        table = pads.dataset(folder, format="parquet").to_table(
            columns=["track_id", *ENTITY_KINDS], filter=pc.field("split") == split)
    except FileNotFoundError:
        if peek(ws, dataset) == before:
            raise
        table = None  # the folder was replaced under the reader
    if table is None or peek(ws, dataset) != before:
        raise DiscogsToolsError(f"dataset {dataset} was rebuilt while its {split} split was being read: run again")
    table = table.sort_by("track_id")
    index = SplitIndex(dataset=dataset, split=split, track_ids=table.column("track_id").combine_chunks(),
                       version=before)
    for kind in ENTITY_KINDS:
        index.entities[kind] = csr_from_lists(table.column(kind))
    return index
