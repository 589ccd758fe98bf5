"""User overrides: links the user forces or forbids, applied on every rerun of ``match``.

Like answering beets' prompts once: a CSV with columns ``track_id``, ``ref_id`` (a Discogs
release id, or a playlist track key; ``release_id`` / ``track_key`` are accepted as its name)
and ``action`` (``force`` or ``forbid``). ``match --overrides FILE`` keeps a copy in
``tables/match/<source>_overrides.csv``; later runs apply that copy without the option, so a
correction survives reruns and index rebuilds (pass a new file to change it).

- ``force``: the track is linked to the reference (method ``override``, whatever the score,
  which is still computed and reported). For Discogs,
  the release's track whose title is most similar gives the position and the recording, so the
  recording's other releases are scored as usual.
- ``forbid``: the link is removed, also when master expansion would add it.

Ids that name no collection track or no reference row are listed in the report (not fatal);
rows with another action or without ids are errors naming the line.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import atomic_path

ACTIONS = ("force", "forbid")
REF_COLUMNS = ("ref_id", "release_id", "track_key")


@dataclass
class Overrides:
    """Forced and forbidden (track_id, ref_id) pairs; ref ids as text."""

    source: str | None = None
    forced: dict[str, list[str]] = field(default_factory=dict)
    forbidden: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.forced or self.forbidden)

    def pairs(self) -> list[tuple[str, str, str]]:
        """Every (track_id, ref_id, action), in a stable order."""
        out = [(t, r, "force") for t, refs in self.forced.items() for r in refs]
        out += [(t, r, "forbid") for t, r in self.forbidden]
        return sorted(out)


def read(path: Path) -> Overrides:
    """Parse an overrides CSV (see the module docstring)."""
    out = Overrides(source=str(path))
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            ref_col = next((c for c in REF_COLUMNS if c in columns), None)
            if "track_id" not in columns or ref_col is None or "action" not in columns:
                raise InputError(path, "overrides need columns track_id, ref_id (or release_id / track_key) and "
                                       f"action (has: {', '.join(columns) or 'none'})")
            for row in reader:
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                track, ref, action = row.get("track_id"), row.get(ref_col), row.get("action", "").lower()
                if not track or not ref:
                    raise InputError(path, "track_id and ref_id must not be empty", line=reader.line_num)
                if action not in ACTIONS:
                    raise InputError(path, f"action must be force or forbid, got {action!r}", line=reader.line_num)
                if action == "force":
                    refs = out.forced.setdefault(track, [])
                    if ref not in refs:
                        refs.append(ref)
                else:
                    out.forbidden.add((track, ref))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not valid UTF-8 ({exc.reason}); save the overrides as UTF-8") from None
    clash = {(t, r) for t, refs in out.forced.items() for r in refs} & out.forbidden
    if clash:
        t, r = min(clash)
        raise InputError(path, f"track {t!r} is both forced and forbidden for {r!r}")
    return out


def stored_path(tables: Path, prefix: str) -> Path:
    return tables / "match" / f"{prefix}_overrides.csv"


def load(tables: Path, prefix: str, given: Path | None) -> Overrides:
    """The overrides to apply: ``given`` (then kept as the stored copy), else the stored copy, else none."""
    stored = stored_path(tables, prefix)
    if given is not None:
        if not given.is_file():
            raise InputError(given, "overrides file not found")
        overrides = read(given)
        stored.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(stored) as tmp:
            shutil.copyfile(given, tmp)
        return overrides
    if stored.is_file():
        return read(stored)
    return Overrides()


def report(overrides: Overrides, applied: dict[str, int], unknown_tracks: list[str],
           unknown_refs: list[str]) -> dict[str, Any]:
    """What the report says about the overrides: counts, what was applied, unknown ids."""
    return {"file": overrides.source, "forced": sum(len(v) for v in overrides.forced.values()),
            "forbidden": len(overrides.forbidden), **applied,
            "unknown_track_ids": unknown_tracks[:100], "unknown_ref_ids": unknown_refs[:100]}
