"""What a pairs folder was made from, and the check every reader makes before using it.

A make-pairs run writes ``datasets/<name>/pairs/<association>/<split>.parquet/`` as a whole:
its epoch files and ``_pairs.json`` (this module) are staged together and renamed into place
in one step, so the folder always holds exactly one run. ``_pairs.json`` records the dataset
version the pairs were drawn from (:mod:`discogs_tools.dataset.version`), the run's seed,
epochs, files and Table-1 statistics; each epoch file also carries the dataset version in its
Parquet metadata (``discogs_tools.dataset_version``).

:func:`check` is what validate-pairs and the trainer call: it refuses pairs whose dataset was
rebuilt since, pairs that record no version (made before versions were recorded: they may
hold tracks of other splits, nobody can tell), and epoch files the recorded run did not
write. Each refusal is one line naming the command that remakes the pairs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..dataset.version import VERSION_KEY, StaleInputError, current, short
from ..errors import MissingInputError
from ..workspace import Workspace

INFO = "_pairs.json"
#: Parquet schema metadata key of every epoch file.
FILE_VERSION_KEY = b"discogs_tools.dataset_version"


class StalePairsError(StaleInputError):
    """Pairs that do not belong to the dataset as it is now."""


def make_command(dataset: str, association: str, split: str, info: dict[str, Any] | None = None) -> str:
    """The make-pairs command line that remakes these pairs (with the recorded run's epochs and seed)."""
    cmd = f"discogs-tools make-pairs --dataset {dataset} --association {association} --split {split}"
    if info:
        epochs = info.get("epochs") or []
        if epochs and epochs[0] != 0:
            cmd += f" --epoch {epochs[0]}"
        if len(epochs) > 1:
            cmd += f" --epochs {len(epochs)}"
        if info.get("seed"):
            cmd += f" --seed {info['seed']}"
    return cmd


def read_info(folder: Path) -> dict[str, Any] | None:
    """The ``_pairs.json`` of a pairs folder, or None (no folder, a plain file, none recorded)."""
    try:
        return json.loads((Path(folder) / INFO).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def write_info(folder: Path, info: dict[str, Any]) -> None:
    """Write ``_pairs.json`` into a (staging) folder; it becomes visible with the folder's rename."""
    (Path(folder) / INFO).write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")


def epoch_files(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).glob("epoch-*.parquet"))


def check(ws: Workspace, dataset: str, association: str, split: str, folder: Path) -> dict[str, Any]:
    """The ``_pairs.json`` of ``folder`` when its pairs belong to dataset ``dataset`` as it is now;
    else raise (:class:`MissingInputError` without pairs, :class:`StalePairsError` when stale)."""
    what = f"pairs {association}/{split}"
    folder = Path(folder)
    if not folder.exists():
        raise MissingInputError(what, folder, make_command(dataset, association, split))
    info = read_info(folder)
    if not info or not info.get(VERSION_KEY):
        raise StalePairsError(
            f"{what} of dataset {dataset} record no dataset version (made before discogs-tools tied pairs to "
            f"their dataset), so they may hold tracks of other splits: run `{make_command(dataset, association, split)}`")
    cmd = make_command(dataset, association, split, info)
    now = current(ws, dataset)
    if info[VERSION_KEY] != now.version:
        raise StalePairsError(
            f"{what} were made from dataset {dataset} version {short(info[VERSION_KEY])} "
            f"(built at {info.get('dataset_built_at') or '?'}), the dataset is now version {now.short} "
            f"(rebuilt at {now.built_at or '?'}): run `{cmd}`")
    if (info.get("association"), info.get("split")) != (association, split):
        raise StalePairsError(f"{what}: {folder} holds pairs of {info.get('association')}/{info.get('split')} "
                              f"(moved by hand?): run `{cmd}`")
    found, recorded = epoch_files(folder), sorted(info.get("files") or [])
    if found != recorded:
        odd = sorted(set(found) ^ set(recorded))
        raise StalePairsError(
            f"{what}: {folder} does not hold exactly the epoch files its make-pairs run wrote "
            f"({', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} added or removed by hand): run `{cmd}`")
    return info
