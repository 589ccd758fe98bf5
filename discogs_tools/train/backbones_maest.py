"""MAEST: the spectrogram transformer with patchout of seed 004 ch. 6.

Architecture (seed 004 sec. 6.2): the ViT / AST / PaSST encoder. The 96-band mel input is cut into
16 x 16 patches with a stride of 10 x 10; each patch ``x_{t,f}`` is linearly projected (``P``, a
16 x 16 convolution with stride 10) and the *separate* trainable time and frequency encodings are
added, ``k0_{t,f} = P(x_{t,f}) + te_t + fe_f``. Two trainable tokens, ``cls`` and ``dist`` (DeiT,
PaSST), start the sequence; 12 pre-norm transformer blocks follow. The classifier reads the average
of ``cls^12`` and ``dist^12`` (after the final layer norm): that average is this backbone's
``forward`` output, and the style head of :mod:`.objectives` is the linear classifier on it. At the
published width (768, 12 heads, MLP 3072: DeiT-B's and PaSST's, not stated in seed 004) the encoder
holds 85.3M (MAEST-5s/10s) to 85.4M (MAEST-30s) parameters, 85.6-85.7M with the 400-style classifier,
against the seed's "close to 87 million" (tests/test_maest_backbone.py counts them).

Patchout (seed 004 sec. 6.2, 6.3.6): while training, whole rows (frequency) and columns (time) of
the patch grid are discarded after the encodings are added, drawn afresh for every batch from
torch's generator (seeded by the run). MAEST-5s drops 3 frequency and 15 time patches; the time
patchout grows with the segment (30 / 60 / 90 for 10 / 20 / 30 s): 3 per second,
:func:`default_time_patchout`. Inference patchout (sec. 6.3.8), off by default: keep one out of
every ``inference_time_stride`` time patches, and drop the frequency rows listed in
``inference_drop_freq``.

Segments: 5, 10, 20 or 30 s of 16 ms frames (16 kHz, hop 256, seed 004 sec. 6.3.1), i.e.
``seconds * 16000 // 256`` = 312, 625, 1250, 1875 frames (:func:`segment_frames`).

Embeddings (seed 004 sec. 6.3.3-6.3.4): ``cls^n``, ``dist^n`` and ``avg^n`` (the mean of the patch
tokens) after ``n`` blocks, stacked in the order asked; default ``(cls^7, dist^7, avg^7)``, the
stack the seed settles on. :meth:`Maest.track_embedding` gives it; ``embed`` averages it over
half-overlapped segments of the whole track (train/embed.py).

Input normalisation (seed 004 sec. 6.3.1, "the mean and standard deviation of the training set"):
the backbone holds ``input_mean`` / ``input_std`` as buffers, set by the trainer from the training
tracks (:mod:`.input_stats`) before the first step; they are saved in every checkpoint, so
``embed`` and ``probe`` apply the run's own statistics.

Parameter names follow the public PaSST layout (``patch_embed.proj``, ``cls_token``,
``dist_token``, ``new_pos_embed``, ``freq_new_pos_embed``, ``time_new_pos_embed``,
``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``), so that weights in that
layout or in DeiT's load with few conversions (:mod:`.maest_init`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .backbones_base import Backbone

PATCH = 16                 # seed 004 sec. 6.2: 16 x 16 patches
STRIDE = 10                # seed 004 sec. 6.2: stride of 10 x 10
WIDTH, DEPTH, HEADS, MLP_RATIO = 768, 12, 12, 4  # depth: seed 004 sec. 6.2 (12 blocks); width, heads, MLP ratio:
                                                 # not in seed 004, DeiT-B's / PaSST's, whose weights MAEST loads
SAMPLE_RATE, HOP = 16000, 256                    # seed 004 sec. 6.3.1: 16 kHz, 16 ms hop
SEGMENT_SECONDS = (5, 10, 20, 30)                # seed 004 sec. 6.2: MAEST-5s ... MAEST-30s
FREQ_PATCHOUT = 3                                # seed 004 sec. 6.2: 3 frequency patches
TIME_PATCHOUT_PER_5S = 15                        # seed 004 sec. 6.2 / 6.3.6: 15, 30, 60, 90 for 5, 10, 20, 30 s
EMBED_BLOCK = 7                                  # seed 004 sec. 6.3.4: the stack (cls^7, dist^7, avg^7)
EMBED_TOKENS = ("cls", "dist", "avg")
TOKEN_NAMES = ("cls", "dist", "avg")
LAYERNORM_EPS = 1e-6                             # ViT / DeiT / PaSST layer norms


def segment_frames(seconds: float) -> int:
    """Frames of a segment of ``seconds`` (16 ms frames): 312, 625, 1250, 1875 for 5/10/20/30 s."""
    return int(seconds * SAMPLE_RATE // HOP)


def grid_size(frames: int, bands: int = 96) -> tuple[int, int]:
    """(frequency patches, time patches) of a frames x bands input: 16-wide patches, stride 10."""
    return (bands - PATCH) // STRIDE + 1, (frames - PATCH) // STRIDE + 1


def default_time_patchout(frames: int) -> int:
    """Time patches dropped while training: 15 per 5 s (seed 004 sec. 6.3.6: 15, 30, 60, 90)."""
    return round(frames * HOP / SAMPLE_RATE * TIME_PATCHOUT_PER_5S / 5)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"maest: width {dim} is not a multiple of {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """``P``: one trainable linear map per 16 x 16 patch, as a strided convolution (B, 1, F, T) ->
    (B, width, F', T')."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, dim, PATCH, STRIDE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Maest(Backbone):
    """(batch, 1, frames, bands) -> mean of cls^L and dist^L (batch, width); see the module doc.

    ``embed_block`` None: block 7, or the last block of a shallower model."""

    name = "maest"

    def __init__(self, *, input_frames: int = 625, n_mels: int = 96, width: int = WIDTH, depth: int = DEPTH,
                 heads: int = HEADS, mlp_ratio: int = MLP_RATIO, patchout_time: int | None = None,
                 patchout_freq: int = FREQ_PATCHOUT, embed_block: int | None = None,
                 embed_tokens: Sequence[str] = EMBED_TOKENS) -> None:
        super().__init__()
        if input_frames < PATCH or n_mels < PATCH:
            raise ConfigError(f"maest: a {input_frames} x {n_mels} input holds no 16 x 16 patch")
        self.n_freq, self.n_time = grid_size(input_frames, n_mels)
        self.patchout_time = default_time_patchout(input_frames) if patchout_time is None else int(patchout_time)
        self.patchout_freq = int(patchout_freq)
        if not 0 <= self.patchout_time < self.n_time or not 0 <= self.patchout_freq < self.n_freq:
            raise ConfigError(f"maest: patchout of {self.patchout_freq} frequency and {self.patchout_time} time "
                              f"patches must leave some of the {self.n_freq} x {self.n_time} grid "
                              f"({input_frames} frames x {n_mels} bands)")
        self.width, self.depth = width, depth
        self.embedding_head = "cls_dist"
        self.embedding_dim = width
        self.input_frames, self.n_mels = input_frames, n_mels
        self.embed = None
        self.patch_embed = PatchEmbed(width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, width))
        self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, width))                 # of cls and dist
        self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, width, self.n_freq, 1))  # fe_f
        self.time_new_pos_embed = nn.Parameter(torch.zeros(1, width, 1, self.n_time))  # te_t
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=LAYERNORM_EPS)
        self.register_buffer("input_mean", torch.zeros(()))
        self.register_buffer("input_std", torch.ones(()))
        self.inference_time_stride = 1
        self.inference_drop_freq: tuple[int, ...] = ()
        self.set_embedding(min(EMBED_BLOCK, depth) if embed_block is None else embed_block, embed_tokens)
        self._init_weights()

    # ------------------------------------------------------------------ set-up
    def _init_weights(self) -> None:
        """Random initialisation as ViT/DeiT: truncated normal (std 0.02) for tokens, encodings and
        linear weights, zero biases, unit layer norms."""
        for p in (self.cls_token, self.dist_token, self.new_pos_embed, self.freq_new_pos_embed,
                  self.time_new_pos_embed):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def set_embedding(self, block: int, tokens: Sequence[str]) -> None:
        """Which tokens of which block :meth:`track_embedding` stacks (block 1..depth)."""
        tokens = tuple(tokens)
        if not 1 <= int(block) <= self.depth:
            raise ConfigError(f"maest: embedding block {block} is not one of 1..{self.depth}")
        bad = [t for t in tokens if t not in TOKEN_NAMES]
        if bad or not tokens:
            raise ConfigError(f"maest: embedding tokens {list(tokens)} must be some of {', '.join(TOKEN_NAMES)}")
        self.embed_block, self.embed_tokens = int(block), tokens
        self.track_embedding_dim = self.width * len(tokens)

    def set_inference_patchout(self, time_stride: int = 1, drop_freq: Sequence[int] = ()) -> None:
        """Inference patchout (seed 004 sec. 6.3.8): keep one time patch in ``time_stride``, drop the
        frequency rows ``drop_freq`` (0 is the lowest band); used outside training only."""
        drop = tuple(sorted({int(f) for f in drop_freq}))
        if time_stride < 1:
            raise ConfigError(f"maest: inference time stride must be at least 1, got {time_stride}")
        if any(not 0 <= f < self.n_freq for f in drop) or len(drop) >= self.n_freq:
            raise ConfigError(f"maest: frequency rows to drop {list(drop)} must be some (not all) of 0..{self.n_freq - 1}")
        self.inference_time_stride, self.inference_drop_freq = int(time_stride), drop

    def set_input_stats(self, mean: float, std: float) -> None:
        """The training set's mean and standard deviation (seed 004 sec. 6.3.1)."""
        if not math.isfinite(mean) or not math.isfinite(std) or std <= 0:
            raise ConfigError(f"maest: input statistics mean {mean}, std {std} are not usable")
        self.input_mean.fill_(float(mean))
        self.input_std.fill_(float(std))

    # ------------------------------------------------------------------ forward
    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised input -> patch grid with encodings (B, width, F', T') -> patchout -> (B, n, width)."""
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-1] != self.n_mels:
            raise ConfigError(f"maest takes (batch, 1, frames, {self.n_mels}) inputs, got {tuple(x.shape)}")
        if x.shape[2] > self.input_frames:
            raise ConfigError(f"maest: built for {self.input_frames} frames, got {x.shape[2]} "
                              "(embed cuts tracks into segments of the run's length)")
        x = (x - self.input_mean) / self.input_std
        grid = self.patch_embed(x.transpose(2, 3))            # (B, width, F', T'): frequency rows, time columns
        n_time = grid.shape[-1]
        grid = grid + self.time_new_pos_embed[..., :n_time] + self.freq_new_pos_embed
        grid = self.drop_patches(grid)
        return grid.flatten(2).transpose(1, 2)

    def drop_patches(self, grid: torch.Tensor) -> torch.Tensor:
        """Structured patchout: whole rows/columns, random while training (the same for the batch,
        as PaSST), the fixed inference patchout otherwise."""
        n_freq, n_time = grid.shape[2], grid.shape[3]
        if self.training:
            if self.patchout_time:
                keep = torch.randperm(n_time)[: n_time - min(self.patchout_time, n_time - 1)].sort().values
                grid = grid[:, :, :, keep.to(grid.device)]
            if self.patchout_freq:
                keep = torch.randperm(n_freq)[: n_freq - self.patchout_freq].sort().values
                grid = grid[:, :, keep.to(grid.device), :]
            return grid
        if self.inference_time_stride > 1:
            grid = grid[:, :, :, :: self.inference_time_stride]
        if self.inference_drop_freq:
            keep = [f for f in range(n_freq) if f not in self.inference_drop_freq]
            grid = grid[:, :, keep, :]
        return grid

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """k^0: cls and dist tokens (with their encodings) followed by the patch tokens."""
        patches = self.patch_tokens(x)
        b = patches.shape[0]
        cls = self.cls_token.expand(b, -1, -1) + self.new_pos_embed[:, :1]
        dist = self.dist_token.expand(b, -1, -1) + self.new_pos_embed[:, 1:]
        return torch.cat([cls, dist, patches], dim=1)

    def hidden_states(self, x: torch.Tensor, blocks: int | None = None) -> list[torch.Tensor]:
        """[k^1, ..., k^n] for the first ``blocks`` blocks (all by default)."""
        k = self.sequence(x)
        out = []
        for block in self.blocks[: blocks or self.depth]:
            k = block(k)
            out.append(k)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = self.norm(self.hidden_states(x)[-1])
        return (last[:, 0] + last[:, 1]) / 2  # seed 004 sec. 6.2: the average of cls^12 and dist^12

    def block_embedding(self, x: torch.Tensor, block: int, tokens: Sequence[str]) -> torch.Tensor:
        """(cls^n | dist^n | avg^n, ...) concatenated in the order of ``tokens`` (sec. 6.3.3)."""
        k = self.hidden_states(x, block)[-1]
        parts = {"cls": lambda: k[:, 0], "dist": lambda: k[:, 1], "avg": lambda: k[:, 2:].mean(1)}
        return torch.cat([parts[t]() for t in tokens], dim=1)

    def track_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding ``embed`` writes: the configured block and tokens (default cls^7, dist^7, avg^7)."""
        return self.block_embedding(x, self.embed_block, self.embed_tokens)


def maest_from_config(cfg: Any, n_mels: int = 96) -> Maest:
    """The MAEST a TrainConfig describes (width, depth, heads, segment, patchout, embedding)."""
    return Maest(input_frames=cfg.crop_frames, n_mels=n_mels, width=cfg.maest_width, depth=cfg.maest_depth,
                 heads=cfg.maest_heads, patchout_time=cfg.patchout_time, patchout_freq=cfg.patchout_freq,
                 embed_block=cfg.embed_block, embed_tokens=tuple(cfg.embed_tokens))


__all__ = ["EMBED_BLOCK", "EMBED_TOKENS", "Maest", "default_time_patchout", "grid_size", "maest_from_config",
           "segment_frames"]
