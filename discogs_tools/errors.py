"""Error types and the rejects file.

Every error a user can cause (bad input, a missing table, a wrong option) is raised as a
:class:`DiscogsToolsError` whose message is one line naming the file, the record and the
reason. The CLI prints that line and exits non-zero, without a traceback.

Malformed *records* are not errors: a stage counts them and writes them to a rejects
file with :class:`RejectsWriter`, so that ``records read = rows written + rejects`` holds and
nothing is lost silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class DiscogsToolsError(Exception):
    """Base class of every error meant for the user (printed as one line by the CLI)."""


class InputError(DiscogsToolsError):
    """Bad input: names the file, and where known the record id, byte offset and reason."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        reason: str,
        *,
        record: Any = None,
        offset: int | None = None,
        line: int | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        self.record = record
        self.offset = offset
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.path:
            parts.append(self.path)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.offset is not None:
            parts.append(f"byte offset {self.offset}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        parts.append(self.reason)
        return ": ".join(parts)


class MissingInputError(DiscogsToolsError):
    """A table or file a stage needs does not exist; says which command produces it."""

    def __init__(self, what: str, path: str | os.PathLike[str], produced_by: str | None = None) -> None:
        msg = f"{what} not found at {path}"
        if produced_by:
            msg += f"; run `{produced_by}` first"
        super().__init__(msg)
        self.path = str(path)
        self.produced_by = produced_by


class NothingUsableError(DiscogsToolsError):
    """A stage read nothing usable (every input empty or rejected): it failed and replaced nothing,
    so the previous output is kept. The message names the inputs and their reject counts."""


class EmptyInputError(DiscogsToolsError):
    """A stage's input table has no rows: nothing was computed, nothing was replaced."""


class ConfigError(DiscogsToolsError):
    """An option or configuration value is invalid (unknown name, out of range, ...)."""


# Texts by which DuckDB, Arrow and the OS describe disk problems in their own exception types.
DISK_ERROR_TEXTS = (("No space left on device", "no space left on device"),
                    ("Disk quota exceeded", "disk quota exceeded"),
                    ("Read-only file system", "read-only file system"),
                    ("Permission denied", "permission denied"),
                    ("Not a directory", "a path component is a file, not a folder"),
                    # DuckDB's OutOfMemoryException when its spill folder's disk is full
                    ("failed to offload data block", "out of temporary disk space for DuckDB's spill "
                                                     "(free space there or raise the memory limit)"))


def disk_problem(exc: BaseException) -> str | None:
    """What is wrong with the disk when an error of any type (DuckDB's IOException, Arrow's
    OSError without errno, ...) is really a disk error; else None."""
    text = str(exc)
    return next((reason for needle, reason in DISK_ERROR_TEXTS if needle in text), None)


class RejectsWriter:
    """Append-only JSON Lines file of rejected records, written atomically on close.

    Each line is ``{"file", "record", "offset", "reason", "raw"}``; ``raw`` keeps the start
    of the offending text (at most ``max_raw`` characters) so a user can see what was wrong.
    The file is only created if at least one record was rejected. Use as a context manager.
    """

    def __init__(self, path: str | os.PathLike[str], max_raw: int = 2000) -> None:
        self.path = Path(path)
        self.max_raw = max_raw
        self.count = 0
        from .io import _temp_sibling  # io imports this module: late import

        self._tmp = _temp_sibling(self.path)  # pid in the name: the next run collects it after a kill -9
        self._fh = None

    def add(
        self,
        *,
        file: str | None,
        reason: str,
        record: Any = None,
        offset: int | None = None,
        raw: str | bytes | None = None,
    ) -> None:
        """Record one rejected record."""
        if self._fh is None:
            from .io import remove_dead_staging

            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_dead_staging(self.path)
            self._fh = open(self._tmp, "w", encoding="utf-8")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if raw is not None and len(raw) > self.max_raw:
            raw = raw[: self.max_raw] + "..."
        entry = {"file": file, "record": record, "offset": offset, "reason": reason, "raw": raw}
        self._fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def close(self) -> None:
        """Move the rejects into place (or remove a stale rejects file if none were rejected)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            os.replace(self._tmp, self.path)
        elif self.count == 0 and self.path.exists():
            self.path.unlink()

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "RejectsWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
