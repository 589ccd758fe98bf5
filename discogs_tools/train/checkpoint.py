"""Checkpoints: one ``.pt`` file holding config, architecture signature, model, optimizer,
scheduler, AMP scaler, SWA state, RNG states, epoch and metric history; written atomically.

Everything in a checkpoint is a tensor or a plain Python value (the NumPy RNG state is stored as a
tensor plus numbers), so ``torch.load(path, weights_only=True)`` reads it: no pickled code runs.
Checkpoints of older versions, which held the NumPy state as an array, are read with exactly the
NumPy globals that state needs allowed. :func:`export_backbone` writes the backbone's weights
alone, with what rebuilds it, for use outside the toolkit.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DiscogsToolsError, MissingInputError
from ..io import atomic_path

FORMAT = 1


class CheckpointError(DiscogsToolsError):
    """A checkpoint cannot be used here (other architecture, unreadable, wrong format)."""


def rng_state() -> dict[str, Any]:
    """Torch, Python, NumPy (and CUDA) RNG states, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                             "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, np.int64)),
                                       "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                       numpy_state["has_gauss"], numpy_state["cached"])
    np.random.set_state(numpy_state)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(value: Any) -> Any:
    """``value`` with NumPy arrays as tensors and NumPy scalars as Python numbers (what
    ``weights_only`` loading accepts)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def save(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(_plain({"format": FORMAT, **payload}), tmp)


def _numpy_globals() -> list[Any]:
    """The NumPy globals an older checkpoint's RNG state (an ndarray) unpickles with."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct

    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def read_weights_only(path: Path) -> Any:
    """``torch.load(weights_only=True)``; for an older checkpoint, the same with the NumPy globals
    of its RNG state allowed (nothing else)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise MissingInputError("checkpoint", path, "discogs-tools train")
    try:
        ckpt = read_weights_only(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {str(exc)[:300]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a discogs-tools training checkpoint (format {FORMAT})")
    return ckpt


def check_signature(path: Path, saved: dict[str, Any], expected: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose architecture differs in any of ``keys``."""
    diffs = [f"{k}: checkpoint has {saved.get(k)!r}, expected {expected.get(k)!r}"
             for k in keys if saved.get(k) != expected.get(k)]
    if diffs:
        raise CheckpointError(f"{path}: checkpoint from another architecture ({'; '.join(diffs)})")


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """``load_state_dict`` with a one-line error instead of PyTorch's multi-line report."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) or first[0]
        raise CheckpointError(f"{path}: {what} weights do not fit this architecture ({detail[:300]})") from None


def epoch_name(completed: int) -> str:
    """File name of the checkpoint taken after ``completed`` epochs (1-based: epoch-020.pt is the
    model "at its 20th epoch", seed 000 sec. 4.6)."""
    return f"epoch-{int(completed):03d}.pt"


def resolve_init(ws, spec: str) -> Path:
    """The checkpoint named by ``--init-from``: ``RUN@N`` or ``RUN:epoch-NNN`` (the run's checkpoint
    after N epochs, kept with ``--keep-epoch-checkpoints``), ``RUN:best|last|swa``, a run name (its
    best.pt, else last.pt) or a ``.pt`` file."""
    from .embed import resolve_checkpoint

    path = Path(spec)
    if path.suffix == ".pt" or path.is_file():
        return path
    run, name = None, None
    if "@" in spec:
        run, n = spec.rsplit("@", 1)
        if not n.isdigit():
            raise MissingInputError(f"checkpoint {spec!r} (RUN@EPOCH takes a number)", path, "discogs-tools train")
        name = epoch_name(int(n))
    elif ":" in spec:
        run, name = spec.rsplit(":", 1)
        name = name if name.endswith(".pt") else f"{name}.pt"
    if run is None:
        return resolve_checkpoint(ws, spec)
    folder = ws.runs / run / "checkpoints"
    if not (folder / name).exists():
        kept = sorted(int(p.stem.split("-")[1]) for p in folder.glob("epoch-*.pt") if p.stem.split("-")[1].isdigit())
        hint = (f"epochs kept: {', '.join(str(k) for k in kept)}" if kept else
                "no epoch checkpoints kept (train it with --keep-epoch-checkpoints)")
        raise MissingInputError(f"checkpoint {spec} ({hint})", folder / name, "discogs-tools train")
    return folder / name


#: ``format`` of a file written by :func:`export_backbone`.
BACKBONE_FORMAT = "discogs-tools-backbone-1"


def export_backbone(checkpoint: str | os.PathLike[str], output: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the backbone of a training checkpoint alone to ``output`` (a ``.pt`` file that
    ``torch.load(output, weights_only=True)`` reads): ``state_dict`` (the backbone's weights,
    keys without the ``backbone.`` prefix), ``config`` (the run's training config, which
    :func:`~discogs_tools.train.backbones.backbone_from_config` rebuilds the architecture from),
    ``arch`` (the architecture signature), ``epoch`` and ``format``. Returns what was written,
    without the weights."""
    path = Path(checkpoint)
    ckpt = load(path)
    state = {k[len("backbone."):]: v for k, v in ckpt["model"].items() if k.startswith("backbone.")}
    if not state:
        raise CheckpointError(f"{path}: checkpoint holds no backbone weights")
    meta = {"format": BACKBONE_FORMAT, "source": str(path), "config": ckpt.get("config"), "arch": ckpt.get("arch"),
            "epoch": ckpt.get("epoch"), "parameters": int(sum(v.numel() for v in state.values()))}
    with atomic_path(Path(output)) as tmp:
        torch.save(_plain({**meta, "state_dict": state}), tmp)
    return meta


def load_exported_backbone(path: str | os.PathLike[str]) -> torch.nn.Module:
    """The backbone module of a file written by :func:`export_backbone`, weights loaded, in eval mode."""
    from .backbones import backbone_from_config
    from .config import TrainConfig

    path = Path(path)
    if not path.exists():
        raise MissingInputError("exported backbone", path, "discogs-tools export RUN -o FILE.pt")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != BACKBONE_FORMAT:
        raise CheckpointError(f"{path}: not a backbone exported by discogs-tools ({BACKBONE_FORMAT})")
    cfg = TrainConfig.from_dict(data["config"])
    backbone = backbone_from_config(cfg)
    load_state(backbone, data["state_dict"], path, f"backbone ({cfg.backbone})")
    return backbone.eval()
