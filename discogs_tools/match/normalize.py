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
  (``"Don't"`` -> ``dont``)
- mojibake, text that was UTF-8 decoded with the wrong code page once or twice
  (``"SandÃ©"``, ``"SandÌ©"`` -> ``"Sandé"``), repaired first (:func:`repair_text`, ftfy plus the
  cp1252-to-Mac-Roman chain that ftfy does not undo)
- part numbers: ``"Pt. II"``, ``"Part Two"``, ``"pt 2"`` -> ``part 2``; ``"No. 3"``, ``"Number 3"``
  -> ``no 3``; a trailing roman numeral ``"Rocky II"`` -> ``rocky 2``. Numbers stay in the title
  key and :func:`distinguishing_marks` makes them decisive: ``"Song, Pt. II"`` is not ``"Song"``
- several names of one credit (``"A & B"``, ``"A, B"``, ``"A + B"``) are joined by ``and`` so that
  :func:`credit_names` can split them again (``"A"`` is one of the names of ``"A & B"``)

Each function is pure and cached, since artist names and titles repeat a lot in dumps.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import ftfy
from ftfy.badness import is_bad

ARTICLES = ("the", "a", "an", "les", "le", "la", "los", "las", "el", "die", "der", "das", "il", "de")
"""Articles Discogs moves to the end of a name (``"Beatles, The"``) and that keys drop at the start."""

VARIOUS_ARTISTS = frozenset({"various", "various artists", "va", "v a"})
"""Keys of the placeholder artist of compilations (carries no information for matching)."""

_DISAMBIGUATION = re.compile(r"\s*\(\d+\)\s*$")
_INVERTED_ARTICLE = re.compile(r"^(?P<name>.+?),\s*(?P<article>" + "|".join(ARTICLES) + r")\.?\s*$", re.IGNORECASE)
_FEATURING = re.compile(r"\s*[\(\[]?\s*\b(?:feat|ft|featuring|feat\.|ft\.)\b\.?\s.*$", re.IGNORECASE)
_FEATURING_WORD = re.compile(r"\b(?:feat|ft|featuring)\b", re.IGNORECASE)
_SPECIAL_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "œ": "oe",
                                  "ı": "i", "’": "'", "‘": "'", "`": "'", "´": "'"})

# Version descriptions that name the same recording (the words inside a bracket or after " - ").
_NEUTRAL_VERSION = re.compile(
    r"""^(?:
        (?:\d{4}\s+)?(?:digital(?:ly)?\s+)?re-?master(?:ed)?(?:\s+(?:version|edition|mix))?(?:\s+\d{4})?(?:\s+version)?
      | (?:\d{4}\s+)?(?:digital\s+)?remaster
      | (?:album|lp|single|original|main|stereo|mono|explicit|clean|dirty|full\s+length|edited|censored)\s+version
      | original(?:\s+mix)?
      | album\s+mix
      | bonus(?:\s+track)?(?:\s+version)?
      | explicit | clean | dirty | mono | stereo | edited | censored | uncensored | explicit\s+content
      | (?:clean|explicit|album)\s+edit
      | (?:\w+\s+){0,3}edition
      | deluxe(?:\s+\w+)? | expanded | anniversary | single | ep
      | (?:feat|ft|featuring|with)\b.*
      | and\s.+
      | from\s+.*
      | remastered
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
TRACK_NUMBER_PREFIX = re.compile(
    r"^\s*(?:0\d{1,2}\s*[-–—._)]|\d{1,3}\s+[-–—]\s|0{1,2}[A-Da-d]\d?\s*[-–—._)]|[A-Da-d]\d{1,2}(?:\s+[-–—]\s|\.\s))"
    r"\s*(?=[^\W\d_])")
"""A track number left at the start of a title by tags filled from file names: ``001-Title``,
``03. Title``, ``7 - Title`` (zero-padded with any separator, or any number with a spaced dash,
and a letter after), and vinyl positions ``A1 - Title``, ``B2. Title`` (zero-padded ``0B2-Title``,
``00A-Title`` with any separator). Not ``1999``, ``007``, ``99 Luftballons``, ``10-4 Good Buddy``,
``C3-PO``, ``A1 Sauce``."""
_BRACKETED = re.compile(r"[\(\[\{]([^\(\)\[\]\{\}]*)[\)\]\}]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]+)$")
_PUNCT = re.compile(r"[^\w\s]+")
_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_SPACES = re.compile(r"\s+")
_AND = re.compile(r"\s*(?:&|\+|\band\b|\bet\b|\bund\b|\by\b)\s*", re.IGNORECASE)
_PART = re.compile(r"\bpt\b\.?", re.IGNORECASE)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10,
          "xi": 11, "xii": 12, "xiii": 13, "xiv": 14, "xv": 15, "xvi": 16, "xvii": 17, "xviii": 18, "xix": 19,
          "xx": 20}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10}
_PART_WORDS = {"part": "part", "parts": "part", "no": "no", "number": "no", "nr": "no", "vol": "vol",
               "volume": "vol", "chapter": "chapter", "act": "act", "movement": "movement",
               "mvt": "movement", "op": "op", "opus": "op", "book": "book", "episode": "episode"}
"""Words after which a number names a part: ``part 2``."""
_DIGITS_ONLY = frozenset({"no", "number", "nr", "op", "opus"})
"""Part words taking only digits after them: "No One" and "Number One" are songs, not "No. 1"."""
_CP1252 = frozenset(bytes(range(256)).decode("cp1252", errors="ignore"))
_MOJIBAKE_RUN = re.compile(r"[^\x00-\x7f](?: ?[^\x00-\x7f])*")


def _undo_mac_roman_chain(run: str) -> str | None:
    """``run`` read back through cp1252 -> Mac Roman -> UTF-8, or None when that is not valid UTF-8.

    Text that went UTF-8 -> read as cp1252 -> written as Mac Roman -> read as cp1252 turns "é"
    into "Ì©" and "℗" into "‰ãÑ"; ftfy does not undo this chain (it guesses another one).
    Only a multi-byte UTF-8 sequence decoding cleanly is accepted, which plain text almost never is.
    """
    if len(run) < 2 or not all(c in _CP1252 for c in run):  # one UTF-8 character gives 2+ of these
        return None
    for candidate in (run, run.replace(" ", "")):
        try:
            raw = candidate.encode("cp1252").decode("mac_roman").encode("cp1252")
            fixed = raw.decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != candidate and any(ord(c) > 127 for c in fixed):
            return fixed
    return None


@lru_cache(maxsize=1 << 16)
def repair_text(text: str) -> str:
    """Text with mojibake repaired (double-encoded UTF-8); plain ASCII is returned as is, quickly."""
    if text.isascii():
        return text

    def run(m: re.Match[str]) -> str:
        return _undo_mac_roman_chain(m.group(0)) or m.group(0)

    text = _MOJIBAKE_RUN.sub(run, text)
    # ftfy's own quick test first: fix_text costs ~50 us a call, and most non-ASCII names are fine.
    return ftfy.fix_text(text, normalization="NFC") if is_bad(text) else text


def fold(text: str) -> str:
    """Lower case without accents, with typographic apostrophes made plain and mojibake repaired."""
    if text.isascii():  # the same result without the Unicode passes (most names and titles are ASCII)
        return text.lower().replace("`", "'")
    text = unicodedata.normalize("NFKC", repair_text(text)).casefold().translate(_SPECIAL_LETTERS)
    return _combining_marks().sub("", unicodedata.normalize("NFKD", text))


@lru_cache(maxsize=None)
def _combining_marks() -> re.Pattern[str]:
    """Every character with a combining class (accents after NFKD), as one character class: one
    regex pass drops them, where a Python loop over the characters cost most of :func:`fold`."""
    marks = [chr(c) for r in (range(0x30000), range(0xE0000, 0xE1000)) for c in r if unicodedata.combining(chr(c))]
    return re.compile("[" + "".join(re.escape(m) for m in marks) + "]")


def _words(text: str) -> str:
    """Folded text with punctuation as spaces, apostrophes removed and '&' spelt 'and'."""
    text = fold(text)
    text = _APOSTROPHE.sub("", text)
    text = _AND.sub(" and ", text)
    text = _PART.sub("part", text)
    text = _PUNCT.sub(" ", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip()


def _numbered_parts(words: str) -> str:
    """``part ii`` / ``pt two`` -> ``part 2``, ``number 3`` -> ``no 3``, a trailing ``ii`` -> ``2``."""
    tokens = words.split(" ")
    out: list[str] = []
    for i, tok in enumerate(tokens):
        before = tokens[i - 1] if i > 0 else ""
        if before in _PART_WORDS and before not in _DIGITS_ONLY:
            if tok in _ROMAN:
                tok = str(_ROMAN[tok])
            elif tok in _NUMBER_WORDS:
                tok = str(_NUMBER_WORDS[tok])
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in _PART_WORDS and (nxt.isdigit() or (tok not in _DIGITS_ONLY
                                                     and (nxt in _ROMAN or nxt in _NUMBER_WORDS))):
            tok = _PART_WORDS[tok]
        out.append(tok)
    if len(out) > 1 and out[-1] in _ROMAN and len(out[-1]) >= 2:
        out[-1] = str(_ROMAN[out[-1]])
    return " ".join(out)


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
    if not credit:
        return ""
    plain = _plain_key(credit)
    if plain is not None:
        return "" if plain in VARIOUS_ARTISTS else plain
    return _artist_key_rules(credit)


def _artist_key_rules(credit: str) -> str:
    """:func:`artist_key` by the full rules (what the plain-text short cut must agree with)."""
    credit = primary_credit(credit)
    if not credit:
        return ""
    # Keys of the individual names, split at the Discogs join characters that never occur
    # inside a key ("," and "/"), so that each name's suffix and article are handled.
    # "/" joins the halves of one name (AC/DC) as before; "," and ";" separate names.
    parts = [" ".join(k for k in (artist_name_key(q) for q in re.split(r"\s*/\s*(?![^()]*\))", p)) if k)
             for p in re.split(r"\s*[,;]\s*(?![^()]*\))", credit) if p.strip()]
    if not parts or (len(parts) == 1 and not parts[0]):
        # "Beatles, The" splits at its comma: treat the whole credit as one name instead.
        parts = [artist_name_key(credit)]
    if len(parts) == 2 and parts[1] in ARTICLES:
        parts = [artist_name_key(credit)]
    key = " and ".join(p for p in parts if p)
    return "" if key in VARIOUS_ARTISTS else key


def credit_names(key: str | None) -> tuple[str, ...]:
    """The names of an artist key, in credit order: ``"beyonce and jay z"`` -> ("beyonce", "jay z")."""
    if not key:
        return ()
    return tuple(n for n in key.split(" and ") if n)


_OPEN, _CLOSE = "([{", ")]}"


def _top_groups(text: str) -> list[tuple[int, int]]:
    """(start, end) of the top-level bracket groups of ``text``, end exclusive; unbalanced ones ignored."""
    groups, depth, start = [], 0, 0
    if "(" not in text and "[" not in text and "{" not in text:
        return groups
    for i, c in enumerate(text):
        if c in _OPEN:
            if depth == 0:
                start = i
            depth += 1
        elif c in _CLOSE and depth:
            depth -= 1
            if depth == 0:
                groups.append((start, i + 1))
    return groups


def _strip_versions(title: str) -> str:
    """Remove recording-neutral version info in brackets or after a dash; keep the rest as words.

    Brackets are read outermost first: a neutral group is dropped whole, whatever it nests
    ("(feat. Tim Brown (32), Choir)"); otherwise its nested groups are judged the same way
    ("(Album Version (Edited))" -> "Album Version" -> neutral; "(Live at Wembley (1986))" keeps both).
    """
    kept: list[str] = []

    def judge(inner: str) -> None:
        inner = inner.strip()
        if not inner:
            return
        if _NEUTRAL_VERSION.match(_words(inner)):
            return
        groups = _top_groups(inner)
        if not groups:
            kept.append(inner)
            return
        rest, last = [], 0
        for a, b in groups:
            rest.append(inner[last:a])
            last = b
        rest.append(inner[last:])
        outer = " ".join(rest)
        if not _NEUTRAL_VERSION.match(_words(outer)):
            if outer.strip():
                kept.append(outer.strip())
            for a, b in groups:
                judge(inner[a + 1:b - 1])

    groups = _top_groups(title)
    if groups:
        rest, last = [], 0
        for a, b in groups:
            rest.append(title[last:a])
            judge(title[a + 1:b - 1])
            last = b
        rest.append(title[last:])
        title = " ".join(rest)
    m = _DASH_SUFFIX.search(title)
    if m and _NEUTRAL_VERSION.match(_words(m.group(1))):
        title = title[: m.start()]
    title = _FEATURING.sub("", title) if _FEATURING_WORD.search(title) else title
    return " ".join([title, *kept])


_PLAIN_CHARS = "A-Za-z0-9 \t'.!?\":&+"
_PLAIN = re.compile(f"[{_PLAIN_CHARS}]+")
_PLAIN_BRACKETED = re.compile(rf"[{_PLAIN_CHARS}]*(?:\([{_PLAIN_CHARS}]*\)[{_PLAIN_CHARS}]*)+")
_PAREN_GROUP = re.compile(r"\(([^()]*)\)")
_PLAIN_PUNCT = str.maketrans({**{c: " " for c in "\t'.!?\":()"}, "&": " and ", "+": " and "})
_AND_WORDS = frozenset({"and", "et", "und", "y"})
_NOT_PLAIN_WORDS = frozenset({"feat", "ft", "featuring", "pt", *_PART_WORDS}) | {r for r in _ROMAN if len(r) > 1}
"""Words that send a plain text to the full rules: featuring marks, part words, roman numerals."""


def _plain_words(text: str) -> list[str]:
    """:func:`_words` of a plain text, as a list: lower case, apostrophes inside words dropped, the
    other marks spaces, ``&``/``+``/``and``/``et``/``und``/``y`` the word ``and``."""
    words = _APOSTROPHE.sub("", text.lower()).translate(_PLAIN_PUNCT).split()
    return ["and" if w in _AND_WORDS else w for w in words]


def _plain_key(text: str, brackets: bool = False) -> str | None:
    """The key of a plain text by a short cut, or None when the text needs the full rules.

    Plain: ASCII letters, digits, spaces, tabs and ``'.!?":&+``; with ``brackets`` (titles) also
    one level of round brackets. For such a text the rules of :func:`title_key` and
    :func:`artist_key` reduce to :func:`_plain_words`, a bracket's words moved to the end unless
    they name a neutral version (``(Remastered)``), and no leading article. A featuring mark, a
    part word or a roman numeral anywhere sends the text to the full rules. Keying a dump spends
    most of its time in these functions and most titles and names are plain
    (``tests/test_match_keying.py`` checks the short cut against the full rules on every sample
    title and name, its scaled copies and hand-picked cases).
    """
    if _PLAIN.fullmatch(text):
        words = _plain_words(text)
        if not words or not _NOT_PLAIN_WORDS.isdisjoint(words):
            return None
    elif brackets and _PLAIN_BRACKETED.fullmatch(text):
        every = _plain_words(text)
        if not every or not _NOT_PLAIN_WORDS.isdisjoint(every):
            return None
        kept = [w for m in _PAREN_GROUP.finditer(text) for inner in [_plain_words(m.group(1))]
                if inner and not _NEUTRAL_VERSION.match(" ".join(inner)) for w in inner]
        words = _plain_words(_PAREN_GROUP.sub(" ", text)) + kept
        if not words:  # only neutral brackets: the title's own words, article kept (as the rules)
            return " ".join(every)
    else:
        return None
    if len(words) > 1 and words[0] in ARTICLES:
        del words[0]
    return " ".join(words)


@lru_cache(maxsize=1 << 18)
def title_key(title: str | None) -> str:
    """Key of a track (or album) title: neutral version info removed, ``"Song, The"`` = ``"The Song"``."""
    if not title:
        return ""
    if title[:1].isdigit() or title[:1].isspace() or (title[:1] in "ABCDabcd" and title[1:2].isdigit()):
        title = TRACK_NUMBER_PREFIX.sub("", title, count=1)
    plain = _plain_key(title, brackets=True)
    return plain if plain is not None else _title_key_rules(title)


def _title_key_rules(title: str) -> str:
    """:func:`title_key` by the full rules (what the plain-text short cut must agree with)."""
    stripped = _strip_versions(uninvert(repair_text(title.strip())))
    key = _drop_leading_article(_words(stripped))
    if not key:  # a title made only of brackets, e.g. "(Untitled)"
        key = _words(title)
    return _numbered_parts(key)


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


@lru_cache(maxsize=1 << 18)
def distinguishing_marks(key: str | None) -> frozenset[str]:
    """What must be equal for two title keys to be one recording: version words and numbers.

    ``"crack in the pearl part 2"`` -> {"2"}; ``"song live"`` -> {"live"}; ``"song"`` -> {}.
    A part, number or volume (``Pt. II``, ``No. 3``) names another piece of music, so
    "Song, Pt. II" differs from "Song" and from "Song, Part 3" however alike the strings are.
    """
    if not key:
        return frozenset()
    return frozenset(w for w in key.split(" ") if w in VERSION_WORDS or w.isdigit())


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
