"""What every association module shares: the run context it receives and the result it returns.

An association module (one per association, see :mod:`.registry`) exposes ``NAME`` and
``generate(ctx) -> PairsResult``. Pairs are track indices into ``ctx.index``; the shared
entity columns are (offsets, values) list columns or ``None``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..workspace import Workspace
from .index import SplitIndex


def pair_rng(seed: int, epoch: int, association: str, split: str) -> np.random.Generator:
    """The generator of one (seed, epoch, association, split): independent streams, reproducible."""
    return np.random.default_rng(np.random.SeedSequence(
        [int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, zlib.crc32(association.encode()), zlib.crc32(split.encode())]))


@dataclass
class PairContext:
    ws: Workspace
    dataset: str
    split: str
    epoch: int
    seed: int
    index: SplitIndex
    rng: np.random.Generator
    options: dict[str, Any] = field(default_factory=dict)
    similarity: np.ndarray | Callable[[int, np.ndarray], np.ndarray] | None = None

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """Epoch-independent inputs (playlists, co-occurrence), kept on the split index so that
        several epochs drawn in one process load them once."""
        cache = self.index.cache
        if key not in cache:
            cache[key] = build()
        return cache[key]

    @property
    def word2vec_path(self) -> Path:
        given = self.options.get("word2vec")
        return Path(given) if given else self.ws.dataset(self.dataset) / "word2vec" / "vectors.parquet"


@dataclass
class PairsResult:
    anchors: np.ndarray
    positives: np.ndarray
    shared: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    shared_playlists: tuple[np.ndarray, Any] | None = None  # (offsets, pa.Array of playlist ids)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_pairs(self) -> int:
        return int(self.anchors.size)
