"""The mixed-up-field fallback: a track without an artist whose title holds the whole record.

Files tagged only through their title, or song lists pasted into one column, give titles such
as ``"Adele Rolling in the Deep 21 Pop $1.29 3:48 Jan 24, 2011"``: artist, title, album, genre,
price, duration and date run together, and the artist field is empty. Such a track cannot be
keyed as artist + title, so it is matched as one text:

1. :func:`parse` takes out what is not a name (prices, dates, years, ``m:ss`` durations,
   Discogs' ``(3)`` artist numbers, zero-padded track numbers before a title, brackets of
   neutral version info such as ``(Album Version)``; the
   first ``m:ss`` becomes the track's duration when it has none) and keeps the words,
   normalised like every key (:mod:`.normalize`);
2. :func:`block_keys` gives the blocking keys the reference's artist-word x title-word keys
   can meet: every ordered pair of the text's words, and every run of words as a whole title;
3. a candidate is scored by how much of its artist, title and album is found in the text
   (:func:`coverage`, per word, a typo allowed in long words, counting
   :data:`TYPO_CREDIT`; the title's words in their order,
   :func:`ordered_coverage`); its title numbers and version
   words must be in the text, and the text's part numbers / version words must be explained by
   the candidate's title, artist or album, else the title similarity is capped as usual;
4. the title must come where the recipe puts it, after the artist with at most featured
   artists, linking words or the album between (:func:`_title_follows_artist`), so the album's
   name does not pass for a song of that name;
5. among a track's candidates only the recording(s) explaining most of the text are linked,
   so "Song Part 2" wins over "Song".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from .normalize import (
    _NEUTRAL_VERSION,
    _ROMAN,
    ARTICLES,
    VERSION_WORDS,
    _numbered_parts,
    _top_groups,
    _words,
    credit_names,
)

MAX_WORDS = 16
"""Words of a text used for blocking (a record rarely needs more to name artist and title)."""

MAX_SPAN = 8
"""Longest run of words tried as a whole title (``*|<title key>`` blocking key)."""

_DURATION = re.compile(r"(?<![\d:])(?:(\d{1,2}):)?(\d{1,2}):([0-5]\d)(?![\d:])")
_PRICE = re.compile(r"(?:[$£€¥]\s?\d+(?:[.,]\d{1,2})?|\b\d+[.,]\d{2}\s?(?:[$£€¥]|usd|eur|gbp)?(?!\d)|\bfree\b)",
                    re.IGNORECASE)
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    rf"(?:\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b|\b\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}\b"
    rf"|\b{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}\b|\b\d{{1,2}}[\s-]+{_MONTHS}[\s-]+\d{{2,4}}\b"
    rf"|\b(?:19|20)\d{{2}}\b|[℗©]\s*)",
    re.IGNORECASE)
_TRACK_NUMBER = re.compile(r"(?<![\w:.,/-])(?:0\d{1,2}|0{1,2}[A-Da-d]\d?)\s*[-–—._)]\s*(?=[^\W\d_]|\d+[^\W\d_])"
                           r"|(?<![\w:.,/-])[A-Da-d]\d{1,2}\s+[-–—]\s+(?=[^\W\d_])")
"""A track number or vinyl position before a title (``"Jewel 001-Stronger Woman ..."``, ``0B2-``,
``B2 - ``): not a word of a name."""
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
MIN_JOINED = 6
"""Letters a name written without spaces needs before it is matched that way ("a b" ~ "ab" is chance)."""
_INNER_BRACKET = re.compile(r"[\(\[]([^\(\)\[\]]*)[\)\]]")
_FEATURED = re.compile(r"^\s*(?:feat|ft|featuring|with)\b", re.IGNORECASE)
_DISAMBIGUATION = re.compile(r"\(\d{1,3}\)")
"""Discogs' artist number ``"Maypole (3)"``: never a word of a name or title."""
_PART_MARK = re.compile(r"\b(?:part|no|vol|chapter|act|movement|op|book|episode)\s+(\d+)\b")


@dataclass(frozen=True)
class MixedText:
    """A parsed mixed-up record: its words (normalised) and the duration found in it."""

    words: tuple[str, ...]
    duration_s: float | None
    years: frozenset[str] = frozenset()
    """Years taken out of the text as dates; they still explain a title's year ("(live 1986)")."""
    joined: frozenset[str] = frozenset()
    """Runs of 2-4 consecutive words written together ("tony rice" -> "tonyrice"), :data:`MIN_JOINED` letters or more."""

    @cached_property
    def numerals(self) -> frozenset[str]:
        """Numbers written as roman numerals of two letters or more ("iii" -> "3"): a title key
        reads a trailing numeral as a number, and in the text the title is followed by more words."""
        return frozenset(str(_ROMAN[w]) for w in self.words if len(w) >= 2 and w in _ROMAN)

    @cached_property
    def word_set(self) -> frozenset[str]:
        return frozenset(self.words)

    @cached_property
    def marks(self) -> frozenset[str]:
        """Part numbers (``part 2`` -> "2") and version words of the text."""
        text = " ".join(self.words)
        return frozenset({m.group(1) for m in _PART_MARK.finditer(text)} | (set(self.words) & VERSION_WORDS))


@lru_cache(maxsize=1 << 14)
def parse(text: str) -> MixedText:
    """Words and duration of a mixed-up record (see the module docstring)."""
    duration = None
    m = _DURATION.search(text)
    if m:
        hours, minutes, seconds = m.group(1), int(m.group(2)), int(m.group(3))
        duration = float((int(hours) * 3600 if hours else 0) + minutes * 60 + seconds)
    cleaned = _DISAMBIGUATION.sub(" ", _DURATION.sub(" ", text))
    cleaned = _PRICE.sub(" ", cleaned)
    cleaned = _DATE.sub(" ", cleaned)
    cleaned = _TRACK_NUMBER.sub(" ", cleaned)
    for _ in range(2):  # innermost first: "(Album Version (Explicit))"
        cleaned = _INNER_BRACKET.sub(_drop_neutral, cleaned)
    words = tuple(w for w in _numbered_parts(_words(cleaned)).split(" ") if w)
    joined = frozenset(j for i in range(len(words)) for n in range(2, 5) if i + n <= len(words)
                       for j in ["".join(words[i:i + n])] if len(j) >= MIN_JOINED)
    return MixedText(words, duration, frozenset(_YEAR.findall(text)), joined)


def _drop_neutral(m: re.Match[str]) -> str:
    """A bracket naming the same recording (``(Album Version)``, ``[Explicit]``, ``(Remastered 2011)``)
    goes, as title keys drop it; featured artists stay (they are words of the credit)."""
    inner = m.group(1)
    return " " if _NEUTRAL_VERSION.match(_words(inner)) and not _FEATURED.match(inner) else m.group(0)


MAX_ARTIST_START = 8
"""Words of a text where an artist may start, for the typo-tolerant keys (the recipe puts it first)."""


def block_keys(mixed: MixedText) -> list[str]:
    """Blocking keys of a mixed-up record: word pairs (``artist|title`` either way), word runs,
    and the index's typo-tolerant keys (:data:`.blocking.LEAN_BLOCK_KEYS`) for an artist starting
    at one of the first :data:`MAX_ARTIST_START` words and a title after it: artist first word x
    the title's first 1-3 letters (``jack|<con``, whatever the title's length) and the artist's
    first four letters x the title's first word (``^bruc|street``)."""
    words = [w for w in mixed.words[:MAX_WORDS] if len(w) >= 2 and w != "and"]
    keys = {f"{a}|{b}" for i, a in enumerate(words) for j, b in enumerate(words) if i != j}
    every = list(mixed.words[:MAX_WORDS])
    for i in range(len(every)):
        for j in range(i + 1, min(len(every), i + MAX_SPAN) + 1):
            keys.add("*|" + " ".join(every[i:j]))
    for i in range(min(len(every), MAX_ARTIST_START)):
        artist_head = "".join(every[i:])[:4]
        first = every[i] if len(every[i]) >= 2 and every[i] != "and" else None
        for j in range(i + 1, len(every)):
            title = "".join(every[j:])
            if first:
                keys.update(f"{first}|<{title[:e]}" for e in (1, 2, 3))
            if len(every[j]) >= 2 and every[j] != "and":
                keys.add(f"^{artist_head}|{every[j]}")
    return sorted(keys)


TYPO_CREDIT = 0.9
"""What a word found only with a typo counts for in a coverage: less than a word found as written,
so a record with a typo never scores as an exact one (a strict ``--threshold`` still drops it)."""


@lru_cache(maxsize=1 << 18)
def _word_credit(word: str, words: frozenset[str]) -> float:
    """1 for a word of the text, :data:`TYPO_CREDIT` for a word of 5+ letters found with a typo, else 0."""
    if word in words:
        return 1.0
    n = len(word)
    if n < 5:
        return 0.0
    by_length = _by_length(words)
    return TYPO_CREDIT if any(_is_typo(word, w) for size in range(n - 2, n + 3) for w in by_length.get(size, ())) \
        else 0.0


@lru_cache(maxsize=1 << 12)
def _by_length(words: frozenset[str]) -> dict[int, tuple[str, ...]]:
    """The words by length: a typo changes a word's length by 2 letters at most."""
    out: dict[int, list[str]] = {}
    for w in words:
        out.setdefault(len(w), []).append(w)
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=1 << 18)
def _is_typo(word: str, other: str) -> bool:
    """Whether ``other`` is ``word`` with a typo: close by ratio, or one letter added, dropped,
    changed or two swapped ("Biran" for "Brian"). Cached: a text's words meet the same candidate
    words again and again (~50 candidates a track, most of one artist)."""
    return fuzz.ratio(word, other) >= 85 or OSA.distance(word, other) <= 1


def coverage(key: str | None, mixed: MixedText) -> float:
    """Share of the words of ``key`` found in the text (``and`` ignored); 0 for an empty key."""
    if not key:
        return 0.0
    words = [w for w in key.split(" ") if w and w != "and"]
    if not words:
        return 0.0
    if _written_together(key, mixed):
        return 1.0
    found = mixed.word_set
    numerals = mixed.numerals if len(words) > 1 else frozenset()  # a bare number must be written as one
    return sum(1.0 if w in mixed.joined or w in mixed.years or w in numerals else _word_credit(w, found)
               for w in words) / len(words)


def _written_together(key: str, mixed: MixedText) -> bool:
    """Whether the key's words, spaces dropped, are one word of the text ("FallOutBoy") or the
    text's words run together are the key ("tonyrice")."""
    compact = key.replace(" ", "")
    return len(compact) >= MIN_JOINED and (compact in mixed.word_set or compact in mixed.joined)


def ordered_coverage(key: str | None, mixed: MixedText) -> float:
    """Share of the words of ``key`` found in the text in their order (longest common subsequence).

    A title is pasted as one field, so its words come in order: "So Long! (Off Vocal Ver.)"
    is not in "Ruby (Off Vocal Ver.) So Long!" although every word is.
    """
    if not key:
        return 0.0
    words = [w for w in key.split(" ") if w and w != "and"]
    if not words:
        return 0.0
    if _written_together(key, mixed):
        return 1.0
    dated = sum(w in mixed.years for w in words)  # a year of the title, taken out of the text as a date
    text = mixed.words
    numerals = mixed.numerals if len(words) > 1 else frozenset()
    rows = []  # per key word found somewhere in the text: its credit at each text position
    for w in words:
        if w in mixed.years or not (w in mixed.word_set or w in numerals
                                    or (len(w) >= 5 and _word_credit(w, mixed.word_set))):
            continue  # in no common subsequence: leaving it out changes nothing (most candidates)
        rows.append([1.0 if w == t or (numerals and len(t) >= 2 and w.isdigit() and str(_ROMAN.get(t)) == w)
                     else TYPO_CREDIT if len(w) >= 5 and abs(len(w) - len(t)) <= 2 and _is_typo(w, t) else 0.0
                     for t in text])
    prev = [0.0] * (len(text) + 1)
    for credits in rows:
        cur = [0.0] * (len(text) + 1)
        for j, credit in enumerate(credits, start=1):
            cur[j] = max(prev[j - 1] + credit, prev[j], cur[j - 1]) if credit else max(prev[j], cur[j - 1])
        prev = cur
    return (prev[-1] + dated) / len(words)


def artist_coverage(key: str | None, mixed: MixedText) -> float:
    """Coverage of an artist credit: the whole credit, or (a little less) its first name alone."""
    full = coverage(key, mixed)
    names = credit_names(key)
    if full < 1.0 and len(names) > 1:
        full = max(full, min(0.95, coverage(names[0], mixed)))
    return full


def explained(keys: list[str | None], mixed: MixedText) -> int:
    """How many words of the text the candidate's keys account for (ties: the fuller candidate wins)."""
    words: set[str] = set()
    for key in keys:
        if key:
            words.update(key.split(" "))
    return sum(1 for w in set(mixed.words) if w in words)


def field_explained(field_key: str | None, keys: list[str | None]) -> float:
    """Share of the words of one field's key found among the words of a candidate's keys, a typo
    allowed as in :func:`coverage`; linking words and articles are not counted (``Devil The`` is
    not half explained by a title ``The``); 1 for a field without other words.

    The text fallback runs a record's fields together; each field must still name something of
    the candidate, so an artist field naming someone else is not outvoted by a title that happens
    to hold the candidate's artist ("seltaeB ehT" + "With The Beatles")."""
    words = [w for w in (field_key or "").split(" ") if w and w not in _LINK_WORDS]
    if not words:
        return 1.0
    found = frozenset(w for key in keys if key for w in key.split(" "))
    return sum(_word_credit(w, found) for w in words) / len(words)


_FEATURED_PART = re.compile(r"[\(\[]\s*(?:feat|ft|featuring|with)\b[^\)\]]*[\)\]]"
                            r"|\b(?:feat|ft|featuring)\b\.?\s[^\(\)\[\]]*?(?=\s[-–—]\s|[\(\[]|$)", re.IGNORECASE)
"""A featured credit in a title field, ``(feat. X)`` or ``feat. X`` up to a dash or a bracket."""


def title_field_explained(field: str | None, keys: list[str | None]) -> float:
    """Share of a title field's words found in a candidate's keys (the text fallback's check that
    the field holds the candidate's title and album, not another song): prices, dates, durations,
    track numbers, neutral version brackets and featured credits are left out, and so are linking
    words and articles; a word also counts when a key holds it written together with its
    neighbours (``againstthe`` for ``Against the``, ``gypsydjango``) and a roman numeral counts as
    its number (``Genius II`` for ``genius 2``); 1 for a field without words."""
    credits = _field_credits(field_words(field), keys)
    return sum(credits) / len(credits) if credits else 1.0


def field_words(field: str | None) -> list[str]:
    """The words of a field that a candidate's keys must explain, as :func:`title_field_explained`
    reads them (prices, dates, durations, track numbers, neutral version brackets, featured credits,
    linking words and articles left out)."""
    return [w for w in parse(_FEATURED_PART.sub(" ", field or "")).words if w not in _LINK_WORDS]


def unexplained(words: list[str], keys: list[str | None]) -> float:
    """How many of a field's words (:func:`field_words`) a candidate's keys do not account for (a
    typo counts ``1 - TYPO_CREDIT``)."""
    return sum(1.0 - c for c in _field_credits(words, keys))


def _field_credits(words: list[str], keys: list[str | None]) -> list[float]:
    found = frozenset(w for key in keys if key for w in key.split(" "))
    compact = " ".join(key.replace(" ", "") for key in keys if key)
    return [1.0 if (len(w) >= 3 and w in compact) or (w in _ROMAN and str(_ROMAN[w]) in found)
            else _word_credit(w, found) for w in words]


def bracket_unexplained(field: str | None, keys: list[str | None], album: str | None) -> bool:
    """Whether a top-level bracket of a title field says something the candidate does not: not
    neutral version info, not a featured credit, under half its words among the candidate's key
    words (:func:`field_explained`) and not one of its keys written with other spaces
    (``(EchoAes)`` for ``echoe s``). A candidate whose album (key ``album``) is unknown is not
    judged: the bracket may be that album.

    In ``Title (Album)`` the bracket is the album; in ``Call Of Raison (NightCore Bonus Track)``
    it names another version of ``Call Of Raison``, in words no version list knows."""
    text = field or ""
    if not album:
        return False
    for a, b in _top_groups(text):
        inner = text[a + 1:b - 1]
        if _FEATURED.match(inner) or _NEUTRAL_VERSION.match(_words(inner)):
            continue
        words = parse(inner).words
        if not words or field_explained(" ".join(words), keys) >= 0.5:
            continue
        compact = "".join(words)
        if not any(key and fuzz.ratio(compact, key.replace(" ", "")) >= 85 for key in keys):
            return True
    return False


def marks_explained(title_key: str | None, other_keys: list[str | None], mixed: MixedText) -> bool:
    """Whether title numbers/version words are in the text and the text's part numbers and
    version words are in the candidate's title, artist or album."""
    from .normalize import distinguishing_marks

    title_marks = distinguishing_marks(title_key)
    if not title_marks <= mixed.word_set | mixed.years | mixed.numerals:
        return False
    own = set(title_marks)
    for key in (title_key, *other_keys):
        if key:
            own.update(key.split(" "))
    return mixed.marks <= own


def _occurrences(phrase: list[str], words: tuple[str, ...]) -> list[int]:
    n = len(phrase)
    return [i for i in range(len(words) - n + 1) if list(words[i:i + n]) == phrase] if n else []


_FEAT_WORDS = frozenset({"feat", "ft", "featuring", "with"})
_LINK_WORDS = frozenset({"and", "vs", "by", *ARTICLES})
"""Words allowed between the artist and the title: linking words and articles (keys drop a title's
leading article in every language the normaliser knows: "Alice Le aquile" names "aquile")."""


def _title_follows_artist(ref: dict[str, Any], mixed: MixedText) -> bool:
    """Whether the candidate's title comes where the recipe puts it: after the artist, with only
    featured artists, the album or linking words between (or before the artist, "Title - Artist").

    ``"Howard Jones The Brutality Of Fact Everlasting Love Pop"`` names the song "The Brutality
    Of Fact" on the album "Everlasting Love", not the single "Everlasting Love"; likewise
    ``"AKB48 Ruby So Long!"`` names the album "So Long!", not its title track. When the artist or
    the title is not found as a phrase (a typo), nothing can be told and the answer is yes.
    """
    title = (ref.get("title_key") or "").split()
    words = mixed.words
    at_title = set(_occurrences(title, words))
    if not at_title:
        return True
    album = set((ref.get("album_key") or "").split())
    found_artist = False
    for key in (ref.get("artist_key"), ref.get("anv_key")):
        artist = (key or "").split()
        for start in _occurrences(artist, words):
            found_artist = True
            if min(at_title) < start:  # "Title - Artist"
                return True
            j, featured, foreign = start + len(artist), False, 0
            while j < len(words) and j not in at_title:
                w = words[j]
                if w in _FEAT_WORDS:
                    featured = True
                elif not (featured or w in _LINK_WORDS or w in album):
                    foreign += 1
                j += 1
            if j in at_title and foreign == 0:
                return True
    return not found_artist


def similarities(mixed: MixedText, ref: dict[str, Any], version_mismatch_sim: float) -> tuple[float, float]:
    """(title similarity, artist similarity) of a reference recording against a mixed-up text."""
    from .normalize import distinguishing_marks

    a_sim = max(artist_coverage(ref.get("artist_key"), mixed), artist_coverage(ref.get("anv_key"), mixed))
    t_sim = ordered_coverage(ref.get("title_key"), mixed)
    if "album_key" in ref:  # a release track: the text's marks must be explained too
        ok = marks_explained(ref.get("title_key"), [ref.get("artist_key"), ref.get("anv_key"), ref.get("album_key")],
                             mixed) and _title_follows_artist(ref, mixed)
    else:  # a recording (no album known yet): only the title's own marks are checked
        ok = distinguishing_marks(ref.get("title_key")) <= mixed.word_set | mixed.years | mixed.numerals
    if not ok:
        t_sim = min(t_sim, version_mismatch_sim)
    return t_sim, a_sim
