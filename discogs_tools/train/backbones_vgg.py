"""VGGish (Hershey et al. 2017) as the ICASSP 2023 playlist models use it (seed 004 sec. 5.3.2).

Published layout (a VGG variant, seed 004 sec. 5.3.2; the reference definition is the one seed 004
footnote 42 points to, tensorflow/models research/audioset/vggish):

    conv64 - pool - conv128 - pool - conv256 x2 - pool - conv512 x2 - pool - fc4096 - fc4096 - fc128

3x3 convolutions with stride 1, SAME padding and biases, ReLU after every convolution and after
the two fc4096 layers, no batch normalisation; 2x2/2 max pooling; the 128-unit embedding layer is
linear (activation_fn=None in the reference); 1 input channel (a log-mel patch).

The one change the thesis states (seed 004 sec. 5.3.2): on our 96-band patches the first pooling
kernel is 4x4 (stride 4) instead of 2x2, "to keep the number of dimensions after the convolutional
layers close to the one in the original model". Pools round up like the reference's SAME pooling,
so the last map has ceil(frames / 32) x ceil(96 / 32) = t x 3 positions of 512 channels:

- the published patch of seed 004 sec. 5.3.3, 256 frames x 96 bands: 8 x 3 x 512 = 12,288 inputs to
  fc1, exactly the original's 6 x 4 x 512 (96 frames x 64 bands, four 2x2 pools), so the parameter
  count is the reference's 72,141,184;
- 2-s patches (128 frames): 4 x 3 x 512 = 6,144 inputs to fc1.

We keep every layer up to and including the 128-d embedding (the reference stops there too; its
classifier is not part of VGGish). ``embedding_dim`` changes the last layer's size (default 128).
VGGish's head *is* a fully-connected stack on the flattened last block, so ``embedding_head``
``pool`` and ``flatten_fc`` give the same network; either way it takes ``input_frames`` x
``n_mels`` patches only.

Initialisation (the seed states none; we searched ch. 5): torchvision's VGG recipe, Kaiming-normal
convolutions (fan-out, ReLU), N(0, 0.01) fully-connected weights, zero biases.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .backbones_base import EMBEDDING_HEADS, Backbone

# (output channels, convolutions) per block; each block ends with a max pool.
VGGISH_BLOCKS = ((64, 1), (128, 1), (256, 2), (512, 2))
FIRST_POOL = 4   # seed 004 sec. 5.3.2 (2 in the original)
FC_UNITS = 4096
OUTPUT_DIM = 128  # seed 004 sec. 5.3.2: "It has 128 output dimensions"


class VGGish(Backbone):
    """VGGish with a 4x4 first pooling; (batch, 1, frames, bands) -> (batch, 128)."""

    name = "vggish"

    def __init__(self, in_channels: int = 1, *, embedding_head: str = "pool", embedding_dim: int | None = None,
                 input_frames: int = 256, n_mels: int = 96) -> None:
        super().__init__()
        if embedding_head not in EMBEDDING_HEADS:
            raise ConfigError(f"unknown embedding head {embedding_head!r}; choose one of {', '.join(EMBEDDING_HEADS)}")
        layers: list[nn.Module] = []
        cin, t, f = in_channels, input_frames, n_mels
        for i, (cout, convs) in enumerate(VGGISH_BLOCKS):
            for _ in range(convs):
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
            k = FIRST_POOL if i == 0 else 2
            layers.append(nn.MaxPool2d(k, k, ceil_mode=True))  # ceil_mode: TensorFlow SAME pooling
            t, f = -(-t // k), -(-f // k)
        self.features = nn.Sequential(*layers)
        self.embedding_head = "flatten_fc"
        self.embedding_dim = embedding_dim or OUTPUT_DIM
        self.input_frames, self.n_mels = input_frames, n_mels
        self.embed = nn.Sequential(nn.Linear(cin * t * f, FC_UNITS), nn.ReLU(inplace=True),
                                   nn.Linear(FC_UNITS, FC_UNITS), nn.ReLU(inplace=True),
                                   nn.Linear(FC_UNITS, self.embedding_dim))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_patch(x)
        return self.embed(self.features(x).flatten(1))


__all__ = ["VGGISH_BLOCKS", "VGGish"]
