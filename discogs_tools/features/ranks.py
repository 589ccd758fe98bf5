"""Several processes (``torchrun``, one or many machines) computing one feature set together.

Under ``torchrun`` every process sees ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. The features
stage then joins a gloo process group (CPU collectives only: a barrier and small Python objects;
gloo works with or without GPUs, and next to a trainer's NCCL group) and every rank:

- takes the tracks of the blocks ``b`` with ``b % world == rank``, where block ``b`` holds the
  tracks ``b * tracks_per_shard ... (b + 1) * tracks_per_shard - 1`` of the collection order
  (:func:`owns_block`): deterministic, independent of what is already done, so a rerun gives each
  rank the same tracks and each rank resumes its own;
- writes its own shards, numbered ``first + rank + k * world`` (never the same number as another
  rank's) and its own rejects file;
- meets the others at a barrier, after which rank 0 merges the counts and the rejects and records
  the run (the shard index is already one Parquet part per shard: readers see the union).

The workspace must be on a file system every machine sees (NFS, Lustre, ...). Without
``torchrun`` (``WORLD_SIZE`` unset or 1) every method here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import DiscogsToolsError


def owns_block(block: int, rank: int, world: int) -> bool:
    """Whether ``rank`` of ``world`` computes block ``block`` of tracks (round robin)."""
    return block % world == rank


class RankFailed(DiscogsToolsError):
    """Another rank stopped with an error; this rank stops too (its own error is on that rank)."""


@dataclass
class RankGroup:
    """This process's place among the feature ranks, with the few collectives the stage needs."""

    rank: int = 0
    world: int = 1
    _group: Any = None
    _owns_init: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @classmethod
    def join(cls) -> RankGroup:
        """From torchrun's environment; joins (or reuses) a gloo process group when WORLD_SIZE > 1."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        rank = int(os.environ["RANK"])
        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
            return cls(rank, world, None, True)
        group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
        return cls(rank, world, group, False)

    def leave(self) -> None:
        if self._owns_init:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self._owns_init = False

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier(group=self._group)

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (``[obj]`` alone)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj, group=self._group)
        return out

    def settle(self, error: BaseException | None) -> None:
        """Collective check point: re-raise this rank's ``error``, or stop with :class:`RankFailed` when
        another rank had one, so that no rank waits forever at a later barrier."""
        failed = [(r, e) for r, e in enumerate(self.gather(None if error is None else str(error))) if e]
        if error is not None:
            raise error
        if failed:
            rank, message = failed[0]
            raise RankFailed(f"features rank {rank} failed: {message}")


class RankTableWriter:
    """One table written by every rank, chunk by chunk (``embed`` under torchrun, for instance).

    Rank 0 owns the :class:`~discogs_tools.io.TableWriter` (its staging folder, the atomic rename
    into place, ``_table.json``); every rank writes each of its chunks as the part file
    ``part-<chunk>.parquet`` in that staging folder (conformed to the table's schema), so the
    committed table lists its rows in chunk order whatever rank wrote them. :meth:`commit` waits
    for every rank, then rank 0 commits. Without ranks it is a plain TableWriter."""

    def __init__(self, group: RankGroup, path, table: str) -> None:
        from ..io import TableWriter
        from ..schemas import load_schema

        self.group = group
        self.table = table
        self.schema = load_schema(table)
        self.writer = TableWriter(path, table) if group.is_main else None
        self.staging = group.gather(str(self.writer.staging_dir) if self.writer is not None else None)[0]
        self.rows = 0

    def write_chunk(self, chunk: int, data) -> None:
        """This rank's chunk number ``chunk`` (chunks are numbered over all ranks)."""
        from pathlib import Path

        import pyarrow.parquet as pq

        from ..io import atomic_path
        from ..schemas import conform

        if not self.group.enabled:
            self.writer.write(data)
            self.rows += data.num_rows
            return
        data = conform(data, self.schema, table=self.table)
        with atomic_path(Path(self.staging) / f"part-{chunk:06d}.parquet") as tmp:
            pq.write_table(data, tmp, compression="zstd")
        self.rows += data.num_rows

    def commit(self) -> None:
        self.group.barrier()  # every rank's parts are in the staging folder
        if self.writer is not None:
            self.writer.commit()
        self.group.barrier()  # the table is in place before any rank returns

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
