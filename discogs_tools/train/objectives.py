"""Training objectives: heads on top of the backbone and their losses, as the papers publish them.

Every head returns ``(loss, correct, count)``: ``correct`` counts rows whose argmax of the
similarity row is their own positive (top-1 accuracy), or, for the classification baseline,
tracks whose highest-scoring style is one of their styles.

- :class:`ColaHead` (ISMIR 2022, seed 000 sec. 4.2 = seed 004 sec. 4.3.2; COLA, Saeed et al. 2021;
  also each multi-task head): a fully-connected projection to 512, "a normalization layer" (COLA's
  LayerNorm, epsilon 1e-3 as in its Keras implementation, which the seed follows: "as in the
  original implementation") and tanh; bilinear similarity ``a^T B p`` (B drawn from N(0, 0.05^2),
  Keras' ``random_normal``); cross-entropy where the other anchors' positives are the negatives.
  Negatives stay within the device batch: in the paper each of 6 GPUs scored its own 200 pairs
  and only the gradients were aggregated, so under DDP this head does not gather other ranks.
- :class:`SimClrHead` (ICASSP 2023, seed 004 sec. 5.3.2 / 5.3.3): MLP with one hidden layer of
  ``simclr_hidden`` = 128 units and ReLU, ``simclr_dim`` = 128 outputs; NT-Xent (Chen et al.
  2020) with tau = 0.1 over the 2N views. Used by every ICASSP pair strategy (CO, TCO, Artist
  CO, SimCLR): "the same projector is used ... for every contrastive learning setup".
- :class:`Word2VecHead` (seed 004 sec. 5.2, W2V): the audio side through H_x, the frozen Word2Vec
  vector through H_y, "a different projector ... featuring the same hyper-parameters and
  dimensions"; NT-Xent as every ICASSP setup (sec. 5.3.1).
- :class:`BilinearHead` (ICO, seed 004 sec. 5.5.1): the MLP projector replaced by a bilinear
  similarity layer on the latent representations, ``H(z_a, z_c) = z_a^T W z_c``, with standard
  cross-entropy instead of NT-Xent. Its ``W`` also scores ICO's candidates
  (:meth:`BilinearHead.similarity_matrix`).
- :class:`StyleHead`: a linear layer over the top-N styles, multi-label soft-margin loss.

Under DDP the NT-Xent heads gather the other side from all ranks (with gradients), so the
negatives are the whole global batch; a rank's own rows sit at ``rank * b`` in the gathered matrix.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .distributed import DistInfo, gather_with_grad

COLA_DIM = 512            # seed 000 sec. 4.2: projection head of 512 dimensions
COLA_LAYERNORM_EPS = 1e-3  # COLA's tf.keras LayerNormalization default
BILINEAR_INIT_STD = 0.05   # COLA's BilinearProduct: tf.keras "random_normal" (mean 0, stddev 0.05)
SIMCLR_HIDDEN = 128        # seed 004 sec. 5.3.3: one hidden layer with 128 units and ReLU
SIMCLR_DIM = 128           # seed 004 sec. 5.3.3: D' = 128
TEMPERATURE = 0.1          # seed 004 sec. 5.3.3: NT-Xent with a fixed tau of 0.1


def _cola_projector(cin: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, dim), nn.LayerNorm(dim, eps=COLA_LAYERNORM_EPS), nn.Tanh())


def _mlp_projector(cin: int, hidden: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))


def _bilinear(dim: int) -> nn.Linear:
    """``B`` of ``a^T B p`` (stored as a bias-free Linear: ``bilinear(p) = p B^T``)."""
    layer = nn.Linear(dim, dim, bias=False)
    nn.init.normal_(layer.weight, mean=0.0, std=BILINEAR_INIT_STD)
    return layer


def _offset(local: int, dist: DistInfo | None) -> int:
    return local * dist.rank if dist is not None and dist.enabled else 0


def _gather(x: torch.Tensor, dist: DistInfo | None) -> torch.Tensor:
    return gather_with_grad(x, dist) if dist is not None else x


def _ce_with_accuracy(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    loss = F.cross_entropy(logits.float(), target)
    correct = (logits.argmax(dim=1) == target).sum()
    return loss, correct, len(target)


def bilinear_contrast(za: torch.Tensor, zp: torch.Tensor, bilinear: nn.Linear) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Each anchor against every positive of the (device) batch by ``a^T B p``; its own positive
    is the target of a cross-entropy (COLA, ICO)."""
    logits = za @ bilinear.weight @ zp.T
    return _ce_with_accuracy(logits, torch.arange(len(za), device=za.device))


def nt_xent(za: torch.Tensor, zp: torch.Tensor, temperature: float,
            dist: DistInfo | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """NT-Xent (SimCLR): the 2N l2-normalised views, each against the other 2N - 1 of the global
    batch at ``temperature``; the target of a view is the other view of its pair."""
    b = len(za)
    za = F.normalize(za.float(), dim=1)
    zp = F.normalize(zp.float(), dim=1)
    all_a, all_p = _gather(za, dist), _gather(zp, dist)
    n = len(all_a)
    local = torch.cat([za, zp])                                   # 2b rows
    logits = local @ torch.cat([all_a, all_p]).T / temperature    # (2b, 2n)
    own = torch.arange(b, device=za.device) + _offset(b, dist)
    self_index = torch.cat([own, own + n])
    target = torch.cat([own + n, own])
    logits[torch.arange(2 * b, device=za.device), self_index] = float("-inf")
    return _ce_with_accuracy(logits, target)


class ColaHead(nn.Module):
    def __init__(self, embedding_dim: int, dim: int = COLA_DIM) -> None:
        super().__init__()
        self.project = _cola_projector(embedding_dim, dim)
        self.bilinear = _bilinear(dim)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, dist: DistInfo | None = None):
        # ``dist`` is accepted for a uniform interface and deliberately unused (see the module docstring).
        return bilinear_contrast(self.project(anchor), self.project(positive), self.bilinear)


class BilinearHead(nn.Module):
    """ICO: ``z_a^T W z_c`` on the backbone's embeddings (no projector), cross-entropy."""

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        self.bilinear = _bilinear(embedding_dim)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, dist: DistInfo | None = None):
        return bilinear_contrast(anchor, positive, self.bilinear)

    def similarity_matrix(self) -> np.ndarray:
        """``W`` as float32 numpy: ICO scores candidate c of anchor a as ``z_a W z_c^T``."""
        return self.bilinear.weight.detach().float().cpu().numpy()


class SimClrHead(nn.Module):
    def __init__(self, embedding_dim: int, dim: int = SIMCLR_DIM, temperature: float = TEMPERATURE,
                 hidden: int = SIMCLR_HIDDEN) -> None:
        super().__init__()
        self.project = _mlp_projector(embedding_dim, hidden, dim)
        self.temperature = temperature

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, dist: DistInfo | None = None):
        return nt_xent(self.project(anchor), self.project(positive), self.temperature, dist)


class Word2VecHead(nn.Module):
    def __init__(self, embedding_dim: int, vector_dim: int, dim: int = SIMCLR_DIM, hidden: int = SIMCLR_HIDDEN,
                 temperature: float = TEMPERATURE) -> None:
        super().__init__()
        self.project = _mlp_projector(embedding_dim, hidden, dim)
        self.project_vector = _mlp_projector(vector_dim, hidden, dim)
        self.temperature = temperature

    def forward(self, anchor: torch.Tensor, vectors: torch.Tensor, dist: DistInfo | None = None):
        return nt_xent(self.project(anchor), self.project_vector(vectors), self.temperature, dist)


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
