"""track: the anchor is its own positive (two crops of the same audio); every track of the
split once, in a seeded random order."""

from __future__ import annotations

from .base import PairContext, PairsResult

NAME = "track"
# Table 5.1 of seed 004 (sec. 5.3.3): the SimCLR baseline draws one pair per track.
TABLE_5_1 = ("SimCLR", "-", False)


def generate(ctx: PairContext) -> PairsResult:
    order = ctx.rng.permutation(ctx.index.n_tracks)
    return PairsResult(anchors=order, positives=order.copy())
