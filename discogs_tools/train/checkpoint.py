"""Checkpoints: one ``.pt`` file holding config, architecture signature, model, optimizer,
scheduler, AMP scaler, SWA state, RNG states, epoch and metric history; written atomically."""

from __future__ import annotations

import os
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
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise MissingInputError("checkpoint", path, "discogs-tools train")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
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
