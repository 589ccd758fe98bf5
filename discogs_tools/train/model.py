"""The trained module: a backbone and one head per task (association, or styles), plus the
architecture signature that checkpoints carry so that a mismatched checkpoint is refused."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .backbones import backbone_from_config
from .config import TrainConfig
from .distributed import DistInfo
from .objectives import BilinearHead, ColaHead, SimClrHead, StyleHead, Word2VecHead


def task_names(cfg: TrainConfig) -> list[str]:
    return ["styles"] if cfg.objective == "classification" else list(cfg.associations)


class TrainModel(nn.Module):
    """``forward`` returns (weighted loss, correct, count, per-task losses)."""

    def __init__(self, cfg: TrainConfig, *, n_styles: int = 0, vector_dim: int = 0) -> None:
        super().__init__()
        self.objective = cfg.objective
        self.backbone = backbone_from_config(cfg)
        dim = self.backbone.embedding_dim
        self.tasks = task_names(cfg)
        heads: dict[str, nn.Module] = {}
        for name in self.tasks:
            heads[name] = _head(cfg, dim, n_styles, vector_dim)
        self.heads = nn.ModuleDict({_key(n): h for n, h in heads.items()})
        weights = cfg.weights() if cfg.objective != "classification" else (1.0,)
        self.register_buffer("task_weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.signature: dict[str, Any] = {
            "backbone": cfg.backbone, "objective": cfg.objective,
            "embedding_head": getattr(self.backbone, "embedding_head", cfg.embedding_head),
            "tasks": self.tasks,
            "embedding_dim": dim, "n_styles": n_styles, "vector_dim": vector_dim,
        }

    @property
    def two_views(self) -> bool:
        """Whether the positive side is audio (not a vector or labels)."""
        return self.objective not in ("w2v", "classification")

    def forward(self, x_anchor: torch.Tensor, x_positive: torch.Tensor | None, sizes: list[int],
                side: torch.Tensor | None = None, dist: DistInfo | None = None):
        if x_positive is not None:
            emb = self.backbone(torch.cat([x_anchor, x_positive]))
            anchor, positive = emb[: len(x_anchor)], emb[len(x_anchor):]
        else:
            anchor, positive = self.backbone(x_anchor), None
        total = anchor.new_zeros((), dtype=torch.float32)
        correct = anchor.new_zeros((), dtype=torch.long)
        count = 0
        per_task = []
        start = 0
        for i, (name, size) in enumerate(zip(self.tasks, sizes)):
            sl = slice(start, start + size)
            other = positive[sl] if positive is not None else side[sl]
            loss, c, n = self.heads[_key(name)](anchor[sl], other, dist)
            total = total + self.task_weights[i] * loss
            correct = correct + c
            count += n
            per_task.append(loss.detach())
            start += size
        return total / self.task_weights.sum(), correct, count, per_task


def _head(cfg: TrainConfig, dim: int, n_styles: int, vector_dim: int) -> nn.Module:
    """The head of one task (see :mod:`.objectives` for the seed section of each)."""
    if cfg.objective == "simclr":      # ICASSP 2023 (seed 004 sec. 5.3.3)
        return SimClrHead(dim, cfg.simclr_dim, cfg.temperature, hidden=cfg.simclr_hidden)
    if cfg.objective == "w2v":         # ICASSP 2023 W2V (seed 004 sec. 5.2)
        return Word2VecHead(dim, vector_dim, cfg.simclr_dim, hidden=cfg.simclr_hidden, temperature=cfg.temperature)
    if cfg.objective == "ico":         # ICASSP 2023 ICO (seed 004 sec. 5.5.1)
        return BilinearHead(dim)
    if cfg.objective == "classification":
        return StyleHead(dim, n_styles)
    return ColaHead(dim, cfg.cola_dim)  # cola, multitask: ISMIR 2022 (seed 000 sec. 4.2)


def _key(name: str) -> str:
    return name.replace(".", "_")
