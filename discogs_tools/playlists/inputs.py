"""Find the input files of a playlist ingest and decide their format.

An input is a file or a folder; a folder stands for every supported file inside it (not
recursive), taken in natural name order (``mpd.slice.1000-1999.json`` after
``mpd.slice.0-999.json`` and before ``mpd.slice.2000-2999.json``). ``.gz`` files are read
through gzip.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ConfigError, MissingInputError

FORMATS = ("mpd", "csv", "tsv", "jsonl")
_SUFFIX_FORMATS = {".json": "mpd", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: str


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: a2 < a10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def detect_format(path: Path) -> str | None:
    """Format from the file name (``.json`` -> mpd, ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``; ``.gz`` allowed)."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return _SUFFIX_FORMATS.get(Path(name).suffix.lower())


def discover(paths: list[Path], fmt: str = "auto") -> list[InputFile]:
    """Expand files and folders into the ordered list of input files with their format."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ConfigError(f"unknown playlist format {fmt!r}; choose one of auto, {', '.join(FORMATS)}")
    if not paths:
        raise ConfigError("no playlist input given")
    files: list[InputFile] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                     and detect_format(p) is not None]
            if fmt != "auto":
                found = [p for p in found if detect_format(p) == fmt]
            if not found:
                raise MissingInputError("playlist files (.json, .csv, .tsv, .jsonl)", path)
            files.extend(InputFile(p, fmt if fmt != "auto" else detect_format(p))
                         for p in sorted(found, key=lambda p: natural_key(p.name)))
        elif path.is_file():
            chosen = fmt if fmt != "auto" else detect_format(path)
            if chosen is None:
                raise ConfigError(f"{path}: cannot tell the playlist format from the file name; pass --format")
            files.append(InputFile(path, chosen))
        else:
            raise MissingInputError("playlist input", path)
    seen: set[Path] = set()
    for f in files:
        resolved = f.path.resolve()
        if resolved in seen:
            raise ConfigError(f"{f.path}: the same file is given twice")
        seen.add(resolved)
    return files


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, through gzip when it ends with ``.gz``."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_bytes(path: Path) -> bytes:
    with open_binary(path) as fh:
        return fh.read()
