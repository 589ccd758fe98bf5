"""Private scratch folders of the playlist stages, collected after a kill.

``ingest playlists`` stages tabular entries and DuckDB spill files in a scratch folder, and
``cooccurrence`` keeps its memory-mapped matrices in one. A ``kill -9`` (or a power cut) skips
every cleanup, so the folder is named like every other staging path of the toolkit,
``.<name>.tmp-<pid>-<random>`` (:func:`discogs_tools.io._temp_sibling`): the next run of the
stage removes the folders whose owner process is gone (:func:`discogs_tools.io.remove_dead_staging`)
and leaves a live concurrent run's folder alone.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..io import _temp_sibling, remove_dead_staging


@contextmanager
def scratch_dir(root: str | Path, name: str) -> Iterator[Path]:
    """Create ``root/.<name>.tmp-<pid>-<random>`` for the ``with`` block and remove it afterwards,
    whatever happens; dead runs' leftovers of the same ``name`` are removed first."""
    target = Path(root) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(target)
    folder = _temp_sibling(target)
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
