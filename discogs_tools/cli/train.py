"""``discogs-tools train`` and ``discogs-tools embed`` (see discogs_tools.train)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import SeedOption, WorkspaceOption, app, handle_errors, print_report, workspace


@app.command("train")
@handle_errors
def train_command(
    run: Annotated[str, typer.Option("--run", help="Run name: runs/<run>/.")],
    features: Annotated[str, typer.Option("--features", help="Feature set name (features/<name>/) or path.")] = "default",
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Dataset whose pairs / styles to train on.")] = None,
    objective: Annotated[str, typer.Option("--objective", help="cola | simclr | multitask | w2v | ico | classification.")] = "cola",
    association: Annotated[list[str], typer.Option("--association", "-a", help="Association(s) to train on (repeat for multitask).")] = ["release"],  # noqa: B006
    task_weights: Annotated[Optional[str], typer.Option("--task-weights", help="Multitask weights, comma-separated, one per association.")] = None,
    backbone: Annotated[str, typer.Option("--backbone", help="efficientnet_b0 | small_cnn.")] = "efficientnet_b0",
    cnn_width: Annotated[int, typer.Option("--cnn-width", help="small_cnn first-block channels.")] = 32,
    epochs: Annotated[int, typer.Option("--epochs")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    patience: Annotated[int, typer.Option("--plateau-patience", help="ReduceLROnPlateau patience (epochs).")] = 2,
    swa_start: Annotated[Optional[int], typer.Option("--swa-start", help="Average weights from this epoch on (SWA).")] = None,
    w2v_vectors: Annotated[Optional[str], typer.Option("--w2v-vectors", help="Parquet (track_key|track_id, vector) for objective w2v.")] = None,
    top_styles: Annotated[int, typer.Option("--top-styles", help="Style vocabulary size (classification).")] = 400,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps-per-epoch")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")] = "auto",
    no_amp: Annotated[bool, typer.Option("--no-amp", help="Disable mixed precision on GPU.")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail when pairs involve tracks without features.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run from its last checkpoint.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Start the run over, deleting its folder.")] = False,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Initialise the backbone from a run or checkpoint.")] = None,
    seed: SeedOption = 0,
    ws: WorkspaceOption = None,
) -> None:
    """Train a backbone on pairs (COLA, SimCLR, multi-task, Word2Vec, ICO) or styles; several GPUs via torchrun."""
    from ..errors import ConfigError
    from ..train.config import TrainConfig
    from ..train.loop import run as train

    try:
        weights = tuple(float(w) for w in task_weights.split(",")) if task_weights else ()
    except ValueError:
        raise ConfigError(f"--task-weights must be numbers separated by commas, got {task_weights!r}") from None
    cfg = TrainConfig(run=run, features=features, dataset=dataset, objective=objective,
                      associations=tuple(association) if objective != "classification" else (),
                      task_weights=weights, backbone=backbone, cnn_width=cnn_width, epochs=epochs,
                      batch_size=batch_size, lr=lr, plateau_patience=patience, swa_start=swa_start,
                      w2v_vectors=w2v_vectors, top_styles=top_styles, max_steps_per_epoch=max_steps, seed=seed,
                      strict=strict, device=device, amp=not no_amp, channels_last=channels_last)
    print_report(train(workspace(ws).ensure(), cfg, resume=resume, force=force, init_from=init_from))


@app.command("embed")
@handle_errors
def embed_command(
    checkpoint: Annotated[str, typer.Option("--checkpoint", "-c", help="Run name or checkpoint file.")],
    which: Annotated[str, typer.Option("--which", help="With a run name: best | last | swa.")] = "best",
    features: Annotated[Optional[str], typer.Option("--features", help="Feature set [default: the run's].")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only the tracks of this dataset.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Only this split of --dataset.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output table folder [default: runs/<run>/embeddings/...].")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Patches per forward pass.")] = 64,
    device: Annotated[str, typer.Option("--device")] = "auto",
    ws: WorkspaceOption = None,
) -> None:
    """Write track embeddings (mean over half-overlapping 128-frame patches) as Parquet: track_id, embedding."""
    from ..train.embed import run as embed

    print_report(embed(workspace(ws).ensure(), checkpoint, features=features, output=output, dataset=dataset,
                       split=split, which=which, batch_size=batch_size, device=device))
