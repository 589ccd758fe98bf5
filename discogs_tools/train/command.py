"""The ``train`` and ``embed`` commands as plain functions of their options.

Parameters are named after the long options (``--max-steps-per-epoch`` -> ``max_steps_per_epoch``)
and default as the command line does (the trainer's defaults are read from :class:`TrainConfig`
itself), so the CLI forwards what it parsed and a declarative pipeline calls the same function
with a stage's options (see discogs_tools.pipeline.options). Comma-separated numbers are parsed
here, with one-line errors naming the option.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Optional

from ..errors import ConfigError
from ..report import Report
from ..workspace import Workspace
from .config import TrainConfig

# The trainer's defaults, read from TrainConfig itself so that neither the CLI nor a pipeline
# can drift from it (discogs_tools.train.config imports no torch).
DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def numbers(text: str | None, option: str, kind: type, count: int | None = None) -> tuple:
    """``"0.9,0.999"`` -> (0.9, 0.999); a one-line ConfigError naming the option otherwise."""
    if text is None or text.strip() == "":
        return ()
    what = f"{count} numbers" if count else ("whole numbers" if kind is int else "numbers")
    try:
        values = tuple(kind(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{option} takes {what} separated by commas, got {text!r}") from None
    if count is not None and len(values) != count:
        raise ConfigError(f"{option} takes {what} separated by commas, got {text!r}")
    return values


def names(text: str | None) -> tuple[str, ...]:
    """``"cls, dist"`` -> ("cls", "dist")."""
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def joined(values: tuple) -> str:
    """(0.9, 0.999) -> ``"0.9,0.999"``: a tuple default as its option text."""
    return ",".join(f"{v:g}" for v in values)


_D = DEFAULTS


def train(
    ws: Workspace, *,
    run: str,
    features: str = "default",
    dataset: str = "discogs20",
    objective: str = _D["objective"],
    association: list[str] = ["release"],  # noqa: B006 - read, never changed
    task_weights: Optional[str] = None,
    batch_shares: Optional[str] = None,
    backbone: str = _D["backbone"],
    cnn_width: int = _D["cnn_width"],
    embedding_head: str = _D["embedding_head"],
    embedding_dim: Optional[int] = None,
    epochs: int = _D["epochs"],
    batch_size: int = _D["batch_size"],
    accumulate: int = _D["accumulate"],
    crop_frames: int = _D["crop_frames"],
    lr: float = _D["lr"],
    schedule: str = _D["schedule"],
    plateau_patience: int = _D["plateau_patience"],
    plateau_factor: float = _D["plateau_factor"],
    warmup_steps: int = _D["warmup_steps"],
    min_lr: float = _D["min_lr"],
    adam_betas: str = joined(_D["adam_betas"]),
    weight_decay: float = _D["weight_decay"],
    swa_start: Optional[int] = None,
    swa_lr: Optional[float] = None,
    temperature: float = _D["temperature"],
    cola_dim: int = _D["cola_dim"],
    simclr_dim: int = _D["simclr_dim"],
    simclr_hidden: int = _D["simclr_hidden"],
    simclr_augment: str = _D["simclr_augment"],
    mix_gain_beta: str = joined(_D["mix_gain_beta"]),
    keep_epoch_checkpoints: bool = False,
    w2v_vectors: Optional[str] = None,
    top_styles: int = _D["top_styles"],
    max_steps_per_epoch: Optional[int] = None,
    maest_width: int = _D["maest_width"],
    maest_depth: int = _D["maest_depth"],
    maest_heads: int = _D["maest_heads"],
    patchout_time: Optional[int] = None,
    patchout_freq: int = _D["patchout_freq"],
    embed_block: int = _D["embed_block"],
    embed_tokens: str = ",".join(_D["embed_tokens"]),
    init_weights: Optional[str] = None,
    input_norm_tracks: Optional[int] = None,
    epoch_tracks: Optional[int] = None,
    mixup_alpha: float = _D["mixup_alpha"],
    specaugment_time_masks: int = _D["specaugment_time_masks"],
    specaugment_time_width: int = _D["specaugment_time_width"],
    specaugment_freq_masks: int = _D["specaugment_freq_masks"],
    specaugment_freq_width: int = _D["specaugment_freq_width"],
    warmup_epochs: int = _D["warmup_epochs"],
    decay_start_epoch: int = _D["decay_start_epoch"],
    decay_epochs: int = _D["decay_epochs"],
    swa_every: int = _D["swa_every"],
    device: str = _D["device"],
    amp: bool = _D["amp"],
    channels_last: bool = False,
    workers: int = _D["num_workers"],
    prefetch: int = _D["prefetch"],
    strict: bool = False,
    resume: bool = False,
    force: bool = False,
    init_from: Optional[str] = None,
    seed: int = 0,
) -> Report:
    """Train a backbone (``discogs-tools train``): the options become a TrainConfig."""
    from .loop import run as train_run

    cfg = TrainConfig(run=run, features=features, dataset=dataset, objective=objective,
                      associations=tuple(association) if objective != "classification" else (),
                      task_weights=numbers(task_weights, "--task-weights", float),
                      batch_shares=numbers(batch_shares, "--batch-shares", int),
                      backbone=backbone, cnn_width=cnn_width, embedding_head=embedding_head,
                      embedding_dim=embedding_dim, epochs=epochs, batch_size=batch_size, accumulate=accumulate,
                      crop_frames=crop_frames, lr=lr, schedule=schedule, plateau_patience=plateau_patience,
                      plateau_factor=plateau_factor, warmup_steps=warmup_steps, min_lr=min_lr,
                      adam_betas=numbers(adam_betas, "--adam-betas", float, 2), weight_decay=weight_decay,
                      swa_start=swa_start, swa_lr=swa_lr, temperature=temperature, cola_dim=cola_dim,
                      simclr_dim=simclr_dim, simclr_hidden=simclr_hidden, simclr_augment=simclr_augment,
                      mix_gain_beta=numbers(mix_gain_beta, "--mix-gain-beta", float, 2),
                      keep_epoch_checkpoints=keep_epoch_checkpoints, w2v_vectors=w2v_vectors,
                      top_styles=top_styles, max_steps_per_epoch=max_steps_per_epoch, seed=seed, strict=strict,
                      maest_width=maest_width, maest_depth=maest_depth, maest_heads=maest_heads,
                      patchout_time=patchout_time, patchout_freq=patchout_freq, embed_block=embed_block,
                      embed_tokens=names(embed_tokens),
                      init_weights=None if init_weights in (None, "", "random") else init_weights,
                      input_norm_tracks=input_norm_tracks, epoch_tracks=epoch_tracks, mixup_alpha=mixup_alpha,
                      specaugment_time_masks=specaugment_time_masks, specaugment_time_width=specaugment_time_width,
                      specaugment_freq_masks=specaugment_freq_masks, specaugment_freq_width=specaugment_freq_width,
                      warmup_epochs=warmup_epochs, decay_start_epoch=decay_start_epoch, decay_epochs=decay_epochs,
                      swa_every=swa_every, device=device, amp=amp, channels_last=channels_last,
                      num_workers=workers, prefetch=prefetch)
    return train_run(ws.ensure(), cfg, resume=resume, force=force, init_from=init_from)


def embed(
    ws: Workspace, *,
    checkpoint: str,
    which: str = "best",
    features: Optional[str] = None,
    dataset: Optional[str] = None,
    split: Optional[str] = None,
    output: Optional[str] = None,
    batch_size: int = 64,
    device: str = "auto",
    block: Optional[int] = None,
    tokens: Optional[str] = None,
    time_stride: int = 1,
    drop_freq: Optional[str] = None,
) -> Report:
    """Write track embeddings of a run (``discogs-tools embed``)."""
    from .embed import run as embed_run

    return embed_run(ws.ensure(), checkpoint, features=features, output=output, dataset=dataset, split=split,
                     which=which, batch_size=batch_size, device=device, block=block, tokens=names(tokens) or None,
                     time_stride=time_stride, drop_freq=numbers(drop_freq, "--drop-freq", int))
