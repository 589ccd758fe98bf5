"""The ``match`` command as a plain function of its options.

Parameters are named after the long options and default as the command line does, so the CLI
forwards what it parsed and a declarative pipeline calls the same function with a stage's
options (see discogs_tools.pipeline.options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..report import Report
from ..workspace import Workspace


def match(
    ws: Workspace, *,
    against: str = "discogs",
    threshold: float = 0.85,
    min_title_sim: float = 0.75,
    min_artist_sim: float = 0.75,
    weight_title: float = 3.0,
    weight_artist: float = 3.0,
    weight_album: float = 0.5,
    weight_duration: float = 2.0,
    duration_tolerance_s: float = 5.0,
    duration_max_s: float = 30.0,
    max_block_size: int = 1000,
    max_candidates: int = 50,
    expand_masters: bool = True,
    chunk_tracks: int = 50_000,
    duration_tolerance_share: float = 0.02,
    duration_max_share: float = 0.1,
    text_fallback: bool = True,
    overrides: Optional[Path] = None,
    rebuild_index: bool = False,
    workers: Optional[int] = None,
    memory_limit: Optional[str] = None,
) -> Report:
    """Link collection tracks to Discogs releases or playlist tracks (``discogs-tools match``);
    ``workers`` None: every core available to this process."""
    from ..cores import workers_or_all
    from . import stage
    from .scoring import MatchConfig

    config = MatchConfig(threshold=threshold, min_title_sim=min_title_sim, min_artist_sim=min_artist_sim,
                         weight_title=weight_title, weight_artist=weight_artist, weight_album=weight_album,
                         weight_duration=weight_duration, duration_tolerance_s=duration_tolerance_s,
                         duration_max_s=duration_max_s, max_block_size=max_block_size,
                         max_candidates=max_candidates, expand_masters=expand_masters,
                         duration_tolerance_share=duration_tolerance_share,
                         duration_max_share=duration_max_share, chunk_tracks=chunk_tracks,
                         text_fallback=text_fallback)
    return stage.run(ws, against, config, rebuild_index=rebuild_index,
                     threads=workers_or_all(workers),
                     memory_limit=memory_limit, overrides=overrides)
