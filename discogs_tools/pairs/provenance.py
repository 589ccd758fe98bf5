"""What a pairs folder was made from, and the check every reader makes before using it.

A make-pairs run writes ``datasets/<name>/pairs/<association>/<split>.parquet/`` as a whole:
its epoch files and ``_pairs.json`` (this module) are staged together and renamed into place
in one step, so the folder always holds exactly one run. ``_pairs.json`` records the dataset
version the pairs were drawn from (:mod:`discogs_tools.dataset.version`), the run's seed,
epochs, files and Table-1 statistics; each epoch file also carries the dataset version in its
Parquet metadata (``discogs_tools.dataset_version``).

:func:`check` is what validate-pairs and the trainer call: it refuses pairs whose dataset was
rebuilt since (or whose dataset's own inputs were replaced, see
:func:`discogs_tools.dataset.version.current`), pairs that record no version (made before
versions were recorded: they may hold tracks of other splits, nobody can tell), epoch files
the recorded run did not write, and pairs of a playlist association whose playlist tables
(``input_versions``: the association module's ``INPUT_TABLES``) were replaced since. Each
refusal is one line naming the command that remakes the pairs.

A run that starts at an epoch above 0 keeps the stored epochs of an earlier run made from
the same dataset version, inputs, seed and parameters (:func:`kept_epochs`; users draw epochs
in batches) and vouches for them in its own ``_pairs.json``; any other earlier run is refused
with what differs and the command that redraws from epoch 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..dataset.version import (
    INPUTS_KEY,
    VERSION_KEY,
    StaleInputError,
    changed_input,
    current,
    short,
)
from ..errors import ConfigError, MissingInputError
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
    tables = _input_tables(association)
    if tables:
        if not isinstance(info.get(INPUTS_KEY), dict):
            raise StalePairsError(
                f"{what} of dataset {dataset} record no versions of the playlist tables they were drawn from "
                f"(made before discogs-tools recorded them): run `{cmd}`")
        problem = changed_input(ws, info[INPUTS_KEY], made="were made")
        if problem:
            raise StalePairsError(f"{what} of dataset {dataset} {problem} `{cmd}`")
    found, recorded = epoch_files(folder), sorted(info.get("files") or [])
    if found != recorded:
        odd = sorted(set(found) ^ set(recorded))
        raise StalePairsError(
            f"{what}: {folder} does not hold exactly the epoch files its make-pairs run wrote "
            f"({', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} added or removed by hand): run `{cmd}`")
    return info


def _input_tables(association: str) -> tuple[str, ...]:
    from . import registry

    try:
        return tuple(getattr(registry.get(association), "INPUT_TABLES", ()))
    except ConfigError:  # an unknown association name is the caller's error to report
        return ()


#: ``_pairs.json`` fields two runs must agree on for one to keep the other's epochs.
SAME_RUN_KEYS: tuple[str, ...] = (VERSION_KEY, INPUTS_KEY, "seed", "top", "table_batch", "word2vec", "similarity")


def kept_epochs(ws: Workspace, dataset: str, association: str, split: str, folder: Path, first_epoch: int,
                new_epochs: list[int], params: dict[str, Any]) -> tuple[dict[str, Any] | None, list[int]]:
    """(the stored run's ``_pairs.json``, the epochs of it a run drawing ``new_epochs`` keeps).

    Epoch 0: nothing is kept (the run replaces the folder). Above 0: with no stored pairs, or
    none but those the run redraws, nothing is kept; stored pairs that pass :func:`check` and agree with ``params`` on
    :data:`SAME_RUN_KEYS` keep every stored epoch the run does not redraw; any other stored pairs
    are refused (:class:`StalePairsError`, one line naming what differs and the command that
    redraws from epoch 0)."""
    folder = Path(folder)
    if first_epoch <= 0 or not folder.exists():
        return None, []
    stored = {int(e) for e in (read_info(folder) or {}).get("epochs") or []} | set(_file_epochs(folder))
    if not stored - set(new_epochs):
        return None, []  # the run redraws every stored epoch: a plain replace
    last = max(new_epochs)
    redraw = f"discogs-tools make-pairs --dataset {dataset} --association {association} --split {split}"
    if last > 0:
        redraw += f" --epochs {last + 1}"
    if params.get("seed"):
        redraw += f" --seed {params['seed']}"
    start = f"make-pairs --epoch {first_epoch}: cannot add to the stored pairs {association}/{split} of dataset {dataset}"
    try:
        info = check(ws, dataset, association, split, folder)
    except StalePairsError as exc:
        raise StalePairsError(f"{start}: {exc}; to redraw every epoch from 0 run `{redraw}`") from None
    differs = [key for key in SAME_RUN_KEYS if info.get(key) != params.get(key)]
    if differs:
        shown = "; ".join(f"{key} {_show(info.get(key))} stored, {_show(params.get(key))} now" for key in differs)
        raise StalePairsError(f"{start}: they were made with other settings ({shown}); to redraw every epoch "
                              f"from 0 with these settings run `{redraw}`")
    keep = sorted(int(e) for e in info.get("epochs") or [] if int(e) not in set(new_epochs))
    return info, keep


def _file_epochs(folder: Path) -> list[int]:
    out = []
    for name in epoch_files(folder):
        try:
            out.append(int(name[len("epoch-"):-len(".parquet")]))
        except ValueError:
            out.append(-1)  # an odd name: not one of the run's epochs
    return out


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 32:
        return short(value)  # a version id
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)
