"""Backbones (shapes, parameter counts) and objective heads (losses checked against direct formulas)."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from discogs_tools.errors import ConfigError
from discogs_tools.train.backbones import (
    BACKBONE_NAMES,
    EfficientNetB0,
    backbone_from_config,
    build_backbone,
    count_parameters,
)
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.objectives import ColaHead, SimClrHead, StyleHead


def test_efficientnet_b0_one_channel_parameter_count_and_shape():
    net = EfficientNetB0()
    # torchvision's efficientnet_b0 without its classifier has 4,007,548 parameters for 3 input
    # channels; a 1-channel stem has 2 x 32 x 3 x 3 = 576 weights fewer.
    assert count_parameters(net) == 4_007_548 - 576
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 128, 96))
    assert out.shape == (2, 1280)


def test_small_cnn_shapes_and_width():
    for width, dim in ((32, 256), (8, 64)):
        net = build_backbone("small_cnn", width)
        assert net.embedding_dim == dim
        assert net(torch.randn(3, 1, 128, 96)).shape == (3, dim)
    assert count_parameters(build_backbone("small_cnn")) < 500_000


def test_cola_loss_is_cross_entropy_over_bilinear_similarities():
    torch.manual_seed(0)
    head = ColaHead(16, 8)
    a, p = torch.randn(5, 16), torch.randn(5, 16)
    loss, correct, n = head(a, p)
    za, zp = head.project(a), head.project(p)
    logits = za @ (zp @ head.bilinear.weight.T).T
    assert torch.allclose(loss, F.cross_entropy(logits, torch.arange(5)))
    assert n == 5 and int(correct) == int((logits.argmax(1) == torch.arange(5)).sum())


def test_ntxent_matches_the_simclr_definition():
    torch.manual_seed(0)
    head = SimClrHead(16, 8, temperature=0.1)
    a, p = torch.randn(4, 16), torch.randn(4, 16)
    loss, _, n = head(a, p)
    z = F.normalize(torch.cat([head.project(a), head.project(p)]), dim=1)
    sim = z @ z.T / 0.1
    total = 0.0
    for i in range(8):
        j = (i + 4) % 8
        others = [k for k in range(8) if k != i]
        total += -sim[i, j] + torch.logsumexp(sim[i, others], 0)
    assert n == 8
    assert math.isclose(loss.item(), (total / 8).item(), rel_tol=1e-5)


def test_style_head_multilabel_soft_margin_and_top1():
    head = StyleHead(4, 3)
    with torch.no_grad():
        head.classify.weight.copy_(torch.eye(3, 4))
        head.classify.bias.zero_()
    x = torch.tensor([[5.0, 0, 0, 0], [0, 0, 5.0, 0]])
    targets = torch.tensor([[1.0, 0, 1.0], [1.0, 0, 0]])
    loss, correct, n = head(x, targets)
    assert int(correct) == 1 and n == 2
    assert torch.allclose(loss, F.multilabel_soft_margin_loss(head.classify(x), targets))


def test_small_cnn_trains_a_step_in_channels_last():
    net = build_backbone("small_cnn", 8).to(memory_format=torch.channels_last)
    x = torch.randn(2, 1, 64, 96).to(memory_format=torch.channels_last)
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


# ---- issue 12: the published backbones (VGGish, ResNet50), embedding heads, names ----------------


def _conv(cin: int, cout: int, k: int, bias: bool) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def _fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_backbone_names_are_exported_in_order():
    assert BACKBONE_NAMES == ("efficientnet_b0", "small_cnn", "vggish", "resnet50", "maest")
    from discogs_tools.train.config import BACKBONES

    assert BACKBONES == BACKBONE_NAMES  # config validates names without importing torch


def test_unknown_backbone_is_a_config_error_listing_the_valid_names():
    with pytest.raises(ConfigError, match="unknown backbone 'vgg16'.*efficientnet_b0, small_cnn, vggish, resnet50"):
        build_backbone("vgg16")


def test_vggish_published_layout_shape_and_parameter_count(one_torch_thread):
    # VGGish (Hershey et al. 2017; seed 004 sec. 5.3.2): conv64-pool-conv128-pool-conv256x2-pool-
    # conv512x2-pool-fc4096-fc4096-fc128, 3x3 convolutions with biases, no batch norm, 1 input channel.
    # Seed 004 sec. 5.3.2/5.3.3: 96-band, 256-frame patches and a 4x4 first pooling instead of 2x2, so
    # the last feature map is (256/4/2/2/2) x (96/4/2/2/2) = 8 x 3 x 512 = 12,288 values: the same
    # flatten size as the original (96 frames x 64 bands -> 6 x 4 x 512), hence the same count.
    torch.manual_seed(0)
    net = build_backbone("vggish", input_frames=256)
    convs = [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    flat = (256 // 4 // 2 // 2 // 2) * (96 // 4 // 2 // 2 // 2) * 512
    assert flat == (96 // 16) * (64 // 16) * 512 == 12_288
    expected = sum(_conv(a, b, 3, True) for a, b in convs) + _fc(flat, 4096) + _fc(4096, 4096) + _fc(4096, 128)
    # 72,141,184: the released VGGish checkpoint (vggish_slim.py layout, 64 bands); seed 004 sec. 3.3.1
    # gives "62 million", which these layer sizes do not support.
    assert expected == 72_141_184
    assert count_parameters(net) == expected
    pools = [m.kernel_size for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [4, 2, 2, 2]
    assert [(m.in_channels, m.out_channels) for m in net.modules() if isinstance(m, torch.nn.Conv2d)] == convs
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net.embedding_dim == 128 and net.input_frames == 256
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 256, 96))
    assert out.shape == (2, 128)


def test_vggish_flatten_size_follows_the_patch_length(one_torch_thread):
    # 2-s patches (128 frames): 4 x 3 x 512 = 6,144 inputs to the first fully-connected layer;
    # odd lengths round up like TensorFlow's SAME pooling (100 -> 25 -> 13 -> 7 -> 4).
    for frames, t in ((128, 4), (100, 4), (90, 3)):
        net = build_backbone("vggish", input_frames=frames, embedding_dim=16)
        fc1 = next(m for m in net.modules() if isinstance(m, torch.nn.Linear))
        assert fc1.in_features == t * 3 * 512
        assert net(torch.randn(2, 1, frames, 96)).shape == (2, 16)


def _bottleneck(cin: int, width: int, downsample: bool) -> int:
    def bn(c: int) -> int:  # weight and bias of a batch norm
        return 2 * c

    n = _conv(cin, width, 1, False) + bn(width) + _conv(width, width, 3, False) + bn(width)
    n += _conv(width, 4 * width, 1, False) + bn(4 * width)
    if downsample:
        n += _conv(cin, 4 * width, 1, False) + bn(4 * width)
    return n


def test_resnet50_standard_layout_one_channel_and_parameter_count(one_torch_thread):
    # ResNet50 (He et al. 2016; seed 004 sec. 5.3.2): 7x7/2 stem of 64, 3x3/2 max pool, bottleneck
    # stages [3, 4, 6, 3] of widths 64-128-256-512 (x4 out). Ours: 1 input channel, no 1000-class fc.
    total = _conv(1, 64, 7, False) + 2 * 64
    cin = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            total += _bottleneck(cin, width, b == 0)
            cin = 4 * width
    standard = 25_557_032  # torchvision resnet50: 3 channels, fc 2048 -> 1000
    assert total == standard - _fc(2048, 1000) - 2 * 64 * 7 * 7
    torch.manual_seed(0)
    net = build_backbone("resnet50", input_frames=128)
    assert count_parameters(net) == total
    # seed 004 sec. 5.3.2: global max- and mean-pooling, concatenated: 4,096 dimensions
    assert net.embedding_dim == 4096 and net.input_frames is None
    net.eval()
    x = torch.randn(2, 1, 128, 96)
    with torch.no_grad():
        out = net(x)
        fmap = net.trunk(x)
    assert out.shape == (2, 4096) and fmap.shape == (2, 2048, 4, 3)
    assert torch.equal(out, torch.cat([fmap.amax((2, 3)), fmap.mean((2, 3))], 1))


def test_efficientnet_flatten_fc_head_is_1280_units_on_the_flattened_last_block(one_torch_thread):
    # ISMIR 2022 (seed 000 sec. 4.2, seed 004 sec. 4.3.2): a fully-connected layer of 1280 units on the
    # flattened output of the last convolutional block; 128 x 96 patches -> 4 x 3 x 1280 values.
    net = build_backbone("efficientnet_b0", embedding_head="flatten_fc", input_frames=128)
    assert net.embedding_dim == 1280 and net.input_frames == 128
    assert count_parameters(net) == 4_007_548 - 576 + _fc(4 * 3 * 1280, 1280)
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 128, 96))
    assert out.shape == (2, 1280)
    small = build_backbone("efficientnet_b0", embedding_head="flatten_fc", embedding_dim=32, input_frames=100)
    assert small.embedding_dim == 32  # 100 frames -> 50, 25, 13, 7, 4
    assert count_parameters(small) == 4_007_548 - 576 + _fc(4 * 3 * 1280, 32)
    with pytest.raises(ConfigError, match="100 x 96.*got 128 x 96"):
        small(torch.randn(2, 1, 128, 96))


def test_flatten_fc_head_fits_any_patch_length(one_torch_thread):
    for name, frames in (("small_cnn", 16), ("small_cnn", 37), ("resnet50", 45), ("efficientnet_b0", 33)):
        net = build_backbone(name, 4, embedding_head="flatten_fc", embedding_dim=8, input_frames=frames)
        assert net(torch.randn(2, 1, frames, 96)).shape == (2, 8)


def test_pool_head_embedding_dim_must_match_the_channels():
    assert build_backbone("small_cnn", 8, embedding_dim=64).embedding_dim == 64
    with pytest.raises(ConfigError, match="embedding_dim 100.*flatten_fc"):
        build_backbone("small_cnn", 8, embedding_dim=100)
    with pytest.raises(ConfigError, match="unknown embedding head 'max'"):
        build_backbone("small_cnn", 8, embedding_head="max")


def test_pool_backbones_keep_the_parameter_names_of_earlier_checkpoints():
    # Old checkpoints (before embedding heads) must still load: same state_dict keys and shapes.
    for name, width, n, digest in (("efficientnet_b0", 32, 358, "82504cdd91fc2845"),
                                   ("small_cnn", 8, 24, "abd4b452a3b250ba")):
        sd = build_backbone(name, width).state_dict()
        text = ";".join(f"{k}:{tuple(v.shape)}" for k, v in sd.items())
        assert (len(sd), hashlib.sha256(text.encode()).hexdigest()[:16]) == (n, digest)


def test_backbone_from_config_passes_head_dim_and_patch_length():
    cfg = TrainConfig(run="r", features="f", backbone="small_cnn", cnn_width=4, embedding_head="flatten_fc",
                      embedding_dim=24, crop_frames=48)
    net = backbone_from_config(cfg)
    assert (net.embedding_dim, net.input_frames) == (24, 48)
    assert net(torch.randn(2, 1, 48, 96)).shape == (2, 24)
