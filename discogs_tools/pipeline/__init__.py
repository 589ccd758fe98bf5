"""Declarative pipelines: TOML files in pipelines/ that list stages as CLI commands.

See :mod:`discogs_tools.pipeline.config` for the file format and
:mod:`discogs_tools.pipeline.runner` for execution (skipping stages that are up to date).
"""

from .config import Pipeline, Stage, load_pipeline
from .runner import run_pipeline

__all__ = ["Pipeline", "Stage", "load_pipeline", "run_pipeline"]
