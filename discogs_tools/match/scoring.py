"""Match score: 1 minus a weighted mean of named penalties (title, artist, album, duration).

Each penalty is in [0, 1]: ``1 - similarity`` for the text fields (rapidfuzz on normalised
keys), and for durations 0 within ``duration_tolerance_s``, rising linearly to 1 at
``duration_max_s``. A component is left out (its weight too) when either side lacks it, so a
track without an album tag is not penalised for it. Weights and thresholds live in
:class:`MatchConfig` and are CLI options.

The functions work on whole columns (numpy arrays / lists), since candidates come in batches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class MatchConfig:
    """Thresholds and weights of matching (every field is a ``match`` option)."""

    threshold: float = 0.85
    """Links need a score at least this high."""
    min_title_sim: float = 0.75
    """Candidates whose title similarity is lower are discarded whatever the other parts say."""
    min_artist_sim: float = 0.75
    """Same for the artist (guards against 'Intro' by someone else)."""
    version_mismatch_sim: float = 0.5
    """Title similarity is capped at this when the version words differ ('Song' vs 'Song (Live)')."""
    weight_title: float = 3.0
    weight_artist: float = 3.0
    weight_album: float = 0.5
    weight_duration: float = 2.0
    duration_tolerance_s: float = 5.0
    """Duration differences up to this are not penalised."""
    duration_max_s: float = 30.0
    """A difference this large or larger is the full duration penalty."""
    duration_tolerance_share: float = 0.02
    """For long tracks the tolerance is this share of the longer duration when that is more than
    ``duration_tolerance_s`` (pressings of one live album split and fade a 14-minute track ~30 s apart)."""
    duration_max_share: float = 0.1
    """Likewise the full penalty needs at least this share of the longer duration."""
    max_block_size: int = 1000
    """Blocking keys shared by more recordings than this are ignored (too common to be useful)."""
    max_candidates: int = 50
    """Recordings scored per track at most: those sharing the most blocking keys with it."""
    expand_masters: bool = True
    """Also link other releases of a linked release's master that carry the same title."""
    expand_title_min: float = 0.9
    """Title similarity a track on another release of the master needs to be linked."""
    chunk_tracks: int = 50_000
    """Collection tracks matched per DuckDB round (bounds memory)."""
    text_fallback: bool = True
    """Tracks with an artist that link to nothing are matched once more as one mixed-up text
    (artist + title + album): half-filled tags with the album in the title field."""

    def __post_init__(self) -> None:
        for name in ("threshold", "min_title_sim", "min_artist_sim", "expand_title_min", "version_mismatch_sim",
                     "duration_tolerance_share", "duration_max_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        for name in ("weight_title", "weight_artist", "weight_album", "weight_duration", "duration_tolerance_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.weight_title + self.weight_artist <= 0:
            raise ConfigError("weight_title + weight_artist must be > 0")
        if self.duration_max_s <= self.duration_tolerance_s:
            raise ConfigError("duration_max_s must be larger than duration_tolerance_s")
        if self.max_block_size < 1 or self.chunk_tracks < 1 or self.max_candidates < 1:
            raise ConfigError("max_block_size, max_candidates and chunk_tracks must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_similarity(a: Sequence[str | None], b: Sequence[str | None]) -> np.ndarray:
    """Pairwise similarity in [0, 1] of aligned key lists: max of rapidfuzz ratio and token-sort ratio.

    Empty or missing keys on either side give 0.
    """
    from rapidfuzz import fuzz, process

    if len(a) == 0:
        return np.zeros(0)
    left = [x or "" for x in a]
    right = [x or "" for x in b]
    ratio = process.cpdist(left, right, scorer=fuzz.ratio, dtype=np.float32, workers=1)
    tsort = process.cpdist(left, right, scorer=fuzz.token_sort_ratio, dtype=np.float32, workers=1)
    sim = np.maximum(ratio, tsort).astype(np.float64) / 100.0
    empty = np.fromiter((not x or not y for x, y in zip(left, right)), dtype=bool, count=len(left))
    sim[empty] = 0.0
    return sim


def title_similarity(a: Sequence[str | None], b: Sequence[str | None], config: MatchConfig,
                     album_a: Sequence[str | None] | None = None,
                     album_b: Sequence[str | None] | None = None) -> np.ndarray:
    """Text similarity of title keys, capped at ``version_mismatch_sim`` when their version words
    or numbers differ: "song" and "song live", or "song part 2" and "song", are different
    recordings however alike the strings are (:func:`~.normalize.distinguishing_marks`).

    With the album keys of both sides (``album_a``, ``album_b``), a title that ends with an album's
    name is also compared without it (:func:`_album_suffix_similarity`).
    """
    from .normalize import distinguishing_marks

    sim = text_similarity(a, b)
    differ = np.fromiter((distinguishing_marks(x) != distinguishing_marks(y) for x, y in zip(a, b)), dtype=bool,
                         count=len(a))
    sim = np.where(differ, np.minimum(sim, config.version_mismatch_sim), sim)
    if album_a is not None or album_b is not None:
        sim = np.maximum(sim, _album_suffix_similarity(a, b, album_a, album_b))
    return sim


ALBUM_SUFFIX_MIN_WORDS = 2
"""Words an album name needs before a title ending with it is read as "title + album": a
one-word album ("21", "Story") is too likely to be a title's own last word."""


def _without_album(key: str | None, album: str | None) -> str | None:
    """``key`` without ``album`` at its end (and the article the album key dropped), or None."""
    from .normalize import ARTICLES

    if not key or not album or album.count(" ") + 1 < ALBUM_SUFFIX_MIN_WORDS or not key.endswith(" " + album):
        return None
    short = key[: -len(album) - 1]
    head, _, last = short.rpartition(" ")
    return head if head and last in ARTICLES else short


def _album_suffix_similarity(a: Sequence[str | None], b: Sequence[str | None],
                             album_a: Sequence[str | None] | None,
                             album_b: Sequence[str | None] | None) -> np.ndarray:
    """Title similarity of pairs where one title carries an album's name at its end.

    Store exports and song lists write ``"Pitch Black (Rotten to the Core)"`` or ``"Why Not -
    The Lizzie McGuire Movie"``: the title, then the album (the title key moves a bracket's
    words to the end, so both forms end with the album's key). When a title key ends with the
    key of either side's album (two words or more), the title without it is compared with the
    other title; the version words and numbers must then agree as usual, and those of the
    removed album must be on the other side's title or album ("Love of My Life (Live Killers)"
    is not the studio "Love of My Life" from *A Night at the Opera*). 0 where nothing applies.
    """
    from .normalize import distinguishing_marks

    n = len(a)
    out = np.zeros(n)
    pairs: list[tuple[int, str, str]] = []
    for i in range(n):
        x, y = a[i], b[i]
        ax = album_a[i] if album_a is not None else None
        ay = album_b[i] if album_b is not None else None
        for album in {al for al in (ax, ay) if al}:
            for short, other, other_album in ((_without_album(x, album), y, ay), (_without_album(y, album), x, ax)):
                if short is None or not other:
                    continue
                if distinguishing_marks(short) != distinguishing_marks(other):
                    continue
                if not distinguishing_marks(album) <= distinguishing_marks(other) | distinguishing_marks(other_album):
                    continue
                pairs.append((i, short, other))
    if pairs:
        sims = text_similarity([p[1] for p in pairs], [p[2] for p in pairs])
        for (i, _, _), s in zip(pairs, sims):
            out[i] = max(out[i], s)
    return out


SUBSET_CREDIT_SIM = 0.95
"""Artist similarity of a credit whose names are some of the other's, led by the same name
("Beyoncé" and "Beyoncé & Jay-Z"): nearly equal, below an exact credit so that one wins ties."""


def _subset_credit(x: str, y: str) -> bool:
    from .normalize import credit_names

    nx, ny = credit_names(x), credit_names(y)
    if not nx or not ny or nx == ny:
        return False
    short, long_ = (nx, ny) if len(nx) <= len(ny) else (ny, nx)
    return short[0] == long_[0] and set(short) <= set(long_)


def artist_similarity(a: Sequence[str | None], b: Sequence[str | None]) -> np.ndarray:
    """Text similarity of artist keys, at least :data:`SUBSET_CREDIT_SIM` when one credit's names
    are some of the other's with the same first name (``"a"`` ~ ``"a and b"``, not ``"b"`` ~ ``"a and b"``)."""
    sim = text_similarity(a, b)
    for i, (x, y) in enumerate(zip(a, b)):
        if sim[i] < SUBSET_CREDIT_SIM and x and y and " and " in (x + y) and _subset_credit(x, y):
            sim[i] = SUBSET_CREDIT_SIM
    return sim


def optional_similarity(a: Sequence[str | None], b: Sequence[str | None]) -> np.ndarray:
    """Like :func:`text_similarity` but NaN where either side is missing (component left out)."""
    sim = text_similarity(a, b)
    missing = np.fromiter((not x or not y for x, y in zip(a, b)), dtype=bool, count=len(a))
    sim[missing] = np.nan
    return sim


def duration_penalty(diff_s: np.ndarray, config: MatchConfig, longer_s: np.ndarray | None = None) -> np.ndarray:
    """0 within the tolerance, linear to 1 at the maximum; NaN stays NaN (unknown).

    Tolerance and maximum are ``duration_tolerance_s`` / ``duration_max_s``, or the shares of
    ``longer_s`` (the longer of the two durations) when those are larger.
    """
    diff = np.asarray(diff_s, dtype=np.float64)
    tol = np.full(diff.shape, config.duration_tolerance_s)
    top = np.full(diff.shape, config.duration_max_s)
    if longer_s is not None:
        longer = np.nan_to_num(np.asarray(longer_s, dtype=np.float64))
        tol = np.maximum(tol, config.duration_tolerance_share * longer)
        top = np.maximum(top, config.duration_max_share * longer)
    top = np.maximum(top, tol + 1e-9)
    return np.clip((diff - tol) / (top - tol), 0.0, 1.0)


def combine(title_sim: np.ndarray, artist_sim: np.ndarray, album_sim: np.ndarray | None,
            duration_diff_s: np.ndarray | None, config: MatchConfig,
            longer_s: np.ndarray | None = None) -> np.ndarray:
    """Score = 1 - sum(w * penalty) / sum(w) over the components known for each pair."""
    n = len(title_sim)
    num = config.weight_title * (1.0 - title_sim) + config.weight_artist * (1.0 - artist_sim)
    den = np.full(n, config.weight_title + config.weight_artist)
    if album_sim is not None:
        known = ~np.isnan(album_sim)
        num = num + np.where(known, config.weight_album * (1.0 - np.nan_to_num(album_sim)), 0.0)
        den = den + np.where(known, config.weight_album, 0.0)
    if duration_diff_s is not None:
        known = ~np.isnan(duration_diff_s)
        pen = duration_penalty(np.nan_to_num(duration_diff_s), config, longer_s)
        num = num + np.where(known, config.weight_duration * pen, 0.0)
        den = den + np.where(known, config.weight_duration, 0.0)
    return np.clip(1.0 - num / den, 0.0, 1.0)


def pair_score(track: dict[str, Any], ref: dict[str, Any], config: MatchConfig | None = None) -> float:
    """Score of one collection record against one reference record (raw fields artist, title,
    album, duration_s), exactly as the engine scores them; 0 when a gate fails.

    For reading and testing single pairs; the engine works on columns.
    """
    from .normalize import album_key, artist_key, title_key

    config = config or MatchConfig()
    t_sim = title_similarity([title_key(track.get("title"))], [title_key(ref.get("title"))], config,
                             [album_key(track.get("album")) or None], [album_key(ref.get("album")) or None])
    a_sim = artist_similarity([artist_key(track.get("artist"))], [artist_key(ref.get("artist"))])
    if not passes_gates(t_sim, a_sim, config)[0]:
        return 0.0
    alb = optional_similarity([album_key(track.get("album")) or None], [album_key(ref.get("album")) or None])
    da, db = track.get("duration_s"), ref.get("duration_s")
    dur = np.array([abs(da - db) if da is not None and db is not None else np.nan])
    longer = np.array([max(da, db) if da is not None and db is not None else np.nan])
    return float(combine(t_sim, a_sim, alb, dur, config, longer)[0])


def passes_gates(title_sim: np.ndarray, artist_sim: np.ndarray, config: MatchConfig) -> np.ndarray:
    """Candidates whose title and artist are each similar enough to be considered at all."""
    return (title_sim >= config.min_title_sim) & (artist_sim >= config.min_artist_sim)
