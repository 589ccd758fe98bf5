"""workspace/manifest.json: what each stage produced.

The manifest maps a stage key (e.g. ``"ingest discogs"``, ``"make-pairs artist/train"``) to
its last run: inputs (path, size, checksum), parameters, counts, outputs and time. Updates
take a file lock and replace the file atomically, so concurrent stages do not lose entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import filelock

from .io import table_version, write_json_atomic


def file_checksum(path: str | os.PathLike[str], algorithm: str = "sha256", chunk: int = 4 << 20) -> str:
    """Hex digest of a file, read in chunks (bounded memory)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def describe_input(path: str | os.PathLike[str], checksum: bool = True) -> dict[str, Any]:
    """Path, size, modification time and (optionally) checksum of an input file."""
    p = Path(path)
    st = p.stat()
    entry: dict[str, Any] = {
        "path": str(p.resolve()),
        "bytes": st.st_size,
        "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(),
    }
    if checksum:
        entry["checksum"] = file_checksum(p)
    return entry


def describe_table(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, files, bytes and fingerprint of an input table folder (or Parquet file): its version id
    (``_table.json``, new at every commit) when it has one, else a SHA-256 over the names, sizes and
    modification times of its files (no data is read: tables can be far larger than RAM)."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
    stats = [(str(f.relative_to(p)) if p.is_dir() else f.name, f.stat().st_size, f.stat().st_mtime_ns)
             for f in files if f.exists()]
    version = table_version(p) if p.is_dir() else None
    fingerprint = f"version:{version}" if version else "sha256:" + hashlib.sha256(json.dumps(stats).encode()).hexdigest()
    return {"path": str(p.resolve()), "files": len(stats), "bytes": sum(s[1] for s in stats),
            "fingerprint": fingerprint}


def describe_files(paths: Iterable[str | os.PathLike[str] | None]) -> dict[str, Any]:
    """Count, total bytes and fingerprint of many input files (a collection's audio), streamed:
    one ``stat`` per file, no file is read. The fingerprint is a SHA-256 over each file's name,
    size and modification time in the given order, so a moved collection with preserved times
    (``cp -p``, ``rsync -a``) keeps it and an edited file changes it; missing files are counted."""
    h = hashlib.sha256()
    files = missing = total = 0
    for path in paths:
        if path is None:
            missing += 1
            continue
        try:
            st = os.stat(path)
        except OSError:
            missing += 1
            h.update(b"\0missing\n")
            continue
        files += 1
        total += st.st_size
        h.update(f"{os.path.basename(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return {"files": files, "missing": missing, "bytes": total, "fingerprint": f"sha256:{h.hexdigest()}"}


@contextmanager
def _locked(manifest_path: Path) -> Iterator[None]:
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(manifest_path.with_name(manifest_path.name + ".lock"), thread_local=False):
        yield


def load(manifest_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole manifest (``{"stages": {...}}``), empty if none was written yet."""
    p = Path(manifest_path)
    if not p.exists():
        return {"stages": {}}
    return json.loads(p.read_text(encoding="utf-8"))


def output_versions(outputs: dict[str, Any]) -> dict[str, str]:
    """Version ids (``_table.json``) of the table folders among a report's outputs.

    The manifest is written after the tables are committed; if that write fails (a full disk)
    the table still describes itself (rows, version) in its own folder, and a manifest entry
    whose ``output_versions`` differ from the folders' is recognisably stale.
    """
    found = {}
    for name, path in (outputs or {}).items():
        version = table_version(path) if isinstance(path, str) else None
        if version:
            found[name] = version
    return found


def record(manifest_path: str | os.PathLike[str], key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Store ``entry`` under ``stages[key]`` (replacing the previous run of that key)."""
    p = Path(manifest_path)
    entry = {**entry, "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    versions = output_versions(entry.get("outputs") or {})
    if versions:
        entry["output_versions"] = versions
    with _locked(p):
        data = load(p)
        data.setdefault("stages", {})[key] = entry
        write_json_atomic(p, data)
    return entry


def get(manifest_path: str | os.PathLike[str], key: str) -> dict[str, Any] | None:
    return load(manifest_path).get("stages", {}).get(key)


class Timer:
    """Wall-clock timer: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.start
