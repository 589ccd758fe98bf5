"""Where the collection's audio is now: its paths re-rooted when the workspace or the audio moved.

``ingest collection`` stores absolute paths (what other stages and users read) and records the
collection root with the table (``_table.json`` of collection/tracks): the folder it read, or the
folder of the manifest it read. When that root lies inside the workspace (the demo's
``demo_inputs/collection``) it is also recorded relative to the workspace, so a copied or moved
workspace finds the audio it carries instead of silently reading the original's. Audio that moved
on its own is found with a root the user gives: ``collection_root=`` of the reading stage, else the
environment variable ``DISCOGS_TOOLS_COLLECTION_ROOT``.

A path under the recorded root is re-rooted (same path below the root); any other path (a
manifest's absolute path elsewhere) is used as stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..io import table_info
from ..workspace import Workspace

TABLE = "collection/tracks"
ENV_VAR = "DISCOGS_TOOLS_COLLECTION_ROOT"
ROOT_KEY = "collection_root"
ROOT_IN_WORKSPACE_KEY = "collection_root_in_workspace"


def root_record(ws: Workspace, root: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``ingest collection`` records about the root it read (see the module docstring)."""
    real = Path(root).resolve()
    try:
        inside = real.relative_to(ws.root.resolve()).as_posix()
    except ValueError:
        inside = None
    return {ROOT_KEY: str(real), ROOT_IN_WORKSPACE_KEY: inside}


class AudioLocator:
    """Maps a stored audio path to where the file is now: ``locator(path) -> path``."""

    def __init__(self, ws: Workspace | str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> None:
        ws = Workspace.of(ws)
        info = table_info(ws.table(TABLE)) or {}
        self.recorded: str | None = info.get(ROOT_KEY)
        inside = info.get(ROOT_IN_WORKSPACE_KEY)
        given = root or os.environ.get(ENV_VAR) or None
        if given:
            self.root: Path | None = Path(given).expanduser().resolve()
        elif inside is not None:
            self.root = ws.root / inside
        else:
            self.root = Path(self.recorded) if self.recorded else None
        self._prefix = self.recorded.rstrip(os.sep) + os.sep if self.recorded else None
        self.moved = bool(self.recorded and self.root is not None and str(self.root) != self.recorded)

    def __call__(self, path: str | None) -> str | None:
        if path is None or not self.moved:
            return path
        if path == self.recorded:
            return str(self.root)
        if not path.startswith(self._prefix):
            return path
        return str(self.root / path[len(self._prefix):])
