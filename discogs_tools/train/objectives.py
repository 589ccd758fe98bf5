"""Training objectives: heads on top of the backbone and their losses.

Every head returns ``(loss, correct, count)``: ``correct`` counts anchors whose argmax of the
similarity row is their own positive (top-1 accuracy), or, for the classification baseline,
tracks whose highest-scoring style is one of their styles.

- :class:`ColaHead` (Saeed et al. 2021; used for COLA, ICO and each multi-task head): projection
  to 512 + LayerNorm + tanh, learnable bilinear similarity ``a W p^T``, cross-entropy over the
  batch where the other anchors' positives are the negatives.
- :class:`SimClrHead`: MLP 128/128, NT-Xent with temperature 0.1 over the 2N views.
- :class:`Word2VecHead`: audio projection and a separate projection of the frozen Word2Vec vector,
  then COLA's bilinear similarity and cross-entropy (audio anchor against vector positives).
- :class:`StyleHead`: a linear layer over the top-N styles, multi-label soft-margin loss.

Under DDP the positive side is gathered from all ranks (with gradients), so the negatives are
the whole global batch; a rank's own rows sit at ``rank * b`` in the gathered matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import DistInfo, gather_with_grad


def _projector(cin: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, dim), nn.LayerNorm(dim), nn.Tanh())


def _offset(local: int, dist: DistInfo | None) -> int:
    return local * dist.rank if dist is not None and dist.enabled else 0


def _gather(x: torch.Tensor, dist: DistInfo | None) -> torch.Tensor:
    return gather_with_grad(x, dist) if dist is not None else x


def _ce_with_accuracy(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    loss = F.cross_entropy(logits.float(), target)
    correct = (logits.argmax(dim=1) == target).sum()
    return loss, correct, len(target)


def _bilinear_contrast(za: torch.Tensor, zp: torch.Tensor, bilinear: nn.Module,
                       dist: DistInfo | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Each anchor against every positive of the (global) batch by bilinear similarity; its own
    positive is the target (COLA; also the Word2Vec head, with vectors as positives)."""
    logits = za @ bilinear(_gather(zp, dist)).T
    target = torch.arange(len(za), device=za.device) + _offset(len(za), dist)
    return _ce_with_accuracy(logits, target)


class ColaHead(nn.Module):
    def __init__(self, embedding_dim: int, dim: int = 512) -> None:
        super().__init__()
        self.project = _projector(embedding_dim, dim)
        self.bilinear = nn.Linear(dim, dim, bias=False)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, dist: DistInfo | None = None):
        return _bilinear_contrast(self.project(anchor), self.project(positive), self.bilinear, dist)


class SimClrHead(nn.Module):
    def __init__(self, embedding_dim: int, dim: int = 128, temperature: float = 0.1) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(embedding_dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.temperature = temperature

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, dist: DistInfo | None = None):
        b = len(anchor)
        za = F.normalize(self.project(anchor).float(), dim=1)
        zp = F.normalize(self.project(positive).float(), dim=1)
        all_a, all_p = _gather(za, dist), _gather(zp, dist)
        n = len(all_a)
        local = torch.cat([za, zp])                                   # 2b rows
        logits = local @ torch.cat([all_a, all_p]).T / self.temperature  # (2b, 2n)
        own = torch.arange(b, device=za.device) + _offset(b, dist)
        self_index = torch.cat([own, own + n])
        target = torch.cat([own + n, own])
        logits[torch.arange(2 * b, device=za.device), self_index] = float("-inf")
        return _ce_with_accuracy(logits, target)


class Word2VecHead(nn.Module):
    def __init__(self, embedding_dim: int, vector_dim: int, dim: int = 512) -> None:
        super().__init__()
        self.project = _projector(embedding_dim, dim)
        self.project_vector = _projector(vector_dim, dim)
        self.bilinear = nn.Linear(dim, dim, bias=False)

    def forward(self, anchor: torch.Tensor, vectors: torch.Tensor, dist: DistInfo | None = None):
        return _bilinear_contrast(self.project(anchor), self.project_vector(vectors), self.bilinear, dist)


class StyleHead(nn.Module):
    def __init__(self, embedding_dim: int, n_styles: int) -> None:
        super().__init__()
        self.classify = nn.Linear(embedding_dim, n_styles)

    def forward(self, anchor: torch.Tensor, targets: torch.Tensor, dist: DistInfo | None = None):
        logits = self.classify(anchor).float()
        loss = F.multilabel_soft_margin_loss(logits, targets)
        top = logits.argmax(dim=1)
        correct = targets.gather(1, top[:, None]).squeeze(1).gt(0).sum()
        return loss, correct, len(anchor)
