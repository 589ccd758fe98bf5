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

A dataset is tied to its inputs the same way: build-dataset records (``input_versions``) the
``_table.json`` version of every workspace table it read (``absent`` for an optional table
that was not there). :func:`current` compares them with the tables as they are now and refuses
a dataset whose inputs were replaced since (``match`` rewrote the links, say), naming the table
and the command that rebuilds it. A table written before tables recorded versions has none:
whether it changed cannot be told, so a dataset built from it is refused too, naming the stage
that rewrites the table. Pairs of the playlist associations record and check the playlist
tables they read the same way (:mod:`discogs_tools.pairs.provenance`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import DiscogsToolsError, MissingInputError
from ..io import table_info, table_version
from ..workspace import Workspace

VERSION_KEY = "dataset_version"
#: ``_table.json`` / ``_pairs.json`` key: {workspace table: its version when read, None when it
#: recorded none, ``ABSENT`` when an optional table was not there}.
INPUTS_KEY = "input_versions"
ABSENT = "absent"
#: The stage that (re)writes each workspace table an artifact may be made from.
PRODUCERS: dict[str, str] = {
    "links/track_releases": "discogs-tools match --against discogs",
    "links/track_playlist_tracks": "discogs-tools match --against playlists",
    "discogs/releases": "discogs-tools ingest discogs",
    "collection/tracks": "discogs-tools ingest collection",
    "playlists/playlist_tracks": "discogs-tools ingest playlists",
    "playlists/tracks": "discogs-tools ingest playlists",
    "playlists/playlists": "discogs-tools ingest playlists",
    "playlists/cooccurrence": "discogs-tools cooccurrence",
}
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
    if INPUTS_KEY not in info:
        raise StaleInputError(
            f"dataset {name} records no versions of the tables it was built from (built before discogs-tools "
            f"recorded them), so it cannot be told whether they changed since: run `{rebuild_command(name)}`")
    problem = changed_input(ws, info[INPUTS_KEY])
    if problem:
        raise StaleInputError(f"dataset {name} {problem} `{rebuild_command(name)}`")
    return DatasetVersion(name=name, version=version, built_at=info.get("committed_at"))


def input_versions(ws: Workspace, tables) -> dict[str, str | None]:
    """The current version of each workspace table in ``tables`` (None: it records none;
    ``ABSENT``: no such table). Recorded by a stage before it reads the tables, so a table
    replaced while it reads shows up as changed afterwards."""
    return {t: (table_version(ws.table(t)) if ws.has_table(t) else ABSENT) for t in tables}


def changed_input(ws: Workspace, recorded: dict[str, str | None], made: str = "was built") -> str | None:
    """None when every table in ``recorded`` (see :func:`input_versions`) is as recorded; else the
    first difference as a clause that follows "dataset N" / "pairs X" and ends in "run" (the
    caller appends the command), e.g. "was built from T version A, which has since been
    replaced (now version B): run"."""
    now = input_versions(ws, list(recorded))
    for table, was in recorded.items():
        is_ = now[table]
        if was is None and is_ is None:
            producer = PRODUCERS.get(table, f"the stage that writes {table}")
            return (f"{made} from {table} of unknown version (written before discogs-tools recorded table "
                    f"versions), so it cannot be told whether it changed since: rewrite it with `{producer}`, "
                    f"then run")
        if was == is_:
            continue
        if is_ == ABSENT:
            return f"{made} from {table} (version {short(was)}), which no longer exists: run"
        if was == ABSENT:
            return f"{made} without {table}, which exists now (version {short(is_)}): run"
        was_s = f"version {short(was)}" if was else "of unknown version"
        return f"{made} from {table} {was_s}, which has since been replaced (now version {short(is_)}): run"
    return None


def write_tracks(ws: Workspace, name: str, tracks, version: str | None = None) -> str:
    """Write ``datasets/<name>/tracks`` (schema ``datasets/tracks``) stamped with a dataset version,
    as build-dataset does: for datasets made by other means (tests, tools, benchmarks) that pairs
    are then drawn from. Returns the version."""
    from ..io import TableWriter

    version = version or new_version()
    with TableWriter(tracks_folder(ws, name), "datasets/tracks") as writer:
        # Made from no workspace table: there is no input whose replacement would make it stale.
        writer.info.update({VERSION_KEY: version, "dataset": name, INPUTS_KEY: {}})
        writer.write(tracks)
    return version
