"""label: the positive p of anchor a satisfies |L(a) ∩ L(p)| > 0 and |A(a) ∩ A(p)| = 0 (DESIGN section 4).

Drawn by the shared editorial sampler (:mod:`.editorial`); the pairs carry the releases,
artists and labels both tracks share.
"""

from __future__ import annotations

from .base import PairContext, PairsResult
from .editorial import pair_editorial
from .shared import editorial_result

NAME = "label"
POSITIVE = "labels"
EXCLUSION = "artists"


def generate(ctx: PairContext) -> PairsResult:
    exclusion = ctx.index.entities[EXCLUSION] if EXCLUSION else None
    pairs = pair_editorial(ctx.index.entities[POSITIVE], exclusion, ctx.rng)
    return editorial_result(ctx, pairs)
