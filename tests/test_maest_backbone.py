"""MAEST backbone (seed 004 ch. 6): patch grid per segment length, patchout (training and inference),
parameter count at the published width, block embeddings and their sizes, input normalisation."""

from __future__ import annotations

import pytest
import torch

from discogs_tools.errors import ConfigError
from discogs_tools.train.backbones import backbone_from_config, count_parameters
from discogs_tools.train.backbones_maest import (
    Maest,
    default_time_patchout,
    grid_size,
    segment_frames,
)
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.model import TrainModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(frames: int = 64, **kw) -> Maest:
    torch.manual_seed(0)
    return Maest(input_frames=frames, width=32, depth=4, heads=2, **kw)


@pytest.mark.parametrize("seconds, frames, n_time, patchout", [(5, 312, 30, 15), (10, 625, 61, 30),
                                                                (20, 1250, 124, 60), (30, 1875, 186, 90)])
def test_patch_grid_and_seed_patchout_per_segment_length(seconds, frames, n_time, patchout):
    # 16 kHz, hop 256 (sec. 6.3.1); 16x16 patches, stride 10 over 96 bands (sec. 6.2): 9 frequency rows
    assert segment_frames(seconds) == frames
    assert grid_size(frames, 96) == (9, n_time)
    assert default_time_patchout(frames) == patchout  # sec. 6.3.6: 15, 30, 60, 90
    model = Maest(input_frames=frames, width=16, depth=1, heads=2)
    assert (model.n_freq, model.n_time, model.patchout_freq, model.patchout_time) == (9, n_time, 3, patchout)
    x = torch.randn(2, 1, frames, 96)
    model.train()
    assert model.sequence(x).shape == (2, 2 + (9 - 3) * (n_time - patchout), 16)
    model.eval()
    assert model.sequence(x).shape == (2, 2 + 9 * n_time, 16)


def _indexed_grid(n_freq: int, n_time: int) -> torch.Tensor:
    """(1, 2, F, T) whose channel 0 holds the row index and channel 1 the column index."""
    f = torch.arange(n_freq, dtype=torch.float32)[:, None].expand(n_freq, n_time)
    t = torch.arange(n_time, dtype=torch.float32)[None, :].expand(n_freq, n_time)
    return torch.stack([f, t])[None]


def test_training_patchout_removes_exactly_the_requested_rows_and_columns():
    model = Maest(input_frames=312, width=16, depth=1, heads=2)
    model.train()
    grid = _indexed_grid(9, 30)
    seen_rows, seen_cols = set(), set()
    for _ in range(20):
        out = model.drop_patches(grid)
        assert out.shape == (1, 2, 9 - 3, 30 - 15)
        rows = out[0, 0, :, 0].long().tolist()
        cols = out[0, 1, 0, :].long().tolist()
        # whole rows and columns: every kept row holds the same kept columns, in order, and vice versa
        assert torch.equal(out[0, 0], torch.tensor(rows, dtype=torch.float32)[:, None].expand(6, 15))
        assert torch.equal(out[0, 1], torch.tensor(cols, dtype=torch.float32)[None, :].expand(6, 15))
        assert rows == sorted(set(rows)) and cols == sorted(set(cols))
        seen_rows.update(rows)
        seen_cols.update(cols)
    assert seen_rows == set(range(9)) and seen_cols == set(range(30))  # random rows/columns, not fixed ones


def test_inference_patchout_keeps_one_time_patch_in_t_and_drops_the_listed_rows():
    model = Maest(input_frames=312, width=16, depth=1, heads=2)
    model.eval()
    grid = _indexed_grid(9, 30)
    assert torch.equal(model.drop_patches(grid), grid)  # off by default
    model.set_inference_patchout(time_stride=3, drop_freq=(0, 7, 8))  # sec. 6.3.8: first and two last rows
    out = model.drop_patches(grid)
    assert out[0, 0, :, 0].long().tolist() == [1, 2, 3, 4, 5, 6]
    assert out[0, 1, 0, :].long().tolist() == list(range(0, 30, 3))
    with pytest.raises(ConfigError, match="frequency rows"):
        model.set_inference_patchout(drop_freq=(9,))


def test_published_width_has_close_to_87m_parameters_and_the_classifier_reads_cls_dist_mean():
    cfg = TrainConfig(run="r", features="f", objective="classification", associations=(), backbone="maest",
                      crop_frames=312)
    model = TrainModel(cfg, n_styles=400)
    encoder = count_parameters(model.backbone)
    total = count_parameters(model)
    assert total - encoder == 768 * 400 + 400          # one linear classifier on a 768-d input
    assert 85_000_000 < encoder < 87_500_000 and 85_000_000 < total < 87_500_000
    assert len(model.backbone.blocks) == 12 and model.backbone.embedding_dim == 768


def test_forward_is_the_mean_of_normalised_cls_and_dist_of_the_last_block():
    model = tiny()
    model.eval()
    x = torch.randn(3, 1, 64, 96)
    last = model.norm(model.hidden_states(x)[-1])
    assert torch.allclose(model(x), (last[:, 0] + last[:, 1]) / 2)


@pytest.mark.parametrize("block", [1, 3, 4])
def test_block_embeddings_have_the_stated_sizes_and_tokens(block):
    model = tiny()
    model.eval()
    x = torch.randn(2, 1, 64, 96)
    k = model.hidden_states(x)[block - 1]
    stack = model.block_embedding(x, block, ("cls", "dist", "avg"))
    assert stack.shape == (2, 3 * 32)
    assert torch.allclose(stack[:, :32], k[:, 0]) and torch.allclose(stack[:, 32:64], k[:, 1])
    assert torch.allclose(stack[:, 64:], k[:, 2:].mean(1))
    assert model.block_embedding(x, block, ("avg",)).shape == (2, 32)
    model.set_embedding(block, ("dist", "cls"))
    assert model.track_embedding_dim == 64
    assert torch.allclose(model.track_embedding(x), torch.cat([k[:, 1], k[:, 0]], 1))


def test_default_embedding_is_cls7_dist7_avg7_and_bad_choices_fail():
    model = Maest(input_frames=64, width=16, depth=12, heads=2)
    assert (model.embed_block, model.embed_tokens, model.track_embedding_dim) == (7, ("cls", "dist", "avg"), 48)
    with pytest.raises(ConfigError, match="block 13"):
        model.set_embedding(13, ("cls",))
    with pytest.raises(ConfigError, match="tokens"):
        model.set_embedding(3, ("mean",))
    with pytest.raises(ConfigError, match="embed_block"):
        TrainConfig(run="r", features="f", backbone="maest", maest_depth=2, embed_block=7)


def test_input_statistics_normalise_the_input():
    model = tiny()
    model.eval()
    x = torch.rand(2, 1, 64, 96) * 4
    reference = model((x - 2.0) / 0.5)
    model.set_input_stats(2.0, 0.5)
    assert torch.allclose(model(x), reference, atol=1e-6)
    assert float(model.state_dict()["input_mean"]) == 2.0  # saved with the checkpoint
    with pytest.raises(ConfigError):
        model.set_input_stats(1.0, 0.0)


def test_shorter_input_uses_the_first_time_encodings_and_longer_fails():
    model = tiny(frames=64)
    model.eval()
    assert model.sequence(torch.randn(1, 1, 40, 96)).shape[1] == 2 + 9 * grid_size(40)[1]
    with pytest.raises(ConfigError, match="built for 64 frames"):
        model(torch.randn(1, 1, 65, 96))


def test_backbone_from_config_builds_the_configured_maest():
    cfg = TrainConfig(run="r", features="f", backbone="maest", crop_frames=100, maest_width=24, maest_depth=3,
                      maest_heads=3, patchout_time=2, patchout_freq=1, embed_block=2, embed_tokens=("avg",))
    model = backbone_from_config(cfg)
    assert (model.width, model.depth, model.n_time, model.patchout_time, model.patchout_freq) == (24, 3, 9, 2, 1)
    assert (model.embed_block, model.embed_tokens, model.track_embedding_dim) == (2, ("avg",), 24)
