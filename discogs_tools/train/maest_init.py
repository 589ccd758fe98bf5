"""Initialise a MAEST backbone from a local weights file in the public DeiT or PaSST layout.

Seed 004 sec. 6.2 / 6.3.5 starts MAEST from "the DeiT B-384 model pre-trained on ImageNet", from
"the PaSST S S16 model pre-trained on mel-spectrograms from AudioSet" (the best, used for the
published models) or from random weights, and "take[s] existing PaSST frequency and temporal
encodings and interpolate[s] them to the target shape". Nothing is downloaded: the user passes a
file they have (``train --init-weights FILE``).

Layouts (the public tensor names; a ``model`` / ``state_dict`` wrapper and ``module.`` / ``net.``
prefixes are removed first):

- PaSST-S-S16 (``kkoutini/PaSST``, ``passt_s_swa_p16_128_ap476``): ``patch_embed.proj.weight``
  (D, 1, 16, 16), ``cls_token``, ``dist_token``, ``new_pos_embed`` (1, 2, D),
  ``freq_new_pos_embed`` (1, D, F, 1), ``time_new_pos_embed`` (1, D, 1, T) (F x T = 12 x 99 for
  its 128 bands x 998 frames), ``blocks.N.*``, ``norm.*``. The two encodings are interpolated to
  this model's grid (9 frequency rows for 96 bands; 30 / 61 / 124 / 186 time columns for 5 / 10 /
  20 / 30 s).
- DeiT-B/384 distilled (timm ``deit_base_distilled_patch16_384``): ``pos_embed`` (1, 2 + 24 x 24,
  D) instead of the three encodings, and a 3-channel ``patch_embed.proj.weight`` (D, 3, 16, 16).
  As PaSST adapts ImageNet models: the first two positions become ``new_pos_embed``, the 24 x 24
  grid is interpolated to this model's F x T grid, and its mean over time gives the frequency
  encoding, its mean over frequency the time encoding; the patch projection sums the three input
  channels (one mel channel sees the sum of the RGB filters).

Classifier tensors (``head.*``, ``head_dist.*``, ``pre_logits.*``) are dropped: the style head is
new. Interpolation is bicubic with aligned corners, so positions that fall on the source grid keep
their values exactly (tests/test_maest_init.py). Any tensor that is missing, unexpected or of the
wrong shape after the conversion is an error naming those tensors, in one line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, MissingInputError

WRAPPERS = ("model", "state_dict")
PREFIXES = ("module.", "net.")
CLASSIFIER_PREFIXES = ("head.", "head_dist.", "pre_logits.")
NOT_LOADED = ("input_mean", "input_std")  # the run's own statistics (seed 004 sec. 6.3.1)


class InitWeightsError(ConfigError):
    """The weights file does not fit the MAEST being trained (one line naming the tensors)."""


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save``d state dict (plain, or wrapped in ``model`` / ``state_dict``)."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError("initial weights file (DeiT-B/384 or PaSST-S-S16 layout)", path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise InitWeightsError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    for key in WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise InitWeightsError(f"{path}: not a state dict of tensors")
    out = {}
    for name, value in obj.items():
        for prefix in PREFIXES:
            name = name.removeprefix(prefix)
        out[name] = value
    return out


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, aligned corners, on a (1, D, H, W) tensor (source grid positions keep their values)."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t.clone()
    return F.interpolate(t.float(), size=size, mode="bicubic", align_corners=True).to(t.dtype)


def detect_layout(state: dict[str, torch.Tensor]) -> str:
    if "time_new_pos_embed" in state and "freq_new_pos_embed" in state:
        return "passt"
    if "pos_embed" in state:
        return "deit"
    raise InitWeightsError("weights are in neither the PaSST layout (freq_new_pos_embed, time_new_pos_embed) "
                           "nor the DeiT layout (pos_embed)")


def convert(state: dict[str, torch.Tensor], n_freq: int, n_time: int) -> tuple[str, dict[str, torch.Tensor]]:
    """(layout, the state converted to MAEST names and this grid); classifier tensors dropped."""
    layout = detect_layout(state)
    out = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}
    if layout == "passt":
        freq, time = out["freq_new_pos_embed"], out["time_new_pos_embed"]
        if freq.dim() != 4 or time.dim() != 4:
            raise InitWeightsError(f"PaSST encodings must be (1, D, F, 1) and (1, D, 1, T), got "
                                   f"freq_new_pos_embed {tuple(freq.shape)}, time_new_pos_embed {tuple(time.shape)}")
        out["freq_new_pos_embed"] = resize(freq, (n_freq, 1))
        out["time_new_pos_embed"] = resize(time, (1, n_time))
    else:
        pos = out.pop("pos_embed")
        length = pos.shape[1]
        side = next((g for g in (math.isqrt(length - t) for t in (2, 1)) if g * g in (length - 2, length - 1)), None)
        if pos.dim() != 3 or side is None or length - side * side != 2:
            raise InitWeightsError(f"DeiT pos_embed {tuple(pos.shape)} is not (1, 2 + G*G, D): MAEST needs the "
                                   "distilled DeiT (cls and dist tokens)")
        out["new_pos_embed"] = pos[:, :2].clone()
        grid = pos[0, 2:].reshape(side, side, -1).permute(2, 0, 1).unsqueeze(0)
        grid = resize(grid, (n_freq, n_time))
        out["freq_new_pos_embed"] = grid.mean(dim=3, keepdim=True)
        out["time_new_pos_embed"] = grid.mean(dim=2, keepdim=True)
    proj = out.get("patch_embed.proj.weight")
    if proj is not None and proj.dim() == 4 and proj.shape[1] == 3:
        out["patch_embed.proj.weight"] = proj.float().sum(dim=1, keepdim=True).to(proj.dtype)
    return layout, out


def load_initial_weights(backbone, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a DeiT/PaSST weights file into a :class:`~.backbones_maest.Maest`; returns what was done
    (layout, tensors loaded, source and target grids). Raises :class:`InitWeightsError` when any
    tensor does not fit, naming them."""
    raw = read_state_dict(path)
    src_grid = tuple(raw["freq_new_pos_embed"].shape[2:3]) + tuple(raw["time_new_pos_embed"].shape[3:4]) \
        if "time_new_pos_embed" in raw and "freq_new_pos_embed" in raw else None
    try:
        layout, state = convert(raw, backbone.n_freq, backbone.n_time)
    except InitWeightsError as exc:
        raise InitWeightsError(f"{path}: {exc}") from None
    expected = {k: v for k, v in backbone.state_dict().items() if k not in NOT_LOADED}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for what, names in (("missing", missing), ("unexpected", unexpected)):
            if names:
                parts.append(f"{what} {_listed(names)}")
        if wrong:
            shown = [f"{k} file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}" for k in wrong[:4]]
            parts.append("wrong shape " + ", ".join(shown) + (f" (+{len(wrong) - 4} more)" if len(wrong) > 4 else ""))
        raise InitWeightsError(f"{path}: {layout} weights do not fit maest (width {backbone.width}, depth "
                               f"{backbone.depth}): " + "; ".join(parts))
    backbone.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
    return {"layout": layout, "tensors": len(state), "source_grid": list(src_grid) if src_grid else None,
            "grid": [backbone.n_freq, backbone.n_time], "path": str(path)}


def _listed(names: list[str], shown: int = 6) -> str:
    return ", ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "")


__all__ = ["InitWeightsError", "convert", "load_initial_weights", "read_state_dict", "resize"]
