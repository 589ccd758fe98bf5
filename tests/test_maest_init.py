"""Initial weights for MAEST from a local file in the public PaSST-S-S16 or DeiT-B/384 layout (seed 004
sec. 6.2, 6.3.5), with tiny random state dicts in those layouts: names, encoding interpolation (values
at matching positions kept), the 3-channel patch projection, and one-line errors naming the tensors."""

from __future__ import annotations

import pytest
import torch

from discogs_tools.train.backbones_maest import Maest
from discogs_tools.train.maest_init import (
    InitWeightsError,
    load_initial_weights,
    resize,
)

WIDTH, DEPTH, CLASSES = 32, 2, 7


def encoder_tensors(width: int = WIDTH, depth: int = DEPTH, in_chans: int = 1) -> dict[str, torch.Tensor]:
    """The tensors a ViT/DeiT/PaSST encoder shares (public names), random, plus classifier heads."""
    g = torch.Generator().manual_seed(1)
    r = lambda *shape: torch.randn(*shape, generator=g)
    sd = {"patch_embed.proj.weight": r(width, in_chans, 16, 16), "patch_embed.proj.bias": r(width),
          "cls_token": r(1, 1, width), "dist_token": r(1, 1, width), "norm.weight": r(width), "norm.bias": r(width),
          "head.weight": r(CLASSES, width), "head.bias": r(CLASSES), "head_dist.weight": r(CLASSES, width),
          "head_dist.bias": r(CLASSES)}
    for i in range(depth):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": r(width), p + "norm1.bias": r(width), p + "attn.qkv.weight": r(3 * width, width),
                   p + "attn.qkv.bias": r(3 * width), p + "attn.proj.weight": r(width, width),
                   p + "attn.proj.bias": r(width), p + "norm2.weight": r(width), p + "norm2.bias": r(width),
                   p + "mlp.fc1.weight": r(4 * width, width), p + "mlp.fc1.bias": r(4 * width),
                   p + "mlp.fc2.weight": r(width, 4 * width), p + "mlp.fc2.bias": r(width)})
    return sd


def passt_layout(n_freq: int = 12, n_time: int = 31) -> dict[str, torch.Tensor]:
    """PaSST-S-S16: separate encodings (1, D, F, 1) and (1, D, 1, T); its head is LayerNorm + Linear."""
    sd = encoder_tensors()
    g = torch.Generator().manual_seed(2)
    sd.update({"new_pos_embed": torch.randn(1, 2, WIDTH, generator=g),
               "freq_new_pos_embed": torch.randn(1, WIDTH, n_freq, 1, generator=g),
               "time_new_pos_embed": torch.randn(1, WIDTH, 1, n_time, generator=g)})
    del sd["head.weight"], sd["head.bias"]
    sd.update({"head.0.weight": torch.ones(WIDTH), "head.0.bias": torch.zeros(WIDTH),
               "head.1.weight": torch.zeros(CLASSES, WIDTH), "head.1.bias": torch.zeros(CLASSES)})
    return sd


def deit_layout(side: int = 4) -> dict[str, torch.Tensor]:
    """DeiT-B/384 distilled: one pos_embed (1, 2 + G*G, D), 3-channel patch projection."""
    sd = encoder_tensors(in_chans=3)
    sd["pos_embed"] = torch.randn(1, 2 + side * side, WIDTH, generator=torch.Generator().manual_seed(3))
    return sd


def target(frames: int = 316) -> Maest:
    torch.manual_seed(0)
    return Maest(input_frames=frames, width=WIDTH, depth=DEPTH, heads=2)  # 9 x 31 grid for 316 frames


def save(tmp_path, sd, name="w.pt", wrap=None):
    path = tmp_path / name
    torch.save({wrap: sd} if wrap else sd, path)
    return path


def test_passt_layout_loads_and_interpolates_the_encodings(tmp_path):
    sd = passt_layout(n_freq=17, n_time=16)
    model = target(frames=316)  # grid 9 x 31: frequency 17 -> 9 and time 16 -> 31 both keep every other position
    info = load_initial_weights(model, save(tmp_path, sd, wrap="model"))
    assert info["layout"] == "passt" and info["grid"] == [9, 31] and info["source_grid"] == [17, 16]
    state = model.state_dict()
    for name in ("blocks.1.attn.qkv.weight", "patch_embed.proj.weight", "cls_token", "dist_token", "new_pos_embed",
                 "norm.bias"):
        assert torch.equal(state[name], sd[name]), name
    # aligned-corner interpolation: frequency 17 -> 9 keeps every other source row (0, 2, ..., 16)
    assert torch.allclose(state["freq_new_pos_embed"], sd["freq_new_pos_embed"][:, :, ::2], atol=1e-5)
    # time 16 -> 31: the source columns land on the even target columns
    assert torch.allclose(state["time_new_pos_embed"][..., ::2], sd["time_new_pos_embed"], atol=1e-5)
    assert float(state["input_mean"]) == 0.0  # the run's statistics are not taken from the file


def test_same_grid_is_copied_and_resize_keeps_end_points():
    t = torch.randn(1, 5, 1, 8)
    assert torch.equal(resize(t, (1, 8)), t)
    wider = resize(t, (1, 15))
    assert torch.allclose(wider[..., ::2], t, atol=1e-5)
    narrower = resize(t, (1, 3))
    assert torch.allclose(narrower[..., 0], t[..., 0], atol=1e-6) and torch.allclose(narrower[..., -1], t[..., -1], atol=1e-6)


def test_deit_layout_splits_the_position_grid_into_time_and_frequency_encodings(tmp_path):
    sd = deit_layout(side=4)
    model = target(frames=316)
    info = load_initial_weights(model, save(tmp_path, {f"module.{k}": v for k, v in sd.items()}))
    assert info["layout"] == "deit"
    state = model.state_dict()
    assert torch.allclose(state["patch_embed.proj.weight"], sd["patch_embed.proj.weight"].sum(1, keepdim=True))
    assert torch.equal(state["new_pos_embed"], sd["pos_embed"][:, :2])
    grid = resize(sd["pos_embed"][0, 2:].reshape(4, 4, WIDTH).permute(2, 0, 1)[None], (9, 31))
    assert torch.allclose(state["freq_new_pos_embed"], grid.mean(3, keepdim=True))
    assert torch.allclose(state["time_new_pos_embed"], grid.mean(2, keepdim=True))
    assert torch.equal(state["blocks.0.mlp.fc2.weight"], sd["blocks.0.mlp.fc2.weight"])
    model.eval()
    assert torch.isfinite(model(torch.randn(1, 1, 316, 96))).all()


def test_a_file_that_does_not_fit_fails_naming_the_tensors(tmp_path):
    sd = passt_layout()
    del sd["blocks.1.mlp.fc1.bias"]
    sd["blocks.0.attn.proj.weight"] = torch.zeros(WIDTH, WIDTH + 1)
    with pytest.raises(InitWeightsError) as info:
        load_initial_weights(target(), save(tmp_path, sd))
    message = str(info.value)
    assert "\n" not in message
    assert "missing blocks.1.mlp.fc1.bias" in message
    assert "blocks.0.attn.proj.weight file (32, 33) vs model (32, 32)" in message
    # a deeper file: its extra blocks are named
    with pytest.raises(InitWeightsError, match=r"unexpected blocks\.2\."):
        load_initial_weights(target(), save(tmp_path, {**passt_layout(), **encoder_tensors(depth=3)}, "deep.pt"))


def test_neither_layout_and_a_non_distilled_deit_fail_clearly(tmp_path):
    sd = encoder_tensors()
    with pytest.raises(InitWeightsError, match="neither the PaSST layout"):
        load_initial_weights(target(), save(tmp_path, sd))
    single = deit_layout()
    single["pos_embed"] = single["pos_embed"][:, 1:]
    with pytest.raises(InitWeightsError, match="distilled DeiT"):
        load_initial_weights(target(), save(tmp_path, single, "single.pt"))
    with pytest.raises(Exception, match="initial weights file"):
        load_initial_weights(target(), tmp_path / "absent.pt")
