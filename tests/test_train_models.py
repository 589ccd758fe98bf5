"""Backbones (shapes, parameter counts) and objective heads (losses checked against direct formulas)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from discogs_tools.train.backbones import EfficientNetB0, build_backbone, count_parameters
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
