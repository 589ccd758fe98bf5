"""What every backbone shares: a convolutional trunk (mel patch -> feature map) and an embedding
head that turns the last feature map into a vector.

Heads (``TrainConfig.embedding_head``):

- ``pool``: global pooling of the last feature map, no parameters. Average pooling for
  EfficientNet-B0 and the small CNN (the toolkit's earlier behaviour, so earlier checkpoints keep
  loading); ResNet50 overrides it with max- and mean-pooling concatenated (seed 004 sec. 5.3.2).
- ``flatten_fc``: a fully-connected layer on the *flattened* last feature map (ISMIR 2022, seed 000
  sec. 4.2 and seed 004 sec. 4.3.2: "a fully-connected layer to the flattened output of the last
  convolutional block with 1280 units (embedding layer)"). The seeds state no activation on it, so
  it is linear. Its input size depends on the patch, so such a backbone takes patches of exactly
  ``input_frames`` x ``n_mels`` and says so in one line when given another size.

Every backbone exposes ``embedding_dim`` (length of its output) and ``input_frames`` (the patch
length its head requires, or None when any length works).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

EMBEDDING_HEADS = ("pool", "flatten_fc")


def ceil_halvings(n: int, times: int) -> int:
    """Size after ``times`` stride-2 layers that pad to ceil(n / 2) (k x k convolutions with padding
    (k - 1) // 2, 3x3/2 max pooling with padding 1, TensorFlow SAME pooling)."""
    for _ in range(times):
        n = (n + 1) // 2
    return n


class Backbone(nn.Module):
    """Base class: subclasses build their trunk, then call :meth:`_set_head`."""

    embedding_dim: int
    input_frames: int | None
    name = "backbone"

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, frames, bands) -> last feature map (batch, channels, t, f)."""
        return self.features(x)

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        return fmap.mean((2, 3))

    def pooled_dim(self, channels: int) -> int:
        return channels

    def _set_head(self, head: str, channels: int, out_t: int, out_f: int, embedding_dim: int | None,
                  input_frames: int, n_mels: int) -> None:
        """``pool``: no parameters, ``embedding_dim`` must be None or the pooled size.
        ``flatten_fc``: ``self.embed`` = Linear(channels x out_t x out_f, embedding_dim or channels)."""
        if head not in EMBEDDING_HEADS:
            raise ConfigError(f"unknown embedding head {head!r}; choose one of {', '.join(EMBEDDING_HEADS)}")
        self.embedding_head = head
        if head == "pool":
            pooled = self.pooled_dim(channels)
            if embedding_dim is not None and embedding_dim != pooled:
                raise ConfigError(f"{self.name}: embedding_dim {embedding_dim} needs embedding_head flatten_fc "
                                  f"(pooling gives {pooled} values)")
            self.embedding_dim, self.input_frames, self.n_mels = pooled, None, n_mels
            self.embed = None
            return
        if out_t < 1 or out_f < 1:
            raise ConfigError(f"{self.name}: a {input_frames} x {n_mels} patch is too small for a flatten_fc head")
        self.embedding_dim = embedding_dim or channels
        self.input_frames, self.n_mels = input_frames, n_mels
        self.embed = nn.Linear(channels * out_t * out_f, self.embedding_dim)

    def check_patch(self, x: torch.Tensor) -> None:
        if self.input_frames is not None and tuple(x.shape[-2:]) != (self.input_frames, self.n_mels):
            raise ConfigError(f"{self.name} takes {self.input_frames} x {self.n_mels} patches (frames x bands; its "
                              f"fully-connected head is built for that size), got {x.shape[-2]} x {x.shape[-1]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_patch(x)
        fmap = self.trunk(x)
        if self.embed is None:
            return self.pool(fmap)
        return self.embed(fmap.flatten(1))


__all__ = ["EMBEDDING_HEADS", "Backbone", "ceil_halvings"]
