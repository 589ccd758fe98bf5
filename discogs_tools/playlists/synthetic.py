"""Seeded synthetic playlist data with MPD-like statistics, for benchmarks and tests.

Playlist lengths follow a log-normal clipped to 5..250 (mean about 66, as in the MPD); track
popularity is Zipf-like (p(rank r) ~ 1 / (r + 10)), over a catalogue of about 2.26 tracks per
playlist (the MPD has 2.26M distinct tracks in 1M playlists). Artists and albums are derived
from the track number (about 8 tracks per album, 3 albums per artist). Everything depends only
on the seed.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Iterator

import numpy as np
import orjson

_ALPHABET = np.array(list(string.digits + string.ascii_letters))


def playlist_lengths(rng: np.random.Generator, n: int, low: int = 5, high: int = 250) -> np.ndarray:
    return np.clip(np.round(rng.lognormal(np.log(50.0), 0.8, n)), low, high).astype(np.int64)


def zipf_tracks(rng: np.random.Generator, n: int, catalogue: int, offset: float = 10.0) -> np.ndarray:
    """``n`` track numbers in [0, catalogue) with probability ~ 1 / (rank + offset)."""
    # Inverse CDF of the continuous density 1/(x + offset) on [0, catalogue).
    u = rng.random(n)
    x = offset * ((catalogue + offset) / offset) ** u - offset
    return np.minimum(x.astype(np.int64), catalogue - 1)


def spotify_id(number: int, kind: str) -> str:
    """A 22-character base62 id derived from a number (deterministic, unique per number)."""
    return spotify_ids(np.array([number]), kind)[0]


def spotify_ids(numbers: np.ndarray, kind: str) -> list[str]:
    """Vectorised :func:`spotify_id`: ``spotify:<kind>:`` + 22 base62 digits of a scrambled number."""
    n = numbers.astype(np.uint64)
    value = (n * np.uint64(2654435761) + np.uint64(12345)) ^ np.uint64(0x5DEECE66D)
    filler = n * np.uint64(0x9E3779B97F4A7C15)
    digits = np.empty((numbers.size, 22), dtype="<U1")
    for i in range(22):
        source = value if i < 11 else filler
        digits[:, i] = _ALPHABET[(source % np.uint64(62)).astype(np.int64)]
        source //= np.uint64(62)
    # The first 11 digits encode the (unique, bijectively scrambled) number; the rest look random.
    prefix = f"spotify:{kind}:"
    return [prefix + "".join(row) for row in digits]


def entries(n_playlists: int, seed: int = 0, catalogue: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Playlist lengths and the concatenated track numbers of all playlists."""
    rng = np.random.default_rng(seed)
    catalogue = catalogue or max(10, int(2.26 * n_playlists))
    lengths = playlist_lengths(rng, n_playlists)
    tracks = zipf_tracks(rng, int(lengths.sum()), catalogue)
    return lengths, tracks


def mpd_slices(folder: Path, n_playlists: int, seed: int = 0, per_slice: int = 1000,
               catalogue: int | None = None) -> Iterator[Path]:
    """Write ``mpd.slice.A-B.json`` files with all MPD fields into ``folder``; yields their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths, tracks = entries(n_playlists, seed, catalogue)
    offsets = np.r_[0, np.cumsum(lengths)]
    top = int(tracks.max()) + 1
    numbers = np.arange(top)
    track_uri = spotify_ids(numbers, "track")
    album_uri = spotify_ids(numbers // 8, "album")
    artist_uri = spotify_ids(numbers // 24, "artist")
    for first in range(0, n_playlists, per_slice):
        last = min(first + per_slice, n_playlists) - 1
        playlists = []
        for pid in range(first, last + 1):
            numbers = tracks[offsets[pid]:offsets[pid + 1]].tolist()
            items = [{
                "pos": pos,
                "artist_name": f"Artist {t // 24}",
                "track_uri": track_uri[t],
                "artist_uri": artist_uri[t],
                "track_name": f"Track number {t}",
                "album_uri": album_uri[t],
                "duration_ms": 120_000 + (t * 7919) % 240_000,
                "album_name": f"Album {t // 8}",
            } for pos, t in enumerate(numbers)]
            playlists.append({
                "name": f"playlist {pid}", "collaborative": "false", "pid": pid,
                "modified_at": 1_400_000_000 + pid, "num_tracks": len(items),
                "num_albums": len({t // 8 for t in numbers}), "num_followers": 1 + pid % 7,
                "tracks": items, "num_edits": 1 + pid % 5,
                "duration_ms": sum(i["duration_ms"] for i in items),
                "num_artists": len({t // 24 for t in numbers}),
            })
        doc = {"info": {"generated_on": "synthetic", "slice": f"{first}-{last}", "version": "v1"},
               "playlists": playlists}
        path = folder / f"mpd.slice.{first}-{last}.json"
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        yield path
