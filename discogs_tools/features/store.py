"""Feature sets on disk: float16 shard files plus a Parquet index, memory-mapped for reading.

Layout of ``features/<name>/``::

    features.json                 front-end parameters, crop, dtype, n_mels (checked on resume and by readers)
    shards/00000.f16 ...          raw little-endian float16, shape (rows, n_mels), tracks one after another
    index/part-00000.parquet ...  one index part per shard: track_id, shard, offset, frames (schema features/index)

A shard and its index part are written by one :class:`ShardWriter`: the shard file is renamed
into place first, then the index part; a track counts as done only once its index part exists.
An interrupted run therefore leaves at worst an orphan shard, which :func:`remove_orphans`
deletes on the next run; completed shards are kept, which is what makes the stage resumable.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, MissingInputError
from ..io import atomic_path, write_json_atomic
from ..schemas import conform, load_schema

DTYPE = np.dtype("<f2")
INDEX_TABLE = "features/index"


def shard_path(root: Path, shard: int) -> Path:
    return root / "shards" / f"{shard:05d}.f16"


def index_part_path(root: Path, shard: int) -> Path:
    return root / "index" / f"part-{shard:05d}.parquet"


class ShardWriter:
    """Append tracks' spectrograms to one new shard; :meth:`commit` publishes shard + index part."""

    def __init__(self, root: str | os.PathLike[str], shard: int, n_mels: int) -> None:
        self.root = Path(root)
        self.shard = shard
        self.n_mels = n_mels
        self.rows: list[dict[str, Any]] = []
        self.offset = 0
        final = shard_path(self.root, shard)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._fh = open(self._tmp, "wb")

    def add(self, track_id: str, mel: np.ndarray) -> None:
        if mel.ndim != 2 or mel.shape[1] != self.n_mels:
            raise ValueError(f"expected (frames, {self.n_mels}) features for {track_id}, got {mel.shape}")
        self._fh.write(np.ascontiguousarray(mel, dtype=DTYPE).tobytes())
        self.rows.append({"track_id": track_id, "shard": self.shard, "offset": self.offset, "frames": len(mel)})
        self.offset += len(mel)

    def commit(self) -> int:
        """Publish the shard (if it holds any track) and its index part; returns tracks written."""
        self._fh.close()
        if not self.rows:
            self._tmp.unlink(missing_ok=True)
            return 0
        os.replace(self._tmp, shard_path(self.root, self.shard))
        table = conform(pa.Table.from_pylist(self.rows, schema=load_schema(INDEX_TABLE)), load_schema(INDEX_TABLE))
        with atomic_path(index_part_path(self.root, self.shard)) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        return len(self.rows)

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


def existing_shards(root: Path) -> set[int]:
    """Shard numbers that have a committed index part."""
    return {int(p.stem.split("-")[1]) for p in (root / "index").glob("part-*.parquet")}


def remove_orphans(root: Path) -> int:
    """Delete temporary files and shards without an index part (left by an interrupted run)."""
    removed = 0
    done = existing_shards(root)
    for folder in (root / "shards", root / "index"):
        for p in folder.glob(".*"):
            p.unlink(missing_ok=True)
            removed += 1
    for p in (root / "shards").glob("*.f16"):
        if int(p.stem) not in done:
            p.unlink()
            removed += 1
    return removed


def write_settings(root: Path, settings: dict[str, Any]) -> None:
    write_json_atomic(root / "features.json", settings)


def read_settings(root: Path) -> dict[str, Any] | None:
    path = root / "features.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


class FeatureStore:
    """Read access to a feature set: which tracks have features and their (frames, n_mels) arrays.

    The index is held in memory (a few dozen bytes per track); spectrograms stay on disk and are
    memory-mapped per shard, so a worker process touches only the pages it reads.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        settings = read_settings(self.root)
        if settings is None or not (self.root / "index").is_dir():
            raise MissingInputError("feature set", self.root, "discogs-tools features")
        self.settings = settings
        self.n_mels = int(settings["n_mels"])
        parts = sorted((self.root / "index").glob("part-*.parquet"))
        if parts:
            table = pa.concat_tables([pq.read_table(p) for p in parts])
        else:
            table = load_schema(INDEX_TABLE).empty_table()
        self.track_ids: list[str] = table.column("track_id").to_pylist()
        self.shards = table.column("shard").to_numpy().astype(np.int32)
        self.offsets = table.column("offset").to_numpy().astype(np.int64)
        self.frames = table.column("frames").to_numpy().astype(np.int64)
        self.position = {tid: i for i, tid in enumerate(self.track_ids)}
        if len(self.position) != len(self.track_ids):
            raise InputError(self.root / "index", "a track appears twice in the feature index")
        self._maps: dict[int, np.memmap] = {}
        self._arrays: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.track_ids)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self.position

    def positions(self, track_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of tracks (-1 where a track has no features)."""
        get = self.position.get
        return np.fromiter((get(t, -1) for t in track_ids), dtype=np.int64)

    def _shard(self, shard: int) -> np.memmap:
        m = self._maps.get(shard)
        if m is None:
            path = shard_path(self.root, shard)
            if not path.exists():
                raise MissingInputError(f"feature shard {shard}", path, "discogs-tools features")
            m = np.memmap(path, dtype=DTYPE, mode="r").reshape(-1, self.n_mels)
            self._maps[shard] = m
        return m

    def array(self, shard: int) -> np.ndarray:
        """Shard ``shard`` as a plain (rows, n_mels) float16 ndarray over the same memory map: slicing
        it skips np.memmap's per-slice bookkeeping (the trainer's crop loop slices it per crop)."""
        a = self._arrays.get(shard)
        if a is None:
            a = self._arrays[shard] = self._shard(shard).view(np.ndarray)
        return a

    def rows(self, position: int, start: int = 0, length: int | None = None) -> np.ndarray:
        """float16 view of frames [start, start+length) of the track at ``position``."""
        frames = int(self.frames[position])
        length = frames - start if length is None else length
        begin = int(self.offsets[position]) + start
        return self._shard(int(self.shards[position]))[begin:begin + length]

    def get(self, track_id: str) -> np.ndarray:
        """The whole (frames, n_mels) float16 spectrogram of a track (a memory-mapped view)."""
        return self.rows(self.position[track_id])

    def __getstate__(self) -> dict[str, Any]:  # memmaps are reopened in worker processes
        state = self.__dict__.copy()
        state["_maps"] = {}
        state["_arrays"] = {}
        return state
