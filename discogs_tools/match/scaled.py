"""Scaled copies of a Discogs dump sample, for measuring and testing the matching index at size.

Copy ``k`` of a release has its release/master ids shifted by ``k * 10^8``, every artist name
replaced by a made-up two-word name and about half the words of every title (tracks and release)
replaced, all words drawn from the sample's own titles and names with their frequencies. The
replacements are seeded by the copy and the original text, so within one copy the same name or
title always becomes the same new one: a copy repeats names and titles exactly as often as the
sample does (releases of one master share their tracklist, "Intro" recurs across artists), while
copies are distinct recordings that do not look like typos of one another. Copy 0 is the sample.
"""

from __future__ import annotations

import random
from typing import Any


def vocabulary(releases: list[dict[str, Any]]) -> list[str]:
    """Words of the releases' titles and artist names (letters only, 3+ characters), one entry per
    occurrence, so that a draw follows the sample's word frequencies."""
    words: list[str] = []

    def add(text: str | None) -> None:
        words.extend(w for w in (text or "").split() if w.isalpha() and len(w) >= 3)

    for r in releases:
        add(r.get("title"))
        for a in r.get("artists") or []:
            add(a.get("name"))
        for t in r.get("tracklist") or []:
            add(t.get("title"))
            for s in t.get("sub_tracks") or []:
                add(s.get("title"))
    return sorted(words)


def shifted(release: dict[str, Any], k: int, vocab: list[str]) -> dict[str, Any]:
    """Copy ``k`` of ``release`` (see the module docstring); ``k == 0`` returns it unchanged."""
    if not k:
        return release

    def name(original: str | None) -> str | None:
        if not original:
            return original
        rng = random.Random(f"name:{k}:{original}")
        return f"{rng.choice(vocab)} {rng.choice(vocab)}".title()

    def title(text: str | None) -> str | None:
        if not text:
            return text
        rng = random.Random(f"title:{k}:{text}")
        return " ".join(rng.choice(vocab) if rng.random() < 0.5 else w for w in text.split()) or text

    def artists(lst: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return [{**a, "name": name(a.get("name")), "anv": name(a.get("anv"))} for a in lst] if lst else lst

    def track(t: dict[str, Any]) -> dict[str, Any]:
        t = {**t, "title": title(t.get("title")), "artists": artists(t.get("artists"))}
        if t.get("sub_tracks"):
            t["sub_tracks"] = [track(s) for s in t["sub_tracks"]]
        return t

    r = dict(release)
    r["release_id"] = release["release_id"] + k * 100_000_000
    r["master_id"] = release["master_id"] + k * 100_000_000 if release.get("master_id") is not None else None
    r["title"] = title(release.get("title"))
    r["artists"] = artists(release.get("artists"))
    r["tracklist"] = [track(t) for t in release.get("tracklist") or []]
    return r
