"""Helpers shared by the editorial association modules."""

from __future__ import annotations

from .base import PairContext, PairsResult
from .editorial import EditorialPairs, pair_editorial, shared_entities
from .index import ENTITY_KINDS


def editorial_result(ctx: PairContext, pairs: EditorialPairs) -> PairsResult:
    """A result with the shared releases / artists / labels of every pair."""
    shared = {kind: shared_entities(ctx.index.entities[kind], pairs.anchors, pairs.positives) for kind in ENTITY_KINDS}
    return PairsResult(anchors=pairs.anchors, positives=pairs.positives, shared=shared,
                       counts={"skipped_no_partner": pairs.skipped, "fallback_searches": pairs.fallbacks})


def generate_editorial(ctx: PairContext, positive: str, exclusion: str | None) -> PairsResult:
    """The pairs of an editorial association: tracks sharing a ``positive`` entity and (when
    ``exclusion`` is given) no ``exclusion`` entity, drawn by :func:`.editorial.pair_editorial`."""
    excluded = ctx.index.entities[exclusion] if exclusion else None
    return editorial_result(ctx, pair_editorial(ctx.index.entities[positive], excluded, ctx.rng))
