"""ResNet50 (He et al. 2016) as the ICASSP 2023 playlist models use it (seed 004 sec. 5.3.2: "the
standard ResNet50 model").

Layout: 7x7/2 convolution of 64 channels, BN, ReLU, 3x3/2 max pooling, then bottleneck stages of
[3, 4, 6, 3] blocks with widths 64, 128, 256, 512 (1x1 -> 3x3 -> 1x1 with 4x the width out; the
first block of a stage projects its shortcut with a 1x1 convolution + BN, and stages 2-4 start with
stride 2). The stride sits on the 3x3 convolution, as in torchvision ("ResNet v1.5"); the
parameter count is the same either way. Module names follow torchvision, so its weights would
load after summing the stem over its three input channels.

Differences from the standard ImageNet model, and nothing else: 1 input channel (a mel patch), so
the stem has 64 x 7 x 7 = 3,136 weights instead of 9,408; no 1000-class fully-connected layer. That
leaves 25,557,032 - 2,049,000 - 6,272 = 23,501,760 parameters.

Embedding (``pool``): global max- and mean-pooling of the last 2048-channel map, concatenated
(max first): 4,096 values (seed 004 sec. 5.3.2). ``flatten_fc``: a fully-connected layer on the
flattened map (2048 x ceil(frames / 32) x 3 for 96 bands) of ``embedding_dim`` units (default 2048).

Initialisation as torchvision's: Kaiming-normal convolutions (fan-out, ReLU), BN weight 1, bias 0.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones_base import Backbone, ceil_halvings

RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (width, blocks)
EXPANSION = 4


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50(Backbone):
    """ResNet50 trunk for 1-channel mel patches; ``pool`` gives max+mean pooling (4,096 values)."""

    name = "resnet50"

    def __init__(self, in_channels: int = 1, *, embedding_head: str = "pool", embedding_dim: int | None = None,
                 input_frames: int = 128, n_mels: int = 96) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks) in enumerate(RESNET50_STAGES):
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(cin, width, 2 if (b == 0 and i > 0) else 1))
                cin = width * EXPANSION
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        # stem convolution, max pool and three strided stages: five halvings, rounding up
        self._set_head(embedding_head, cin, ceil_halvings(input_frames, 5), ceil_halvings(n_mels, 5),
                       embedding_dim, input_frames, n_mels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def pooled_dim(self, channels: int) -> int:
        return 2 * channels

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        return torch.cat([fmap.amax((2, 3)), fmap.mean((2, 3))], 1)


__all__ = ["RESNET50_STAGES", "ResNet50"]
