"""Filters on a neighbour's metadata: styles, a year range, labels, and "not the query's artist".

Styles and labels are compared case-insensitively against every style / label pooled over the
track's linked releases (:mod:`.metadata`); a track passes a style (label) filter when it has any
of the styles (labels) asked for. A track whose year is unknown fails a year filter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .metadata import TrackInfo


@dataclass(frozen=True)
class Filters:
    styles: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    labels: tuple[str, ...] = ()
    exclude_same_artist: bool = False

    def __post_init__(self) -> None:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ConfigError(f"year range {self.year_min}-{self.year_max} is empty (the first year is after the last)")

    @property
    def active(self) -> bool:
        return bool(self.styles or self.labels or self.exclude_same_artist
                    or self.year_min is not None or self.year_max is not None)

    def keep(self, track: TrackInfo, query: TrackInfo | None = None) -> bool:
        """True when ``track`` passes every filter (``query``: the query's metadata, if known)."""
        if self.styles and not _any_of(self.styles, track.styles):
            return False
        if self.labels and not _any_of(self.labels, track.labels):
            return False
        if self.year_min is not None and (track.year is None or track.year < self.year_min):
            return False
        if self.year_max is not None and (track.year is None or track.year > self.year_max):
            return False
        if self.exclude_same_artist and query is not None and track.same_artist(query):
            return False
        return True


def _any_of(wanted: tuple[str, ...], have: list[str]) -> bool:
    have_folded = {h.casefold() for h in have}
    return any(w.casefold() in have_folded for w in wanted)


def parse_years(text: str | None) -> tuple[int | None, int | None]:
    """``"1990-1999"``, ``"1995"``, ``"1990-"`` or ``"-1999"`` as (first, last); None = open."""
    if not text:
        return None, None
    first, sep, last = text.partition("-")
    try:
        lo = int(first) if first.strip() else None
        hi = (int(last) if last.strip() else None) if sep else lo
    except ValueError:
        raise ConfigError(f"--years {text!r}: expected YEAR, FIRST-LAST, FIRST- or -LAST") from None
    return lo, hi
