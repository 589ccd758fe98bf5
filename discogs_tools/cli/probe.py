"""``discogs-tools probe`` and ``discogs-tools probe-compare`` (see discogs_tools.probe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .common import SeedOption, WorkspaceOption, app, handle_errors, print_report, workspace


@app.command("probe")
@handle_errors
def probe(
    dataset: Annotated[Path, typer.Argument(help="Downstream dataset manifest (CSV, TSV, JSONL or Parquet): "
                                             "track_id (or path) + labels / label (+ split), or anchor, positive, "
                                             "negative (+ split).")],
    model: Annotated[List[str], typer.Option("--model", "-m", help="Embedding Parquet file, run name/folder or "
                                             "checkpoint; repeat to stack (concatenated in the order given).")],
    name: Annotated[Optional[str], typer.Option(help="Results go to runs/<name>/probe/ (default: the models' "
                                                "names joined by '+').")] = None,
    task: Annotated[Optional[str], typer.Option(help="Task name (default: the manifest's file name).")] = None,
    features: Annotated[Optional[str], typer.Option(help="Feature set to embed runs/checkpoints from (name under "
                                                    "workspace/features or a path) (default: the run's).")] = None,
    kind: Annotated[str, typer.Option(help="auto, multilabel, multiclass or triplets.")] = "auto",
    label_column: Annotated[Optional[str], typer.Option(help="Label column (default: labels, tags or label).")] = None,
    separator: Annotated[str, typer.Option(help="Separator of multi-label labels given as one string.")] = ",",
    allow_empty_labels: Annotated[bool, typer.Option(help="Keep multi-label tracks without labels (negatives "
                                                      "for every class) instead of treating them as bad.")] = False,
    split: Annotated[str, typer.Option(help="Train/validation/test fractions when the manifest has no split "
                                       "column.")] = "0.7,0.1,0.2",
    seeds: Annotated[int, typer.Option(help="Number of probe seeds (seed, seed+1, ...): mean and std.")] = 3,
    seed: SeedOption = 0,
    protocol: Annotated[str, typer.Option(help="How the probe is trained: mean-embedding (default: per-track mean "
                                          "embeddings, selection on the validation score), ismir2022 (random "
                                          "patches of the frozen backbone, seed 000 sec. 4.4), maest (seed 004 "
                                          "sec. 6.3.3), icassp2023-finetune (the backbone fine-tuned, seed 004 "
                                          "sec. 5.3.5) or 5-fold (stratified cross-validation of a multi-class "
                                          "task, seed 004 sec. 3.2.2). See docs/probe.md.")] = "mean-embedding",
    epochs: Annotated[Optional[int], typer.Option(help="Probe training epochs (default: the protocol's; 30, "
                                                 "icassp2023-finetune at most 50).")] = None,
    hidden: Annotated[Optional[int], typer.Option(help="Hidden units of the MLP probe (default: the protocol's; 512, "
                                                "icassp2023-finetune 128).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Probe batch size (default: the protocol's; 256, "
                                                      "maest 128, icassp2023-finetune 64).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Adam learning rate (maest and "
                                                           "icassp2023-finetune: the maximum) (default 1e-3; "
                                                           "icassp2023-finetune 1e-4).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Adam weight decay (default: the protocol's; "
                                                          "1e-5, maest 1e-3).")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Plateau patience as PyTorch counts it: the rate is "
                                                    "halved after patience + 1 epochs without improvement (default: "
                                                    "the protocol's; 3, ismir2022 4 = halved after 5).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout after the hidden layer (default: the "
                                                     "protocol's; 0, maest 0.5).")] = None,
    standardize: Annotated[Optional[bool], typer.Option(help="Standardise the MLP inputs with train statistics "
                                                        "(default on).")] = None,
    crop_hop: Annotated[Optional[int], typer.Option(help="ismir2022: grid step in frames of the random training "
                                                    "patches (divides 64; default 64).")] = None,
    grid_search: Annotated[bool, typer.Option(help="maest: try the 144 settings of seed 004 sec. 6.3.3 (batch, "
                                              "epochs, dropout, maximum rate) with the first seed, keep the one of "
                                              "the best validation ROC-AUC.")] = False,
    from_scratch: Annotated[bool, typer.Option(help="icassp2023-finetune: fine-tune a random initialisation of the "
                                               "backbone (the From Scratch baseline).")] = False,
    few_shot: Annotated[Optional[int], typer.Option(help="5-fold: keep N train examples per class in each fold "
                                                    "(seed 004 sec. 3.3.5 uses 1, 5, 10, 30); the test split is "
                                                    "whole.", metavar="N")] = None,
    few_shot_trials: Annotated[int, typer.Option(help="5-fold --few-shot: draws of the N examples per fold "
                                                 "(seed 004 sec. 3.3.5: 3).")] = 3,
    test_collection: Annotated[Optional[Path], typer.Option(help="5-fold: cross-collection evaluation (seed 004 "
                                                            "sec. 3.2.3): train on 80/20 train/validation of the "
                                                            "dataset, test on this labelled manifest.")] = None,
    class_map: Annotated[Optional[Path], typer.Option(help="--test-collection: table with columns source (its "
                                                      "label) and target (a class); direct matches need no row.")] = None,
    stack_search: Annotated[Optional[int], typer.Option(help="Probe every combination of 2..K of the -m models "
                                                        "as stacks (seed 000 sec. 4.5, Table 4), one result per "
                                                        "combination, and rank them in runs/<name>/probe/"
                                                        "<task>-stacks.json/.md (name default stacks-<models>).",
                                                        metavar="K")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="CPU threads used to train the probe (default 1: "
                                         "the MLP is small, one thread is as fast as several contending ones, and "
                                         "results do not depend on the machine's core count).")] = 1,
    baseline: Annotated[bool, typer.Option(help="Also probe a random-weight backbone of the same architecture "
                                           "(needs runs/checkpoints, or --baseline-embeddings).")] = True,
    baseline_embeddings: Annotated[Optional[List[Path]], typer.Option(
        help="Embeddings of a random-weight backbone (from `discogs-tools embed`); repeat to stack.")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Count bad records (labels missing, no embedding, unknown "
                                               "class, ...) into rejects/probe/ instead of failing.")] = False,
    plot: Annotated[bool, typer.Option(help="Write the per-class PNG plot.")] = True,
    ws: WorkspaceOption = None,
) -> None:
    """Score frozen embeddings on a downstream task with an MLP probe (several seeds, random-weight baseline)."""
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    from ..probe.command import probe as probe_step
    from ..probe.compare import build

    report = probe_step(workspace(options.pop("ws")), **options)
    print_report(report)
    typer.echo("")
    if stack_search is not None:
        typer.echo(Path(report.outputs["table"]).read_text(encoding="utf-8"))
        return
    typer.echo(build([report.outputs["results"]], workspace(ws)).render("text"))


@app.command("probe-compare")
@handle_errors
def probe_compare(
    runs: Annotated[List[str], typer.Argument(help="Runs (names or folders) or probe results JSON files.")],
    task: Annotated[Optional[List[str]], typer.Option("--task", "-t", help="Only these tasks (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, markdown or csv.")] = "text",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the table to this file.")] = None,
    baselines: Annotated[bool, typer.Option(help="Show the baseline rows (random-weight backbones).")] = True,
    percent: Annotated[bool, typer.Option(help="Scores in percent (as in the papers' tables).")] = False,
    table3: Annotated[Optional[Path], typer.Option(help="Write the seed 000 Table 3 layout (benchmarks in its "
                                                   "order, percent) to PREFIX.md, PREFIX.csv and PREFIX.png.",
                                                   metavar="PREFIX")] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Put several runs' probe results side by side (rows = models, columns = tasks and metrics)."""
    from ..io import write_text_atomic
    from ..probe.compare import build

    if table3 is not None:
        from ..probe import table3 as t3

        table3_table = t3.build(runs, workspace(ws), tasks=task or (), baselines=baselines)
        typer.echo(table3_table.render("markdown" if fmt == "text" else fmt))
        for path in t3.write(table3_table, table3).values():
            typer.echo(f"-> {path}", err=True)
        return
    table = build(runs, workspace(ws), tasks=task or (), baselines=baselines, percent=percent)
    text = table.render(fmt)
    typer.echo(text)
    if output is not None:
        write_text_atomic(output, text + "\n")
        typer.echo(f"-> {output}", err=True)


@app.command("probe-retrieval")
@handle_errors
def probe_retrieval(
    model: Annotated[List[str], typer.Option("--model", "-m", help="Embedding Parquet file, run name/folder or "
                                             "checkpoint; repeat to stack (concatenated in the order given).")],
    k: Annotated[int, typer.Option("-k", help="Neighbours per query track.")] = 10,
    max_queries: Annotated[int, typer.Option(help="Query tracks per association (a seeded sample when more "
                                             "tracks have a value).")] = 2000,
    name: Annotated[Optional[str], typer.Option(help="Results go to runs/<name>/probe/collection-retrieval.json "
                                                "(default: the models' names joined by '+').")] = None,
    features: Annotated[Optional[str], typer.Option(help="Feature set to embed runs/checkpoints from (default: "
                                                    "the run's).")] = None,
    baseline: Annotated[bool, typer.Option(help="Also score the random-weight twin (runs/checkpoints).")] = True,
    seed: SeedOption = 0,
    ws: WorkspaceOption = None,
) -> None:
    """Precision@k that a track's nearest neighbours in the collection share its artist, release, label, style or
    playlist, for the model and its random-weight twin (a probe result probe-compare shows)."""
    from ..probe.retrieval import run as run_retrieval

    print_report(run_retrieval(workspace(ws), model, name=name, features=features, k=k, max_queries=max_queries,
                               seed=seed, baseline=baseline))
