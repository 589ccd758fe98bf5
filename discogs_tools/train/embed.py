"""``embed``: track embeddings from a trained backbone, for the probe and for ICO.

A track's embedding is the mean of the backbone outputs of its half-overlapping patches of 128
frames, or of the length the backbone was built for (VGGish, a ``flatten_fc`` head): starts 0,
64, 128, ... while a full patch fits; a track shorter than one patch is zero-padded to one patch. Patches of many tracks are batched together; memory is bounded by
the batch size and the number of tracks written per output part.

MAEST (seed 004 sec. 6.3.3): its segments are the run's segment length (5-30 s), half-overlapped
across the whole track, and each segment gives the backbone's ``track_embedding`` (by default the
stack (cls^7, dist^7, avg^7), sec. 6.3.4) instead of its training output; ``block`` / ``tokens``
choose another block and stack, ``time_stride`` / ``drop_freq`` the inference patchout of
sec. 6.3.8. The table has the same two columns, so ``probe`` reads it unchanged.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa

from .. import manifest
from ..errors import ConfigError, InputError, MissingInputError
from ..features.ranks import RankGroup, RankTableWriter, owns_block
from ..features.store import FeatureStore
from ..io import read_table
from ..locks import output_lock
from ..manifest import Timer
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace

PATCH_FRAMES = 128


def patch_starts(frames: int, patch: int = PATCH_FRAMES, hop: int | None = None) -> list[int]:
    """Starts of the half-overlapping patches of a track of ``frames`` frames."""
    hop = hop or patch // 2
    if frames <= patch:
        return [0]
    return list(range(0, frames - patch + 1, hop))


def resolve_device(device: str) -> "torch.device":  # noqa: F821
    import torch

    if device == "auto":  # under torchrun, each rank its own GPU (LOCAL_RANK)
        if torch.cuda.is_available():
            return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device} requested but CUDA is not available")
    return torch.device(device)


def patch_batches(store: FeatureStore, positions: Sequence[int], batch_size: int, patch: int,
                  starts: Sequence[Sequence[int]] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(patches (n, 1, patch, mels) float32, owner index into ``positions``) in batches of at most
    ``batch_size``, in track order. ``starts`` gives each position's patch starts (default: the
    half-overlapped :func:`patch_starts`); a patch running past the track's end is zero-padded."""
    buf = np.zeros((batch_size, 1, patch, store.n_mels), dtype=np.float32)
    owner = np.zeros(batch_size, dtype=np.int64)
    n = 0
    for i, pos in enumerate(positions):
        whole = store.rows(int(pos))
        track_starts = patch_starts(int(store.frames[pos]), patch) if starts is None else starts[i]
        for start in track_starts:
            piece = whole[start:start + patch]
            buf[n, 0, : len(piece)] = piece
            buf[n, 0, len(piece):] = 0.0
            owner[n] = i
            n += 1
            if n == batch_size:
                yield buf[:n].copy(), owner[:n].copy()
                n = 0
    if n:
        yield buf[:n].copy(), owner[:n].copy()


def embed_positions(backbone, store: FeatureStore, positions: np.ndarray, *, batch_size: int = 64,
                    device=None, patch: int = PATCH_FRAMES, amp: bool = False, channels_last: bool = False
                    ) -> np.ndarray:
    """(len(positions), dim) float32 mean patch embeddings; the backbone is used in eval mode.

    A backbone built for one patch length (VGGish, a ``flatten_fc`` head: ``input_frames``) is
    fed patches of that length; others take ``patch`` frames."""
    import torch

    patch = getattr(backbone, "input_frames", None) or patch

    device = device or torch.device("cpu")
    was_training = backbone.training
    backbone.eval()
    dim = getattr(backbone, "track_embedding_dim", backbone.embedding_dim)
    forward = getattr(backbone, "track_embedding", backbone)
    sums = np.zeros((len(positions), dim), dtype=np.float64)
    counts = np.zeros(len(positions), dtype=np.int64)
    use_amp = amp and device.type == "cuda"
    try:
        with torch.no_grad():
            for patches, owner in patch_batches(store, positions, batch_size, patch):
                x = torch.from_numpy(patches).to(device, non_blocking=True)
                if channels_last:
                    x = x.to(memory_format=torch.channels_last)
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    out = forward(x)
                np.add.at(sums, owner, out.float().cpu().numpy())
                np.add.at(counts, owner, 1)
    finally:
        backbone.train(was_training)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def make_embedder(backbone, store: FeatureStore, **kwargs):
    """An :data:`~discogs_tools.train.data.Embedder` over a feature store (used by ICO)."""

    def embed(track_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        pos = store.positions(track_ids)
        keep = [t for t, p in zip(track_ids, pos) if p >= 0]
        return keep, embed_positions(backbone, store, pos[pos >= 0], **kwargs)

    return embed


def resolve_checkpoint(ws: Workspace, checkpoint: str, which: str = "best") -> Path:
    """A checkpoint path, or a run name (runs/<run>/checkpoints/<which>.pt, falling back to last.pt)."""
    p = Path(checkpoint)
    if p.suffix == ".pt" or p.is_file():
        return p
    folder = ws.runs / checkpoint / "checkpoints"
    for name in (f"{which}.pt", "last.pt"):
        if (folder / name).exists():
            return folder / name
    raise MissingInputError(f"checkpoint of run {checkpoint}", folder / f"{which}.pt", "discogs-tools train")


def load_backbone(path: Path, device=None):
    """The backbone of a checkpoint (architecture from its saved config) and that config."""
    from .backbones import backbone_from_config
    from .checkpoint import CheckpointError, load, load_state
    from .config import TrainConfig

    ckpt = load(path)
    cfg = TrainConfig.from_dict(ckpt["config"])
    backbone = backbone_from_config(cfg)
    state = {k[len("backbone."):]: v for k, v in ckpt["model"].items() if k.startswith("backbone.")}
    if not state:
        raise CheckpointError(f"{path}: checkpoint holds no backbone weights")
    load_state(backbone, state, path, f"backbone ({cfg.backbone})")
    if device is not None:
        backbone.to(device)
    return backbone, cfg


def features_root(ws: Workspace, features: str) -> Path:
    p = Path(features)
    return p if (p / "features.json").exists() else ws.features / features


def run(ws: Workspace | str | os.PathLike[str], checkpoint: str, *, features: str | None = None, output: str | None = None,
        dataset: str | None = None, split: str | None = None, which: str = "best", batch_size: int = 64,
        tracks_per_chunk: int = 1024, device: str = "auto", block: int | None = None,
        tokens: Sequence[str] | None = None, time_stride: int = 1, drop_freq: Sequence[int] = ()) -> Report:
    """Write ``track_id, embedding`` for the tracks of a feature set (optionally one dataset split).

    MAEST runs only: ``block`` and ``tokens`` override the run's embedding (default its
    ``embed_block`` / ``embed_tokens``), ``time_stride`` and ``drop_freq`` set inference patchout."""
    import torch

    ws = Workspace.of(ws)
    path = resolve_checkpoint(ws, checkpoint, which)
    dev = resolve_device(device)
    backbone, cfg = load_backbone(path, dev)
    maest_options = block is not None or tokens is not None or time_stride != 1 or bool(drop_freq)
    if maest_options and not hasattr(backbone, "set_embedding"):
        raise ConfigError(f"block, tokens and inference patchout apply to maest runs; run {cfg.run} is {cfg.backbone}")
    if hasattr(backbone, "set_embedding"):
        backbone.set_embedding(block if block is not None else backbone.embed_block,
                               tuple(tokens) if tokens else backbone.embed_tokens)
        backbone.set_inference_patchout(time_stride, drop_freq)
    features = features or cfg.features
    store = FeatureStore(features_root(ws, features))
    track_ids: list[str] = store.track_ids
    missing = 0
    if dataset:
        folder = ws.dataset(dataset) / "tracks"
        if not folder.exists():
            raise MissingInputError(f"dataset {dataset} tracks", folder, "discogs-tools build-dataset")
        table = read_table(folder, columns=["track_id", "split"])
        wanted = [t for t, s in zip(table.column("track_id").to_pylist(), table.column("split").to_pylist())
                  if split is None or s == split]
        track_ids = [t for t in wanted if t in store]
        missing = len(wanted) - len(track_ids)
    if not track_ids:
        what = (f"dataset {dataset}" + (f" split {split}" if split else "") + f" has no track with features in {features}"
                if dataset else f"feature set {features} holds no track")
        raise InputError(store.root, f"{what}: nothing to embed (the previous embeddings, if any, are kept); "
                                     "run `discogs-tools features` first")
    out = Path(output) if output else ws.runs / cfg.run / "embeddings" / (
        Path(features).name + (f"-{dataset}" if dataset else "") + (f"-{split}" if split else ""))
    torch.manual_seed(0)
    # Under torchrun every rank embeds the chunks k with k % WORLD_SIZE == RANK into the one table
    # (features.ranks.RankTableWriter: part files in rank 0's staging folder, committed by rank 0).
    group = RankGroup.join()
    try:
        with output_lock(ws.root, "embed", str(out.resolve())) if group.is_main else nullcontext(), \
                Timer() as timer, Progress(f"embed {cfg.run}", total=len(track_ids), unit="tracks") as bar:
            writer = RankTableWriter(group, out, "runs/embeddings")
            try:
                for k, start in enumerate(range(0, len(track_ids), tracks_per_chunk)):
                    if not owns_block(k, group.rank, group.world):
                        continue
                    chunk = track_ids[start:start + tracks_per_chunk]
                    emb = embed_positions(backbone, store, store.positions(chunk), batch_size=batch_size,
                                          device=dev, amp=cfg.amp)
                    flat = pa.array(emb.reshape(-1), type=pa.float32())
                    offsets = pa.array(np.arange(0, emb.size + 1, emb.shape[1], dtype=np.int32))
                    writer.write_chunk(k, pa.table({"track_id": pa.array(chunk, pa.string()),
                                                    "embedding": pa.ListArray.from_arrays(offsets, flat)}))
                    bar.update(advance=len(chunk), records=writer.rows)
                writer.commit()
            except BaseException:
                writer.abort()
                raise
    finally:
        group.leave()
    if not group.is_main:
        return Report(stage="embed", counts={"tracks": writer.rows}, outputs={"embeddings": str(out)})
    report = Report(stage="embed", counts={"tracks": len(track_ids), "missing_features": missing},
                    outputs={"embeddings": str(out), "checkpoint": str(path)},
                    figures={"seconds": timer.seconds,
                             "dim": int(getattr(backbone, "track_embedding_dim", backbone.embedding_dim)),
                             "tracks_per_second": len(track_ids) / timer.seconds if timer.seconds else 0.0})
    if missing:
        report.warnings.append(f"{missing} tracks of dataset {dataset} have no features and were not embedded")
    inputs = [{"name": f"features {features}", **manifest.describe_table(store.root)},
              {"name": "checkpoint", **manifest.describe_input(path)}]
    if dataset:
        inputs.append({"name": f"dataset {dataset} tracks", **manifest.describe_table(ws.dataset(dataset) / "tracks")})
    manifest.record(ws.manifest_path, f"embed {cfg.run}", {**report.to_dict(), "inputs": inputs, "params": {
        "checkpoint": str(path), "features": features, "dataset": dataset, "split": split,
        "batch_size": batch_size, "device": str(dev),
        **({"block": backbone.embed_block, "tokens": list(backbone.embed_tokens), "time_stride": time_stride,
            "drop_freq": list(drop_freq)} if hasattr(backbone, "set_embedding") else {})}})
    return report


__all__ = ["embed_positions", "make_embedder", "patch_batches", "patch_starts", "run", "load_backbone", "resolve_checkpoint"]
