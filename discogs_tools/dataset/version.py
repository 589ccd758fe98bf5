"""The version of a built dataset, and the check that derived artifacts still match it.

``build-dataset`` draws one fresh version id per run and records it (``dataset_version``) in
the ``_table.json`` of each of its tables (see :class:`discogs_tools.io.TableWriter`) and in
``report.json``. ``tracks`` is written last, so its ``_table.json`` is the commit point: the
dataset's version is the ``dataset_version`` recorded there. ``splits`` and ``labels`` must
carry the same id; when they do not, a build was interrupted between two table commits and
the dataset is refused as incomplete.

Artifacts made from a dataset (pairs) record the version they were made from; a rebuild gives
the dataset a new version, so every reader can tell that they are stale and name the command
that remakes them. A dataset built before versions were recorded has none: nothing derived
from it can be checked, so it is refused too, with the command that rebuilds it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import DiscogsToolsError, MissingInputError
from ..io import table_info
from ..workspace import Workspace

VERSION_KEY = "dataset_version"
#: Tables of a dataset in the order build-dataset commits them; ``tracks`` last (commit point).
TABLES: tuple[str, ...] = ("labels", "splits", "tracks")


class StaleInputError(DiscogsToolsError):
    """An input was made from another version of the data it depends on (or records none)."""


@dataclass(frozen=True)
class DatasetVersion:
    """Dataset ``name`` as it is now: its version id and when that build committed."""

    name: str
    version: str
    built_at: str | None

    @property
    def short(self) -> str:
        return short(self.version)


def short(version: str | None) -> str:
    """A version id as shown in messages (first 12 hex digits)."""
    return (version or "?")[:12]


def new_version() -> str:
    """A fresh dataset version id (one per build-dataset run)."""
    return uuid.uuid4().hex


def rebuild_command(name: str) -> str:
    return f"discogs-tools build-dataset --name {name}"


def tracks_folder(ws: Workspace, name: str) -> Path:
    return ws.dataset(name) / "tracks"


def peek(ws: Workspace, name: str) -> str | None:
    """The recorded version of dataset ``name``'s tracks, or None (no dataset, or none recorded).
    Cheap: one small JSON file. Used to notice a rebuild while a stage reads the dataset."""
    info = table_info(tracks_folder(ws, name))
    return info.get(VERSION_KEY) if info else None


def current(ws: Workspace, name: str) -> DatasetVersion:
    """The version of dataset ``name``; raises when there is no dataset, when it records no
    version, or when its tables come from different builds (each with the command to run)."""
    folder = tracks_folder(ws, name)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise MissingInputError(f"dataset {name} tracks", folder, rebuild_command(name))
    info = table_info(folder) or {}
    version = info.get(VERSION_KEY)
    if not version:
        raise StaleInputError(
            f"dataset {name} has no recorded version (built before discogs-tools recorded one), so what was "
            f"made from it cannot be checked: run `{rebuild_command(name)}` to rebuild it")
    for table in TABLES:
        if table == "tracks":
            continue
        other_folder = ws.dataset(name) / table
        if not other_folder.exists():
            continue  # a dataset written by hand (tests, tools) may hold tracks only
        other = (table_info(other_folder) or {}).get(VERSION_KEY)
        if other != version:
            raise StaleInputError(
                f"dataset {name} is incomplete: its tracks are from build {short(version)} "
                f"({info.get('committed_at', '?')}) but its {table} from build {short(other)} "
                f"(a build-dataset run was interrupted): run `{rebuild_command(name)}` again")
    return DatasetVersion(name=name, version=version, built_at=info.get("committed_at"))


def write_tracks(ws: Workspace, name: str, tracks, version: str | None = None) -> str:
    """Write ``datasets/<name>/tracks`` (schema ``datasets/tracks``) stamped with a dataset version,
    as build-dataset does: for datasets made by other means (tests, tools, benchmarks) that pairs
    are then drawn from. Returns the version."""
    from ..io import TableWriter

    version = version or new_version()
    with TableWriter(tracks_folder(ws, name), "datasets/tracks") as writer:
        writer.info.update({VERSION_KEY: version, "dataset": name})
        writer.write(tracks)
    return version
