"""``build-dataset``: per-track Discogs entities, master-level style labels and artist-filtered
splits (Discogs20 recipe, DESIGN section 5). Entry point: :func:`discogs_tools.dataset.build.run`."""

from __future__ import annotations

from .build import DEFAULT_NAME, run

__all__ = ["DEFAULT_NAME", "run"]
