"""Dataset statistics gathered while ingesting: counts, distinct tracks/artists/albums and the
playlist length distribution. Memory is bounded by the number of distinct artists and albums
(sets of keys) and distinct playlist lengths (a counter), never by the number of entries.

Distinct artists count ``artist_key`` where the source has one, else ``artist_name``; albums
likewise (``album_key`` else ``album_name``); both over the kept (first-seen) metadata of each
distinct track.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

# Upper bounds of the length histogram buckets (lengths are entries per playlist).
LENGTH_BUCKETS = (0, 4, 9, 24, 49, 99, 249, 499, 999, 9999)


class PlaylistStats:
    """Accumulates statistics from playlist lengths and newly seen tracks."""

    def __init__(self) -> None:
        self.lengths: Counter[int] = Counter()
        self.artists: set[str] = set()
        self.albums: set[str] = set()
        self.tracks = 0

    def add_lengths(self, lengths: Iterable[int]) -> None:
        self.lengths.update(lengths)

    def add_tracks(self, artist_keys: list, artist_names: list, album_keys: list, album_names: list) -> None:
        """Register the metadata of tracks seen for the first time."""
        self.tracks += len(artist_keys)
        for key, name in zip(artist_keys, artist_names):
            ident = key if key is not None else name
            if ident is not None:
                self.artists.add(ident)
        for key, name in zip(album_keys, album_names):
            ident = key if key is not None else name
            if ident is not None:
                self.albums.add(ident)

    def summary(self) -> dict[str, Any]:
        """Flat figures (playlists, entries, distinct counts, length quantiles) and the histogram."""
        playlists = sum(self.lengths.values())
        entries = sum(length * n for length, n in self.lengths.items())
        out: dict[str, Any] = {
            "playlists": playlists,
            "entries": entries,
            "unique_tracks": self.tracks,
            "unique_artists": len(self.artists),
            "unique_albums": len(self.albums),
        }
        if playlists:
            ordered = sorted(self.lengths.items())
            out["length_min"] = ordered[0][0]
            out["length_max"] = ordered[-1][0]
            out["length_mean"] = round(entries / playlists, 3)
            for name, q in (("length_p10", 0.1), ("length_median", 0.5), ("length_p90", 0.9), ("length_p99", 0.99)):
                out[name] = _quantile(ordered, playlists, q)
        out["length_histogram"] = self.histogram()
        return out

    def histogram(self) -> dict[str, int]:
        """Playlists per length bucket, e.g. ``{"0": 2, "1-4": 10, ..., ">=10000": 0}``."""
        hist: dict[str, int] = {}
        lower = 0
        for upper in LENGTH_BUCKETS:
            label = str(upper) if lower == upper else f"{lower}-{upper}"
            hist[label] = sum(n for length, n in self.lengths.items() if lower <= length <= upper)
            lower = upper + 1
        hist[f">={lower}"] = sum(n for length, n in self.lengths.items() if length >= lower)
        return hist


def _quantile(ordered: list[tuple[int, int]], total: int, q: float) -> int:
    """Lower q-quantile of a value -> count table: smallest v with cumulative count >= q * total."""
    target = q * total
    cumulative = 0
    for value, n in ordered:
        cumulative += n
        if cumulative >= target:
            return value
    return ordered[-1][0]
