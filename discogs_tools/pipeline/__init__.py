"""Declarative pipelines: TOML files in pipelines/ that list stages as discogs-tools commands.

See :mod:`discogs_tools.pipeline.config` for the file format, :mod:`discogs_tools.pipeline.runner`
for execution (skipping stages that are up to date), :mod:`discogs_tools.pipeline.steps` for the
library function each command runs and :mod:`discogs_tools.pipeline.options` for how a stage's
options are checked. This package does not use the command line layer (discogs_tools.cli).
"""

from .config import Pipeline, Stage, load_pipeline
from .runner import run_pipeline

__all__ = ["Pipeline", "Stage", "load_pipeline", "run_pipeline"]
