"""The workspace: one directory that holds all state of a project (DESIGN section 2).

    workspace/
      tables/<group>/<table>/   Parquet datasets (part files), written atomically
      datasets/<name>/          built datasets: tracks, labels, splits, pairs, word2vec
      features/<name>/          audio features
      runs/<run>/               training runs and probe results
      rejects/<stage>/          JSON Lines files of rejected input records
      warehouse.duckdb          views over tables/ and datasets/
      manifest.json             what each stage produced

The location comes from ``--workspace``, else ``$DISCOGS_TOOLS_WORKSPACE``, else ``./workspace``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, MissingInputError

ENV_VAR = "DISCOGS_TOOLS_WORKSPACE"
DEFAULT_DIR = "workspace"


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Creating the object creates nothing on disk."""

    root: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None = None) -> "Workspace":
        """Workspace from an explicit path, the environment variable, or ``./workspace``."""
        chosen = path or os.environ.get(ENV_VAR) or DEFAULT_DIR
        return cls(Path(chosen).expanduser().resolve())

    @classmethod
    def of(cls, workspace: "Workspace | str | os.PathLike[str] | None") -> "Workspace":
        """The one signature convention of the library: a function taking a workspace accepts a
        :class:`Workspace` or a path (``None``: the environment variable, else ``./workspace``)."""
        return workspace if isinstance(workspace, Workspace) else cls.resolve(workspace)

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def table(self, name: str) -> Path:
        """Folder of a table, e.g. ``table("discogs/releases")``."""
        return self.tables / name

    def dataset(self, name: str) -> Path:
        return self.datasets / name

    def has_table(self, name: str) -> bool:
        """True when the table folder exists and holds at least one Parquet part."""
        folder = self.table(name)
        return folder.is_dir() and any(folder.glob("*.parquet"))

    def require_table(self, name: str, produced_by: str) -> Path:
        """Folder of a table that must exist, else a :class:`MissingInputError` naming the command."""
        if not self.has_table(name):
            raise MissingInputError(f"table {name}", self.table(name), produced_by)
        return self.table(name)

    def check(self) -> "Workspace":
        """Raise a one-line :class:`ConfigError` when the workspace path exists but is not a folder
        (or a parent of it is a file)."""
        for p in (self.root, *self.root.parents):
            if p.exists():
                if not p.is_dir():
                    what = "workspace" if p == self.root else f"workspace {self.root}: parent"
                    raise ConfigError(f"{what} {p} is a file, not a folder; pass --workspace DIR")
                break
        return self

    def ensure(self) -> "Workspace":
        """Create the root folder (stages create their own subfolders)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self
