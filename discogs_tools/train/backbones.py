"""Backbones: a mel patch (batch, 1, frames, bands) -> an embedding (batch, embedding_dim).

- ``efficientnet_b0``: EfficientNet-B0 (Tan & Le 2019) with a 1-channel stem, written here
  because torchvision is not a dependency. The block table, squeeze-excitation size
  (a quarter of the block's *input* channels), stochastic depth (0.2, linear in depth) and the
  1280-channel head follow torchvision's definition, so the parameter count without the
  classifier is torchvision's 4,007,548 minus the 576 stem weights of the two missing input
  channels: 4,006,972. The backbone of ISMIR 2022 (seed 004 sec. 4.3.2). Embedding: the global
  average of the 1280-channel map (``pool``), or the ISMIR 2022 embedding layer (``flatten_fc``,
  seed 000 sec. 4.2): 1280 units on the flattened map, which for 128 x 96 patches is
  4 x 3 x 1280 = 15,360 values (five stride-2 layers halve each side, rounding up).
- ``small_cnn``: four conv-BN-ReLU-maxpool blocks (32-64-128-256) and global average pooling;
  ~0.4M parameters, for quick CPU runs and tests.
- ``vggish``: VGGish as published, with the first pooling 4x4 (ICASSP 2023, seed 004 sec. 5.3.2);
  see backbones_vgg.py.
- ``resnet50``: the standard ResNet50 with a 1-channel stem and max+mean pooling to 4,096 values
  (seed 004 sec. 5.3.2); see backbones_resnet.py.
- ``maest``: the spectrogram transformer with patchout of seed 004 ch. 6 (12 blocks at width 768,
  ~87M parameters; width and depth selectable); see backbones_maest.py.

``build_backbone`` builds one by name; ``backbone_from_config`` builds the one a TrainConfig names
(use it wherever a checkpoint's backbone is rebuilt, so that the head, its size and the patch
length always come from the saved config). Embedding heads: see backbones_base.py.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .backbones_base import Backbone, ceil_halvings

BACKBONE_NAMES = ("efficientnet_b0", "small_cnn", "vggish", "resnet50", "maest")
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


class EfficientNetB0(Backbone):
    """EfficientNet-B0 for 1-channel mel patches; ``embedding_dim`` 1280 unless ``flatten_fc`` says otherwise."""

    name = "efficientnet_b0"
    head_channels = 1280

    def __init__(self, in_channels: int = 1, stochastic_depth: float = 0.2, *, embedding_head: str = "pool",
                 embedding_dim: int | None = None, input_frames: int = 128, n_mels: int = 96) -> None:
        super().__init__()
        total = sum(r for *_, r in B0_STAGES)
        layers: list[nn.Module] = [conv_bn_act(in_channels, 32, 3, 2)]
        cin, index = 32, 0
        for expand, kernel, stride, cout, repeats in B0_STAGES:
            for r in range(repeats):
                layers.append(MBConv(cin, cout, expand, kernel, stride if r == 0 else 1,
                                     stochastic_depth * index / total))
                cin, index = cout, index + 1
        layers.append(conv_bn_act(cin, self.head_channels, 1))
        self.features = nn.Sequential(*layers)
        # the stem and four stages have stride 2 (B0_STAGES), each rounding up
        halvings = 1 + sum(1 for _, _, stride, _, _ in B0_STAGES if stride == 2)
        self._set_head(embedding_head, self.head_channels, ceil_halvings(input_frames, halvings),
                       ceil_halvings(n_mels, halvings), embedding_dim, input_frames, n_mels)
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


class SmallCNN(Backbone):
    """Four conv blocks and global average pooling; a fast backbone for CPU runs."""

    name = "small_cnn"

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 128, 256), *,
                 embedding_head: str = "pool", embedding_dim: int | None = None, input_frames: int = 128,
                 n_mels: int = 96) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        n = len(widths)  # 2x2 max pools round down
        self._set_head(embedding_head, cin, input_frames >> n, n_mels >> n, embedding_dim, input_frames, n_mels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


def build_backbone(name: str, cnn_width: int = 32, *, embedding_head: str = "pool",
                   embedding_dim: int | None = None, input_frames: int = 128, n_mels: int = 96) -> Backbone:
    """A backbone by name (one of BACKBONE_NAMES; ``cnn_width`` is small_cnn's first-block width).

    ``embedding_head`` is ``pool`` or ``flatten_fc`` (backbones_base.py); ``embedding_dim`` is the
    flatten_fc size (None: the channel count of the last map) or VGGish's output size (None: 128);
    ``input_frames`` x ``n_mels`` is the patch a flatten_fc head (and VGGish) is built for.
    """
    kw: dict[str, Any] = {"embedding_head": embedding_head, "embedding_dim": embedding_dim,
                          "input_frames": input_frames, "n_mels": n_mels}
    if name == "efficientnet_b0":
        return EfficientNetB0(**kw)
    if name == "small_cnn":
        return SmallCNN(widths=tuple(cnn_width * m for m in (1, 2, 4, 8)), **kw)
    if name == "vggish":
        from .backbones_vgg import VGGish

        return VGGish(**kw)
    if name == "resnet50":
        from .backbones_resnet import ResNet50

        return ResNet50(**kw)
    if name == "maest":
        from .backbones_maest import Maest

        return Maest(input_frames=input_frames, n_mels=n_mels)
    raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONE_NAMES)}")


def backbone_from_config(cfg: Any, n_mels: int = 96) -> Backbone:
    """The backbone a TrainConfig describes (name, small_cnn width, head, head size, patch length).
    Configs saved before embedding heads existed lack those fields and get the earlier architecture."""
    if cfg.backbone == "maest":
        from .backbones_maest import maest_from_config

        return maest_from_config(cfg, n_mels=n_mels)
    return build_backbone(cfg.backbone, cfg.cnn_width, embedding_head=getattr(cfg, "embedding_head", "pool"),
                          embedding_dim=getattr(cfg, "embedding_dim", None),
                          input_frames=getattr(cfg, "crop_frames", 128), n_mels=n_mels)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["BACKBONE_NAMES", "EfficientNetB0", "SmallCNN", "backbone_from_config", "build_backbone",
           "count_parameters"]
