"""One writer per output: an advisory lock per (stage, output name) in the workspace.

Two runs writing the same output (two ``features demo`` runs, two ingests of the same
tables) would otherwise race: one's cleanup could delete the other's live files, or the
last writer would silently win. A stage takes :func:`output_lock` around the whole run; a
second run of the same output fails at once with a one-line error naming the holder
(pid, command line, start time) instead of waiting or interleaving.

The lock is `filelock`'s on ``<workspace>/.locks/<stage>--<name>.lock`` (``flock``, which the
kernel releases when the holder exits however it dies, ``kill -9`` included, so a lock is never
stale; filelock's own soft lock on a file system without ``flock``). filelock does not say who
holds a lock, so the holder writes a small record next to it after acquiring,
``<stage>--<name>.holder`` (pid, command line, start). A killed holder leaves its record behind:
a record is believed only while its pid is alive, so a dead pid is never named.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import filelock

from .errors import DiscogsToolsError

LOCKS_DIR = ".locks"


class OutputLockedError(DiscogsToolsError):
    """Another live process is writing the same output."""


def lock_path(workspace_root: str | os.PathLike[str], stage: str, name: str = "") -> Path:
    """File that guards output ``name`` of ``stage`` in the workspace."""
    key = f"{stage}--{name}" if name else stage
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "output"
    if len(safe) > 120:  # e.g. an output path as the name: keep file names short and distinct
        safe = f"{safe[:80]}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}"
    return Path(workspace_root) / LOCKS_DIR / f"{safe}.lock"


def holder_path(lock: Path) -> Path:
    """The record of who holds ``lock`` (written by the holder after acquiring it)."""
    return lock.with_suffix(".holder")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    try:  # a killed holder its parent has not reaped yet is gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _holder(lock: Path, patience_s: float = 1.0) -> str:
    """Who holds ``lock``, from its record; a record whose pid is dead is the leftover of a killed
    holder, and the live holder may be about to replace it: wait up to ``patience_s`` for that."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            info = json.loads(holder_path(lock).read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            info = {}
        if _alive(info.get("pid")):
            return f"pid {info['pid']} (`{info.get('command') or '?'}`, since {info.get('started', '?')})"
        if time.monotonic() >= deadline:
            return "another process (it has not recorded its pid)"
        time.sleep(0.05)


def _write_record(lock: Path) -> dict | None:
    """Record this process as the holder; best effort (a full disk leaves no record)."""
    info = {"pid": os.getpid(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    record = holder_path(lock)
    tmp = record.with_name(f".{record.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, record)
        return info
    except OSError:
        tmp.unlink(missing_ok=True)
        return None


def _remove_record(lock: Path, info: dict | None) -> None:
    """Remove the record if it is still ours (before the lock is released, so never a successor's)."""
    if info is None:
        return
    try:
        if json.loads(holder_path(lock).read_text(encoding="utf-8")).get("pid") == info["pid"]:
            holder_path(lock).unlink()
    except (OSError, ValueError):
        pass


READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextmanager
def output_lock(workspace_root: str | os.PathLike[str], stage: str, name: str = "") -> Iterator[Path]:
    """Hold the lock of ``stage``/``name`` for the ``with`` block, or raise :class:`OutputLockedError`.

    >>> with output_lock(ws.root, "features", "demo"):
    ...     write_the_features()
    """
    path = lock_path(workspace_root, stage, name)
    lock = filelock.FileLock(path, thread_local=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except filelock.Timeout:
        what = f"{stage} {name}".strip()
        raise OutputLockedError(
            f"{what}: output is being written by {_holder(path)}; wait for that run to finish "
            f"or stop it (lock file {path})") from None
    except OSError as exc:
        if exc.errno not in READ_ONLY:
            raise
        # A read-only workspace: no other process can write this output either, and a stage
        # that tries will fail on its own write with a one-line error. Readers (sql) go on.
        yield path
        return
    try:
        info = _write_record(path)
        try:
            yield path
        finally:
            _remove_record(path, info)
    finally:
        lock.release()
