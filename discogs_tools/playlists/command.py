"""The ``ingest playlists`` and ``word2vec`` commands as plain functions of their options.

Parameters are named after the long options (``--format`` -> ``format``, ``--output`` -> ``output``)
and default as the command line does, so the CLI forwards what it parsed and a declarative pipeline
calls the same function with a stage's options (see discogs_tools.pipeline.options).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

from ..report import Report
from ..workspace import Workspace


def ingest_playlists(
    ws: Workspace,
    inputs: list[Path], *,
    format: str = "auto",  # noqa: A002 - the option's name
    playlist_column: Optional[str] = None,
    track_column: Optional[str] = None,
    position_column: Optional[str] = None,
    title_column: Optional[str] = None,
    artist_column: Optional[str] = None,
    artist_key_column: Optional[str] = None,
    album_column: Optional[str] = None,
    album_key_column: Optional[str] = None,
    duration_column: Optional[str] = None,
    name_column: Optional[str] = None,
    duration_unit: str = "ms",
    delimiter: Optional[str] = None,
    encoding: str = "utf-8",
    id_prefix: str = "",
    workers: Optional[int] = None,
    strict: bool = False,
    checksum: bool = True,
) -> Report:
    """Ingest playlist datasets (``discogs-tools ingest playlists``): a column given as ``none``
    is ignored, one given by name is required; ``\\t`` as delimiter is a tab."""
    from . import ingest
    from .tabular import ColumnSpec

    given = {"playlist": playlist_column, "track": track_column, "position": position_column,
             "title": title_column, "artist": artist_column, "artist_key": artist_key_column,
             "album": album_column, "album_key": album_key_column, "duration": duration_column,
             "name": name_column}
    chosen = {attr: (None if value.lower() == "none" else value) for attr, value in given.items() if value is not None}
    required = tuple(attr for attr, value in chosen.items() if value is not None)
    spec = ColumnSpec(**chosen, duration_unit=duration_unit, required=required)
    if delimiter == "\\t":
        delimiter = "\t"
    return ingest.run(inputs, ws, fmt=format, columns=spec, id_prefix=id_prefix, delimiter=delimiter,
                      workers=workers, strict=strict, checksum=checksum, encoding=encoding)


def word2vec(
    ws: Workspace, *,
    name: str = "playlists",
    output: Optional[Path] = None,
    vector_size: int = 100,
    window: Optional[int] = None,
    epochs: int = 20,
    alpha: float = 0.02,
    min_count: int = 1,
    negative: int = 5,
    sample: float = 0.001,
    skip_gram: bool = False,
    workers: int = 1,
    seed: int = 0,
) -> Report:
    """Train Word2Vec track vectors on the playlists (``discogs-tools word2vec``); one progress
    line per epoch on a terminal."""
    from ..progress import progress_enabled
    from . import word2vec as stage

    params = stage.Word2VecParams(vector_size=vector_size, window=window, epochs=epochs, alpha=alpha,
                                  min_count=min_count, negative=negative, sample=sample, sg=int(skip_gram),
                                  workers=workers, seed=seed)

    def show(entry: dict[str, Any]) -> None:
        if progress_enabled():
            print(f"epoch {entry['epoch']}/{epochs}: loss {entry['loss']:.1f}, {entry['seconds']:.1f} s, "
                  f"{entry['tokens_per_s'] or 0:,.0f} tokens/s", file=sys.stderr)

    return stage.run(ws, name=name, out=output, params=params, on_epoch=show)
