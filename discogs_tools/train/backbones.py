"""Backbones: a mel patch (batch, 1, frames, bands) -> an embedding (batch, dim).

- ``efficientnet_b0``: EfficientNet-B0 (Tan & Le 2019) with a 1-channel stem, written here
  because torchvision is not a dependency. The block table, squeeze-excitation size
  (a quarter of the block's *input* channels), stochastic depth (0.2, linear in depth) and the
  1280-channel head follow torchvision's definition, so the parameter count without the
  classifier is torchvision's 4,007,548 minus the 576 stem weights of the two missing input
  channels: 4,006,972. The embedding is the global average of the head: 1280 values.
- ``small_cnn``: four conv-BN-ReLU-maxpool blocks (32-64-128-256) and global average pooling;
  ~0.4M parameters, for quick CPU runs and tests.
"""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, out channels, repeats) per stage of EfficientNet-B0.
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class StochasticDepth(nn.Module):
    """Drops the whole residual branch of a sample with probability ``p`` while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation (EfficientNet's block)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, drop: float) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn_act(cin, hidden, 1))
        layers += [conv_bn_act(hidden, hidden, kernel, stride, groups=hidden),
                   SqueezeExcitation(hidden, max(1, cin // 4)),
                   conv_bn_act(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        self.drop = StochasticDepth(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.drop(out) if self.residual else out


class EfficientNetB0(nn.Module):
    """EfficientNet-B0 feature extractor for 1-channel mel patches; ``embedding_dim`` = 1280."""

    embedding_dim = 1280

    def __init__(self, in_channels: int = 1, stochastic_depth: float = 0.2) -> None:
        super().__init__()
        total = sum(r for *_, r in B0_STAGES)
        layers: list[nn.Module] = [conv_bn_act(in_channels, 32, 3, 2)]
        cin, index = 32, 0
        for expand, kernel, stride, cout, repeats in B0_STAGES:
            for r in range(repeats):
                layers.append(MBConv(cin, cout, expand, kernel, stride if r == 0 else 1,
                                     stochastic_depth * index / total))
                cin, index = cout, index + 1
        layers.append(conv_bn_act(cin, self.embedding_dim, 1))
        self.features = nn.Sequential(*layers)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean((2, 3))


class SmallCNN(nn.Module):
    """Four conv blocks and global average pooling; a fast backbone for CPU runs."""

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.embedding_dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean((2, 3))


def build_backbone(name: str, cnn_width: int = 32) -> nn.Module:
    """A backbone by name (``efficientnet_b0`` or ``small_cnn`` with first-block width ``cnn_width``)."""
    if name == "efficientnet_b0":
        return EfficientNetB0()
    if name == "small_cnn":
        return SmallCNN(widths=tuple(cnn_width * m for m in (1, 2, 4, 8)))
    raise ValueError(f"unknown backbone {name!r}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["EfficientNetB0", "SmallCNN", "build_backbone", "count_parameters"]
