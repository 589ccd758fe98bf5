"""``discogs-tools train`` and ``discogs-tools embed`` (see discogs_tools.train)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..train import command as steps
from ..train.config import (
    BACKBONES,
    OBJECTIVES,
    SCHEDULES,
    SIMCLR_AUGMENTS,
)
from .common import (
    SeedOption,
    WorkspaceOption,
    app,
    handle_errors,
    print_report,
    workspace,
)

# The trainer's defaults, read from TrainConfig itself so that the CLI cannot drift from it.
_D = steps.DEFAULTS
_pair = steps.joined


@app.command("train")
@handle_errors
def train_command(
    run: Annotated[str, typer.Option("--run", help="Run name: runs/<run>/.")],
    features: Annotated[str, typer.Option("--features", help="Feature set name (features/<name>/) or path.")] = "default",
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset whose pairs / styles to train on (as make-pairs and build-dataset).")] = "discogs20",
    objective: Annotated[str, typer.Option("--objective", help=" | ".join(OBJECTIVES) + ".")] = _D["objective"],
    association: Annotated[list[str], typer.Option("--association", "-a", help="Association(s) to train on (repeat for multitask).")] = ["release"],  # noqa: B006
    task_weights: Annotated[Optional[str], typer.Option("--task-weights", help="Multitask loss weights, comma-separated, one per association (default: track 0.1, release 0.15, artist 0.6, label 0.15; seed 000 sec. 4.6).")] = None,
    batch_shares: Annotated[Optional[str], typer.Option("--batch-shares", help="Pairs per association in each batch, comma-separated, adding up to --batch-size (ISMIR multi-task: 50,50,50,50; default: equal shares).")] = None,
    backbone: Annotated[str, typer.Option("--backbone", help=" | ".join(BACKBONES) + ".")] = _D["backbone"],
    cnn_width: Annotated[int, typer.Option("--cnn-width", help="small_cnn first-block channels.")] = _D["cnn_width"],
    embedding_head: Annotated[str, typer.Option("--embedding-head", help="pool (global average) | flatten_fc (fully-connected layer on the flattened last map; ISMIR: 1280 units, seed 000 sec. 4.2).")] = _D["embedding_head"],
    embedding_dim: Annotated[Optional[int], typer.Option("--embedding-dim", help="flatten_fc units (default: the backbone's channel count).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs (ISMIR: 100; ICASSP: 50).")] = _D["epochs"],
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs per (micro-)batch; negatives come from the same batch (ISMIR: 200; ICASSP: 384).")] = _D["batch_size"],
    accumulate: Annotated[int, typer.Option("--accumulate", help="Micro-batches per optimiser step; the step's gradient is their mean, as DDP averages ranks (ISMIR: 6).")] = _D["accumulate"],
    crop_frames: Annotated[int, typer.Option("--crop-frames", help="Patch length in frames (ISMIR: 128 = 2 s; ICASSP: 256 = 3 s).")] = _D["crop_frames"],
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (ISMIR: 1e-3; ICASSP: 1e-4).")] = _D["lr"],
    schedule: Annotated[str, typer.Option("--schedule", help=" | ".join(SCHEDULES) + " (ISMIR: plateau; ICASSP: warmup_cosine).")] = _D["schedule"],
    plateau_patience: Annotated[int, typer.Option("--plateau-patience", help="plateau: epochs without a lower validation loss before the LR is multiplied (ISMIR: 10).")] = _D["plateau_patience"],
    plateau_factor: Annotated[float, typer.Option("--plateau-factor", help="plateau: LR multiplier (ISMIR: 0.1).")] = _D["plateau_factor"],
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", help="warmup_cosine: optimiser steps of linear warm-up from 0 (ICASSP: 5000).")] = _D["warmup_steps"],
    min_lr: Annotated[float, typer.Option("--min-lr", help="warmup_cosine, warmup_constant_linear: the final LR (MAEST: 1e-7).")] = _D["min_lr"],
    adam_betas: Annotated[str, typer.Option("--adam-betas", help="Adam beta1,beta2 (ICASSP: 0.9,0.999).")] = _pair(_D["adam_betas"]),
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="Adam weight decay (L2).")] = _D["weight_decay"],
    swa_start: Annotated[Optional[int], typer.Option("--swa-start", help="First epoch (0-based) of weight averaging (SWA; ISMIR: the last 25 epochs).")] = None,
    swa_lr: Annotated[Optional[float], typer.Option("--swa-lr", help="Constant LR from --swa-start on (ISMIR: 1e-3; default: the schedule goes on).")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="NT-Xent temperature (ICASSP: 0.1).")] = _D["temperature"],
    cola_dim: Annotated[int, typer.Option("--cola-dim", help="COLA projection size (ISMIR: 512).")] = _D["cola_dim"],
    simclr_dim: Annotated[int, typer.Option("--simclr-dim", help="SimCLR projector output size (ICASSP: 128).")] = _D["simclr_dim"],
    simclr_hidden: Annotated[int, typer.Option("--simclr-hidden", help="SimCLR projector hidden units (ICASSP: 128).")] = _D["simclr_hidden"],
    simclr_augment: Annotated[str, typer.Option("--simclr-augment", help=" | ".join(SIMCLR_AUGMENTS) + ": mix = two views of one patch, each mixed with another patch of the batch (ICASSP SimCLR baseline).")] = _D["simclr_augment"],
    mix_gain_beta: Annotated[str, typer.Option("--mix-gain-beta", help="a,b of the Beta distribution of the mix gain (ICASSP: 5,2).")] = _pair(_D["mix_gain_beta"]),
    keep_epoch_checkpoints: Annotated[bool, typer.Option("--keep-epoch-checkpoints/--no-keep-epoch-checkpoints", help="Also keep checkpoints/epoch-NNN.pt after every epoch (for --init-from RUN@N).")] = False,
    w2v_vectors: Annotated[Optional[str], typer.Option("--w2v-vectors", help="Parquet (track_key|track_id, vector) for objective w2v.")] = None,
    top_styles: Annotated[int, typer.Option("--top-styles", help="Style vocabulary size (classification).")] = _D["top_styles"],
    max_steps_per_epoch: Annotated[Optional[int], typer.Option("--max-steps-per-epoch", help="Cap on optimiser steps per epoch (quick runs).")] = None,
    maest_width: Annotated[int, typer.Option("--maest-width", help="maest: token width (MAEST: 768, seed 004 sec. 6.2).")] = _D["maest_width"],
    maest_depth: Annotated[int, typer.Option("--maest-depth", help="maest: transformer blocks (MAEST: 12).")] = _D["maest_depth"],
    maest_heads: Annotated[int, typer.Option("--maest-heads", help="maest: attention heads (MAEST: 12).")] = _D["maest_heads"],
    patchout_time: Annotated[Optional[int], typer.Option("--patchout-time", help="maest: time patches dropped in training (default 15 per 5 s: 15/30/60/90 for 5/10/20/30 s, seed 004 sec. 6.3.6).")] = None,
    patchout_freq: Annotated[int, typer.Option("--patchout-freq", help="maest: frequency patches dropped in training (MAEST: 3).")] = _D["patchout_freq"],
    embed_block: Annotated[int, typer.Option("--embed-block", help="maest: block whose tokens embed writes (MAEST: 7, seed 004 sec. 6.3.4).")] = _D["embed_block"],
    embed_tokens: Annotated[str, typer.Option("--embed-tokens", help="maest: tokens stacked by embed, comma-separated from cls, dist, avg.")] = ",".join(_D["embed_tokens"]),
    init_weights: Annotated[Optional[str], typer.Option("--init-weights", help="maest: local weights file in the DeiT-B/384 or PaSST-S-S16 layout (MAEST: PaSST), or random; nothing is downloaded.")] = None,
    input_norm_tracks: Annotated[Optional[int], typer.Option("--input-norm-tracks", help="maest: training tracks (seeded subset) for the input mean/std (default: all).")] = None,
    epoch_tracks: Annotated[Optional[int], typer.Option("--epoch-tracks", help="classification: balanced sample of tracks per epoch, weighted by inverse label frequency (MAEST: 200000).")] = None,
    mixup_alpha: Annotated[float, typer.Option("--mixup-alpha", help="classification: mixup alpha, 0 for none (MAEST: 0.3).")] = _D["mixup_alpha"],
    specaugment_time_masks: Annotated[int, typer.Option("--specaugment-time-masks", help="SpecAugment time masks per patch (MAEST: 20).")] = _D["specaugment_time_masks"],
    specaugment_time_width: Annotated[int, typer.Option("--specaugment-time-width", help="Largest time mask in frames (MAEST: 8).")] = _D["specaugment_time_width"],
    specaugment_freq_masks: Annotated[int, typer.Option("--specaugment-freq-masks", help="SpecAugment frequency masks per patch (MAEST: 5).")] = _D["specaugment_freq_masks"],
    specaugment_freq_width: Annotated[int, typer.Option("--specaugment-freq-width", help="Largest frequency mask in bands (MAEST: 8).")] = _D["specaugment_freq_width"],
    warmup_epochs: Annotated[int, typer.Option("--warmup-epochs", help="warmup_constant_linear: warm-up epochs (MAEST: 5).")] = _D["warmup_epochs"],
    decay_start_epoch: Annotated[int, typer.Option("--decay-start-epoch", help="warmup_constant_linear: constant LR until this epoch (MAEST: 50).")] = _D["decay_start_epoch"],
    decay_epochs: Annotated[int, typer.Option("--decay-epochs", help="warmup_constant_linear: epochs of linear decay to --min-lr (MAEST: 50).")] = _D["decay_epochs"],
    swa_every: Annotated[int, typer.Option("--swa-every", help="Average the weights every N epochs from --swa-start (MAEST: 5).")] = _D["swa_every"],
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")] = _D["device"],
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on GPU (ignored on CPU).")] = _D["amp"],
    channels_last: Annotated[bool, typer.Option("--channels-last/--no-channels-last", help="channels_last memory format (GPU speed).")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Crop worker threads of the input pipeline, building batches ahead of the model step (0: in the training process; batches are identical either way).")] = _D["num_workers"],
    prefetch: Annotated[int, typer.Option("--prefetch", help="Batches built ahead when --workers > 0.")] = _D["prefetch"],
    strict: Annotated[bool, typer.Option("--strict/--no-strict", help="Fail when pairs involve tracks without features.")] = False,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue the run from its last checkpoint.")] = False,
    force: Annotated[bool, typer.Option("--force/--no-force", help="Start the run over, deleting its folder.")] = False,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Initialise the backbone from RUN (best.pt), RUN@N or RUN:epoch-NNN (after N epochs), RUN:last or a .pt file.")] = None,
    seed: SeedOption = 0,
    ws: WorkspaceOption = None,
) -> None:
    """Train a backbone on pairs (COLA, SimCLR, multi-task, Word2Vec, ICO) or styles; several GPUs via torchrun.

    Every recipe value of the published models is an option; docs/training.md lists them with the seed section each comes from."""
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    print_report(steps.train(workspace(options.pop("ws")), **options))


@app.command("embed")
@handle_errors
def embed_command(
    checkpoint: Annotated[str, typer.Option("--checkpoint", "-c", help="Run name or checkpoint file.")],
    which: Annotated[str, typer.Option("--which", help="With a run name: best | last | swa.")] = "best",
    features: Annotated[Optional[str], typer.Option("--features", help="Feature set (default: the run's).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only the tracks of this dataset.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Only this split of --dataset.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output table folder (default: runs/<run>/embeddings/...).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Patches per forward pass.")] = 64,
    device: Annotated[str, typer.Option("--device")] = "auto",
    block: Annotated[Optional[int], typer.Option("--block", help="maest: block n of the cls^n, dist^n, avg^n tokens (default: the run's, 7).")] = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", help="maest: tokens to stack, comma-separated from cls, dist, avg (default: the run's).")] = None,
    time_stride: Annotated[int, typer.Option("--time-stride", help="maest inference patchout: keep one time patch in N (seed 004 sec. 6.3.8).")] = 1,
    drop_freq: Annotated[Optional[str], typer.Option("--drop-freq", help="maest inference patchout: frequency patch rows to drop, comma-separated, 0 = lowest.")] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Write track embeddings (mean over half-overlapping patches: 128 frames, or the run's segment) as Parquet: track_id, embedding."""
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    print_report(steps.embed(workspace(options.pop("ws")), **options))
