"""Normalised keys of artist credits, track titles and album titles.

Matching compares *keys*, not raw strings, and both sides (the user's collection and the
Discogs / playlist reference) go through exactly these functions, so two spellings of the
same name give the same key. The rules follow Discogs conventions:

- artist disambiguation suffixes: ``"Prince (2)"`` -> ``prince``
- inverted articles: ``"Persuader, The"`` -> ``persuader`` (leading articles are dropped,
  so ``"The Persuader"`` gives the same key)
- join phrases and featured artists: the *primary* credit is the part before ``feat.`` /
  ``ft.`` / ``featuring``; ``"&"``, ``"+"`` and ``"and"`` are one token ``and``
- bracketed version info that does not change the recording (``"(Remastered 2011)"``,
  ``"- 2011 Remaster"``, ``"[Bonus Track]"``, ``"(Album Version)"``, ``"(feat. X)"``) is
  removed; version info that does (``"(Live)"``, ``"(Radio Edit)"``, ``"(Dub Mix)"``) is kept
  as words of the title key
- case, accents (including ``ø æ ł đ``), punctuation and spacing; apostrophes vanish
  (``"Don't"`` -> ``dont``); ``"Pt."`` -> ``part``

Each function is pure and cached, since artist names and titles repeat a lot in dumps.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

ARTICLES = ("the", "a", "an", "les", "le", "la", "los", "las", "el", "die", "der", "das", "il", "de")
"""Articles Discogs moves to the end of a name (``"Beatles, The"``) and that keys drop at the start."""

VARIOUS_ARTISTS = frozenset({"various", "various artists", "va", "v a"})
"""Keys of the placeholder artist of compilations (carries no information for matching)."""

_DISAMBIGUATION = re.compile(r"\s*\(\d+\)\s*$")
_INVERTED_ARTICLE = re.compile(r"^(?P<name>.+?),\s*(?P<article>" + "|".join(ARTICLES) + r")\.?\s*$", re.IGNORECASE)
_FEATURING = re.compile(r"\s*[\(\[]?\s*\b(?:feat|ft|featuring|feat\.|ft\.)\b\.?\s.*$", re.IGNORECASE)
_SPECIAL_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "œ": "oe",
                                  "ı": "i", "’": "'", "‘": "'", "`": "'", "´": "'"})

# Version descriptions that name the same recording (the words inside a bracket or after " - ").
_NEUTRAL_VERSION = re.compile(
    r"""^(?:
        (?:\d{4}\s+)?(?:digital(?:ly)?\s+)?re-?master(?:ed)?(?:\s+(?:version|edition|mix))?(?:\s+\d{4})?(?:\s+version)?
      | (?:\d{4}\s+)?(?:digital\s+)?remaster
      | (?:album|lp|single|original|main|stereo|mono|explicit|clean|dirty|full\s+length)\s+version
      | original(?:\s+mix)?
      | album\s+mix
      | bonus(?:\s+track)?
      | explicit | clean | mono | stereo
      | (?:feat|ft|featuring|with)\b.*
      | from\s+.*
      | remastered
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_BRACKETED = re.compile(r"[\(\[\{]([^\(\)\[\]\{\}]*)[\)\]\}]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]+)$")
_PUNCT = re.compile(r"[^\w\s]+")
_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_SPACES = re.compile(r"\s+")
_AND = re.compile(r"\s*(?:&|\+|\band\b|\bet\b|\bund\b|\by\b)\s*", re.IGNORECASE)
_PART = re.compile(r"\bpt\b\.?", re.IGNORECASE)


def fold(text: str) -> str:
    """Lower case without accents, with typographic apostrophes made plain."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_LETTERS)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def _words(text: str) -> str:
    """Folded text with punctuation as spaces, apostrophes removed and '&' spelt 'and'."""
    text = fold(text)
    text = _APOSTROPHE.sub("", text)
    text = _AND.sub(" and ", text)
    text = _PART.sub("part", text)
    text = _PUNCT.sub(" ", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip()


def _drop_leading_article(words: str) -> str:
    head, _, rest = words.partition(" ")
    return rest if rest and head in ARTICLES else words


def uninvert(name: str) -> str:
    """``"Persuader, The"`` -> ``"The Persuader"`` (Discogs' inverted article form)."""
    m = _INVERTED_ARTICLE.match(name.strip())
    return f"{m.group('article')} {m.group('name')}" if m else name


@lru_cache(maxsize=1 << 18)
def artist_name_key(name: str | None) -> str:
    """Key of one artist name: no disambiguation number, article, case, accents or punctuation."""
    if not name:
        return ""
    name = _DISAMBIGUATION.sub("", name.strip())
    name = uninvert(name)
    return _drop_leading_article(_words(name))


@lru_cache(maxsize=1 << 18)
def primary_credit(credit: str | None) -> str:
    """The credit without featured artists: ``"A feat. B"`` -> ``"A"``; ``"A (ft. B)"`` -> ``"A"``."""
    if not credit:
        return ""
    primary = _FEATURING.sub("", credit).strip()
    return primary or credit.strip()


@lru_cache(maxsize=1 << 18)
def artist_key(credit: str | None) -> str:
    """Key of an artist credit as a whole (several names joined by ``&``, ``,``, ``vs.``...).

    Featured artists are dropped; every name loses its disambiguation suffix and article, so
    ``"The Persuader (2) feat. X"`` and ``"Persuader, The"`` both give ``persuader``.
    A credit made only of "Various" gives the empty key.
    """
    credit = primary_credit(credit)
    if not credit:
        return ""
    # Keys of the individual names, split at the Discogs join characters that never occur
    # inside a key ("," and "/"), so that each name's suffix and article are handled.
    parts = [artist_name_key(p) for p in re.split(r"\s*[,/;]\s*(?![^()]*\))", credit) if p.strip()]
    if not parts or (len(parts) == 1 and not parts[0]):
        # "Beatles, The" splits at its comma: treat the whole credit as one name instead.
        parts = [artist_name_key(credit)]
    if len(parts) == 2 and parts[1] in ARTICLES:
        parts = [artist_name_key(credit)]
    key = " ".join(p for p in parts if p)
    return "" if key in VARIOUS_ARTISTS else key


def _strip_versions(title: str) -> str:
    """Remove recording-neutral version info in brackets or after a dash; keep the rest as words."""
    kept: list[str] = []

    def bracket(m: re.Match[str]) -> str:
        inner = m.group(1).strip()
        if inner and not _NEUTRAL_VERSION.match(_words(inner)):
            kept.append(inner)
        return " "

    previous = None
    while previous != title:  # nested brackets: innermost first
        previous = title
        title = _BRACKETED.sub(bracket, title)
    m = _DASH_SUFFIX.search(title)
    if m and _NEUTRAL_VERSION.match(_words(m.group(1))):
        title = title[: m.start()]
    title = _FEATURING.sub("", title) if re.search(r"\b(?:feat|ft|featuring)\b", title, re.IGNORECASE) else title
    return " ".join([title, *kept])


@lru_cache(maxsize=1 << 18)
def title_key(title: str | None) -> str:
    """Key of a track (or album) title: neutral version info removed, ``"Song, The"`` = ``"The Song"``."""
    if not title:
        return ""
    stripped = _strip_versions(uninvert(title.strip()))
    key = _drop_leading_article(_words(stripped))
    if not key:  # a title made only of brackets, e.g. "(Untitled)"
        key = _words(title)
    return key


VERSION_WORDS = frozenset({
    "live", "remix", "rmx", "mix", "edit", "acoustic", "demo", "instrumental", "dub", "extended", "radio",
    "karaoke", "cover", "reprise", "unplugged", "rehearsal", "take", "session", "version", "vip", "bootleg",
    "orchestral", "a capella", "acapella", "club", "megamix", "medley", "interlude", "outtake", "alternate",
    "alt", "rework", "reworked", "remixed", "vocal", "dj",
})
"""Words that, kept in a title key, name a different recording ("Song (Live)", "Song (Dub Mix)")."""


@lru_cache(maxsize=1 << 18)
def version_words(key: str | None) -> frozenset[str]:
    """The version words of a title key: ``"song live"`` -> {"live"}."""
    if not key:
        return frozenset()
    return frozenset(w for w in key.split(" ") if w in VERSION_WORDS)


def album_key(title: str | None) -> str:
    """Key of a release / album title (same rules as track titles)."""
    return title_key(title)


def credit_string(names: list[str | None], joins: list[str | None]) -> str:
    """Display string of a Discogs artist credit: names with their join phrases.

    >>> credit_string(["A", "B"], ["Feat.", None])
    'A Feat. B'
    """
    out: list[str] = []
    for i, name in enumerate(names):
        if not name:
            continue
        out.append(name.strip())
        join = (joins[i] or "").strip() if i < len(joins) else ""
        if i < len(names) - 1:
            out.append("," if join == "," else (join or ","))
    text = " ".join(out).replace(" ,", ",")
    return text.rstrip(",").strip()
