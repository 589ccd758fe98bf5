"""Helpers shared by the editorial association modules."""

from __future__ import annotations

from .base import PairContext, PairsResult
from .editorial import EditorialPairs, shared_entities
from .index import ENTITY_KINDS


def editorial_result(ctx: PairContext, pairs: EditorialPairs) -> PairsResult:
    """A result with the shared releases / artists / labels of every pair."""
    shared = {kind: shared_entities(ctx.index.entities[kind], pairs.anchors, pairs.positives) for kind in ENTITY_KINDS}
    return PairsResult(anchors=pairs.anchors, positives=pairs.positives, shared=shared,
                       counts={"skipped_no_partner": pairs.skipped, "fallback_searches": pairs.fallbacks})
