"""Locate the data folders shipped with the project (schemas/, sql/, pipelines/).

In a source checkout or an editable install they are the top-level folders of the
repository; in a wheel they are bundled under ``discogs_tools/_resources/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Path of a shipped folder: ``schemas``, ``sql`` or ``pipelines``."""
    for candidate in (_PACKAGE_DIR / "_resources" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped folder {name!r} not found next to {_PACKAGE_DIR}")


def sample_data_dir() -> Path:
    """Bundled sample data (real Discogs dump excerpts, CC0; see sample_data/discogs/SOURCES.md)."""
    return _PACKAGE_DIR / "sample_data"
