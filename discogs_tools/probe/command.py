"""The ``probe`` command as a plain function of its options.

Parameters are named after the long options (``--lr`` -> ``lr``, ``--workers`` -> ``workers``) and
default as the command line does, so the CLI forwards what it parsed and a declarative pipeline
calls the same function with a stage's options (see discogs_tools.pipeline.options).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from ..report import Report
from ..workspace import Workspace


def probe(
    ws: Workspace,
    dataset: Path, *,
    model: list[str],
    name: Optional[str] = None,
    task: Optional[str] = None,
    features: Optional[str] = None,
    kind: str = "auto",
    label_column: Optional[str] = None,
    separator: str = ",",
    allow_empty_labels: bool = False,
    split: str = "0.7,0.1,0.2",
    seeds: int = 3,
    seed: int = 0,
    protocol: str = "mean-embedding",
    epochs: Optional[int] = None,
    hidden: Optional[int] = None,
    batch_size: Optional[int] = None,
    lr: Optional[float] = None,
    weight_decay: Optional[float] = None,
    patience: Optional[int] = None,
    dropout: Optional[float] = None,
    standardize: Optional[bool] = None,
    crop_hop: Optional[int] = None,
    grid_search: bool = False,
    from_scratch: bool = False,
    few_shot: Optional[int] = None,
    few_shot_trials: int = 3,
    test_collection: Optional[Path] = None,
    class_map: Optional[Path] = None,
    stack_search: Optional[int] = None,
    workers: int = 1,
    baseline: bool = True,
    baseline_embeddings: Optional[list[Path]] = None,
    skip_invalid: bool = False,
    plot: bool = True,
) -> Report:
    """Score embeddings on a downstream task with an MLP probe (``discogs-tools probe``); with
    ``stack_search`` every stack of 2..K of the models, ranked."""
    from .datasets import DatasetOptions
    from .protocols import get as get_protocol
    from .run import run

    try:
        fractions = tuple(float(v) for v in split.split(","))
    except ValueError:
        raise ConfigError(f"--split takes three comma-separated fractions, got {split!r}") from None
    if stack_search is not None:
        from .stacks import stack_search as search_stacks

        probe_with = partial(search_stacks, max_size=stack_search)
    else:
        probe_with = run
    return probe_with(
        dataset, workspace=ws, models=model, name=name, task=task, features=features,
        options=DatasetOptions(kind=kind, label_column=label_column, separator=separator,
                               allow_empty_labels=allow_empty_labels, fractions=fractions),  # type: ignore[arg-type]
        config=get_protocol(protocol).config(hidden=hidden, epochs=epochs, learning_rate=lr,
                                             weight_decay=weight_decay, batch_size=batch_size,
                                             plateau_patience=patience, dropout=dropout, standardize=standardize,
                                             threads=workers),
        protocol=protocol, crop_hop=crop_hop, from_scratch=from_scratch, grid_search=grid_search,
        shots=few_shot, few_shot_trials=few_shot_trials, test_collection=test_collection, class_map=class_map,
        seed=seed, seeds=seeds, baseline=baseline, baseline_embeddings=baseline_embeddings or (),
        skip_invalid=skip_invalid, plot=plot,
    )
