"""One writer per output: an advisory lock per (stage, output name) in the workspace.

Two runs writing the same output (two ``features demo`` runs, two ingests of the same
tables) would otherwise race: one's cleanup could delete the other's live files, or the
last writer would silently win. A stage takes :func:`output_lock` around the whole run; a
second run of the same output fails at once with a one-line error naming the holder
(pid, command line, start time) instead of waiting or interleaving.

The lock is ``flock`` on ``<workspace>/.locks/<stage>--<name>.lock``: the kernel releases it
when the holder exits, however it dies (``kill -9`` included), so a lock is never stale.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    cmd = info.get("command") or "?"
    return f"pid {info.get('pid', '?')} (`{cmd}`, since {info.get('started', '?')})"


def _open_lock_file(path: Path) -> int | None:
    """A descriptor to ``flock`` (created if needed), read-only where the file exists on a
    read-only file system, or None where it cannot exist there."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


@contextmanager
def output_lock(workspace_root: str | os.PathLike[str], stage: str, name: str = "") -> Iterator[Path]:
    """Hold the lock of ``stage``/``name`` for the ``with`` block, or raise :class:`OutputLockedError`.

    >>> with output_lock(ws.root, "features", "demo"):
    ...     write_the_features()
    """
    path = lock_path(workspace_root, stage, name)
    fd = _open_lock_file(path)
    if fd is None:
        # A read-only workspace: no other process can write this output either, and a stage
        # that tries will fail on its own write with a one-line error. Readers (sql) go on.
        yield path
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            what = f"{stage} {name}".strip()
            raise OutputLockedError(
                f"{what}: output is being written by {_holder(path)}; wait for that run to finish "
                f"or stop it (lock file {path})") from None
        info = {"pid": os.getpid(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:  # who holds it, for the message of a second run; best effort (a full disk)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        except OSError:
            pass
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
