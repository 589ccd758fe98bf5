"""The collection's roots: the only folders ``serve`` plays audio from.

A root is the folder ``ingest collection`` read (a folder source), or the folder of the manifest
it read (a manifest source), as ``manifest.json`` records it, plus any folder the user names
(``serve --audio-root``). A track's file is served only when its real path (symbolic links and
``..`` resolved) lies under a root's real path, so a manifest row or a link that points elsewhere
(``/etc/passwd``, ``../../secret``) is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .. import manifest
from ..workspace import Workspace


class OutsideRoots(Exception):
    """A path that may not be served (outside every collection root, or not a file)."""


def collection_roots(ws: Workspace, extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Real paths of the collection's roots (see module docstring)."""
    roots: list[Path] = []
    entry = manifest.get(ws.manifest_path, "ingest collection") or {}
    inputs = entry.get("inputs") or {}
    source = inputs.get("source")
    if source:
        src = Path(source)
        roots.append(src if inputs.get("kind") == "folder" else src.parent)
    roots.extend(Path(p) for p in extra)
    out: list[Path] = []
    for r in roots:
        real = Path(os.path.realpath(r))
        if real not in out:
            out.append(real)
    return out


def servable(path: str | os.PathLike[str] | None, roots: Iterable[Path]) -> Path:
    """The real path of ``path`` when it is a file under one of ``roots``; else :class:`OutsideRoots`."""
    if not path:
        raise OutsideRoots("the track has no audio file")
    real = Path(os.path.realpath(path))
    if not any(real == r or real.is_relative_to(r) for r in roots):
        raise OutsideRoots(f"{path} is outside the collection's folders")
    if not real.is_file():
        raise OutsideRoots(f"{path} is not a file")
    return real
