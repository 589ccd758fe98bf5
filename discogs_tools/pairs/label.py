"""label: the positive p of anchor a satisfies |L(a) ∩ L(p)| > 0 and |A(a) ∩ A(p)| = 0 (DESIGN section 4).

Drawn by the shared editorial sampler (:mod:`.editorial`); the pairs carry the releases,
artists and labels both tracks share.
"""

from __future__ import annotations

from .base import PairContext, PairsResult
from .shared import generate_editorial

NAME = "label"
POSITIVE = "labels"
EXCLUSION = "artists"


def generate(ctx: PairContext) -> PairsResult:
    return generate_editorial(ctx, POSITIVE, EXCLUSION)
