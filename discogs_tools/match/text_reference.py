"""Reference tracks that are mixed-up text: matched from the collection's side.

A playlist track may come without an artist, its title holding the whole record (artist, title,
album, price, ``m:ss``, date in one field: a "dirty" catalogue, a scraped list, a file name).
Unless its title reads ``Artist - Title`` (:func:`.keying.split_artist_title`) it has no artist
key, so the index cannot hold it. Such tracks are kept apart as *text rows*, and a collection
track with an artist and a title that linked to nothing otherwise is matched against them with
the roles of the mixed-up fallback turned round (:func:`match`): the text row is the mixed-up
record, the collection track's artist, title and album are the names it must hold
(:func:`.mixed.similarities`: every title word in order, the artist's words, marks such as
part numbers and versions explained). The same score, gates and threshold apply; links have
method ``text_reference``.

A collection track without an artist is text too. It is compared with the text rows as text
(:func:`text_similarity`: both texts must hold the same names), and, when its title reads
``Artist - Title``, also under that reading (the better of the two counts).

Blocking (:func:`candidates`) is by word: a text row is a candidate of a track when it holds one
of the track's artist words and one of its title words (a text: :data:`MIN_SHARED_WORDS` of its
words), each held by at most ``max_block_size`` and :data:`MAX_WORD_ROWS` text rows, best
``max_candidates`` by words shared.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rapidfuzz import fuzz

from .. import duck
from ..io import TableWriter, table_files, table_rows
from ..schemas import load_schema
from . import mixed
from .scoring import MatchConfig, combine, passes_gates

MIN_WORD = 2
"""Shortest word kept in the word table (one-letter words block nothing)."""
MAX_WORD_ROWS = 200
"""A word held by more text rows than this (and ``--max-block-size``) blocks nothing: common words
("love", "the") would pair every track with thousands of rows."""
MAX_UNEXPLAINED = 0.5
"""A text row matched to a track with an album may hold no word that the track's artist, title and
album lack (typos count 0.1 each): without fields, an extra word may be a longer title. Prices,
dates, durations, track numbers, neutral version brackets and featured credits do not count."""
MIN_SHARED_WORDS = 2
"""Words a collection track that is text must share with a text row to be compared with it."""
MIN_TEXT_WORDS = 3
"""Text against text: each text needs this many words (a bare title names no recording)."""


def text_similarity(query: mixed.MixedText, ref: mixed.MixedText) -> float:
    """Text against text: the smaller of the shares of each text's words found in the other
    (typo-tolerant, as :func:`.mixed.coverage`); 0 when either text has fewer than
    :data:`MIN_TEXT_WORDS` words, a word (not a number) that the other lacks, or other part
    numbers and version words. Both texts must hold the same names: without fields, a text
    holding the other and more (another song of the artist on that album, a longer title) cannot
    be told apart from one holding extra fields."""
    if len(query.words) < MIN_TEXT_WORDS or len(ref.words) < MIN_TEXT_WORDS or query.marks != ref.marks:
        return 0.0
    a, b = _unfound(query, ref), _unfound(ref, query)
    if not _paired(a, b) or not _paired(b, a):
        return 0.0
    return min(mixed.coverage(" ".join(query.words), ref), mixed.coverage(" ".join(ref.words), query))


PAIRED_WORD_SIM = 80
"""rapidfuzz ratio above which a word one text lacks still has its counterpart in the other
("emcguire" / "mcguire", "spiellete" / "spielleute": typos beyond the word-level typo rule)."""


def _unfound(text: mixed.MixedText, other: mixed.MixedText) -> list[str]:
    """Words of ``text`` (numbers aside) that ``other`` lacks, even with a typo."""
    return [w for w in sorted(set(text.words)) if not w.isdigit() and mixed.coverage(w, other) == 0.0]


def _paired(words: list[str], others: list[str]) -> bool:
    """Whether every word one text lacks is a misspelling of a word the other text has and the first
    lacks. Any other such word may be the whole difference between two songs of one album
    ("Courante" and "Ouvertüre" among ten shared words of artist and album)."""
    return all(any(fuzz.ratio(w, o) >= PAIRED_WORD_SIM for o in others) for w in words)
BATCH = 20_000


def build(con: Any, flat_sql: str, paths: dict[str, Path]) -> dict[str, int]:
    """Write ``paths["text_rows"]`` and ``paths["text_words"]`` from the rows of ``flat_sql`` that
    have a title but no artist; returns their counts. Streams in batches; the word counts are one
    DuckDB aggregate over the staged words."""
    rows_schema, words_schema = load_schema("match/playlist_text_rows"), load_schema("match/playlist_text_words")
    staged = paths["text_words"].parent / f".{paths['text_words'].name}.staging"
    n_rows = 0
    with TableWriter(paths["text_rows"], "match/playlist_text_rows") as rows_out, \
            TableWriter(staged, schema=pa.schema([f for f in words_schema if f.name != "df"])) as words_out:
        reader = duck.arrow_reader(con, f"""
            select track_key, title, album, duration_s from ({flat_sql})
            where coalesce(trim(artist), '') = '' and coalesce(trim(title), '') <> ''
            order by track_key
        """, BATCH)
        for batch in reader:
            cols = batch.to_pydict()
            durations, words, keys = [], [], []
            for key, title, album, seconds in zip(cols["track_key"], cols["title"], cols["album"],
                                                  cols["duration_s"]):
                text = mixed.parse(" ".join(x for x in (title, album) if x))
                durations.append(seconds if seconds is not None else text.duration_s)
                for w in sorted(_text_keys(text.words)):
                    words.append(w)
                    keys.append(key)
            rows_out.write(pa.table({**cols, "duration_s": durations}, schema=rows_schema))
            words_out.write(pa.table({"word": words, "track_key": keys}, schema=words_out.schema))
            n_rows += batch.num_rows
    try:
        with TableWriter(paths["text_words"], "match/playlist_text_words") as out:
            files = [str(f) for f in table_files(staged)]
            if files:
                reader = duck.arrow_reader(con, f"""
                    select word, track_key, count(*) over (partition by word) as df
                    from read_parquet({files!r}) order by word, track_key
                """, BATCH)
                for batch in reader:
                    out.write(pa.Table.from_batches([batch]).cast(words_schema))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return {"text_rows": n_rows, "text_words": table_rows(paths["text_words"])}


def has_rows(paths: dict[str, Path]) -> bool:
    """Whether the reference has text rows (only a playlists index has the table)."""
    folder = paths.get("text_rows")
    return folder is not None and folder.exists() and table_rows(folder) > 0


def _words(key: str | None) -> list[str]:
    return [w for w in (key or "").split(" ") if len(w) >= MIN_WORD]


def _text_keys(words: tuple[str, ...] | list[str]) -> set[str]:
    """Blocking keys of a text: its words of :data:`MIN_WORD` letters or more, and its pairs of
    consecutive words ("kanye west", "west crack"), far rarer than words in a large reference."""
    return {w for w in words if len(w) >= MIN_WORD} | {f"{a} {b}" for a, b in zip(words, words[1:])}


def _pairs(words: list[str]) -> set[str]:
    return {f"{a} {b}" for a, b in zip(words, words[1:])}


def candidates(con: Any, keyed: list[dict[str, Any]], paths: dict[str, Path], config: MatchConfig
               ) -> list[tuple[str, str]]:
    """(track_id, track_key) pairs of collection tracks and text rows that share a pair of
    consecutive words (within the artist, within the title, or the artist's last and the title's
    first word, either way round) or an artist word and a title word; for a collection track that
    is text, a pair of its words or :data:`MIN_SHARED_WORDS` words (see the module docstring). Best
    ``config.max_candidates`` per track by keys shared."""
    ids, words, roles = [], [], []
    for k in keyed:
        if "mixed" in k:  # a text itself
            text = k["mixed"].words
            named = [("b" if " " in w else "x", w) for w in _text_keys(text)]
        else:
            artists = [(k[c] or "").split() for c in ("artist_key", "anv_key") if k[c]]
            title = (k["title_key"] or "").split()
            pairs = _pairs(title)
            for a in artists:
                pairs |= _pairs(a)
                if a and title:
                    pairs |= {f"{a[-1]} {title[0]}", f"{title[-1]} {a[0]}"}
            named = [(role, w) for role, key in (("a", k["artist_key"]), ("a", k["anv_key"]), ("t", k["title_key"]))
                     for w in set(_words(key))] + [("b", p) for p in pairs]
        for role, w in named:
            ids.append(k["track_id"])
            words.append(w)
            roles.append(role)
    if not ids:
        return []
    con.register("text_query_words", pa.table({"track_id": ids, "word": words, "role": roles}))
    files = [str(f) for f in table_files(paths["text_words"])]
    try:
        found = con.execute(f"""
            with hits as (
                select q.track_id, w.track_key, bool_or(q.role = 'a') as a, bool_or(q.role = 't') as t,
                       bool_or(q.role = 'b') as b, count(distinct q.word) filter (where q.role = 'x') as nx,
                       count(distinct q.word) as n
                from text_query_words q join read_parquet({files!r}) w on w.word = q.word
                where w.df <= {min(int(config.max_block_size), MAX_WORD_ROWS)}
                group by q.track_id, w.track_key
            )
            select track_id, track_key from hits where b or (a and t) or nx >= {MIN_SHARED_WORDS}
            qualify row_number() over (partition by track_id order by n desc, track_key) <= {int(config.max_candidates)}
            order by track_id, track_key
        """).fetchall()
    finally:
        con.unregister("text_query_words")
    return [(t, k) for t, k in found]


def match(con: Any, keyed: list[dict[str, Any]], paths: dict[str, Path], config: MatchConfig, *,
          search: set[str] | None = None, forced: set[tuple[str, str]] = frozenset()
          ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], int]:
    """Links (score >= threshold, or forced by the user: method ``override``) and the best
    candidate per track of ``keyed`` against the text rows; returns (links, best, pairs scored).

    ``search``: the track ids whose candidates are looked for (collection tracks with an artist and
    a title; default: all of ``keyed``); ``forced``: (track_id, track_key) pairs scored and linked
    whatever their score, where the key is a text row."""
    wanted_ids = {k["track_id"] for k in keyed} if search is None else search
    found = candidates(con, [k for k in keyed if k["track_id"] in wanted_ids], paths, config)
    pairs = sorted(set(found) | set(forced))
    if not pairs:
        return [], {}, 0
    wanted = sorted({k for _, k in pairs})
    con.register("text_wanted", pa.table({"track_key": wanted}))
    files = [str(f) for f in table_files(paths["text_rows"])]
    try:
        refs = {r[0]: {"track_key": r[0], "title": r[1], "album": r[2], "duration_s": r[3]} for r in con.execute(
            f"select r.track_key, r.title, r.album, r.duration_s from read_parquet({files!r}) r "
            f"join text_wanted using (track_key)").fetchall()}
    finally:
        con.unregister("text_wanted")
    by_id = {k["track_id"]: k for k in keyed}
    pairs = [p for p in pairs if p[1] in refs]  # a forced key that is no text row is the index's (or unknown)
    raw = {key: " ".join(x for x in (r["title"], r["album"]) if x) for key, r in refs.items()}
    parsed = {key: mixed.parse(text) for key, text in raw.items()}
    to_explain = {key: mixed.field_words(text) for key, text in raw.items()}  # once per text row, not per pair
    n = len(pairs)
    t_sim, a_sim, alb = np.zeros(n), np.zeros(n), np.full(n, np.nan)
    dur, longer = np.full(n, np.nan), np.full(n, np.nan)
    for i, (tid, key) in enumerate(pairs):
        q, text = by_id[tid], parsed[key]
        if "mixed" in q:  # text against text
            t_sim[i] = a_sim[i] = text_similarity(q["mixed"], text)
        else:
            names = {"artist_key": q["artist_key"], "anv_key": q["anv_key"], "title_key": q["title_key"],
                     "album_key": q["album_key"]}
            t_sim[i], a_sim[i] = mixed.similarities(text, names, config.version_mismatch_sim)
            if q["album_key"]:
                alb[i] = mixed.coverage(q["album_key"], text)
                if mixed.unexplained(to_explain[key], list(names.values())) > MAX_UNEXPLAINED:
                    t_sim[i] = 0.0  # a word the track's names lack: "Rumour Has It Too" is another song
        a, b = q["duration_s"], refs[key]["duration_s"]
        if a is not None and b is not None:
            dur[i], longer[i] = abs(a - b), max(a, b)
    score = combine(t_sim, a_sim, alb, dur, config, longer)
    ok = passes_gates(t_sim, a_sim, config)
    score = np.where(ok, score, 0.0)
    by_user = np.array([p in forced for p in pairs], dtype=bool)

    def candidate(i: int) -> dict[str, Any]:
        tid, key = pairs[i]
        r = refs[key]
        return {"track_id": tid, "track_key": key, "artist": None, "title": r["title"], "album": r["album"],
                "duration_s": r["duration_s"], "position": None, "score": float(score[i]),
                "method": "override" if by_user[i] else "text_reference",
                "title_sim": float(t_sim[i]), "artist_sim": float(a_sim[i]),
                "album_sim": None if np.isnan(alb[i]) else float(alb[i]),
                "duration_diff_s": None if np.isnan(dur[i]) else float(dur[i])}

    top: dict[str, int] = {}  # track -> index of its best pair (a forced one first)
    for i, (tid, _) in enumerate(pairs):
        j = top.get(tid)
        if j is None or (by_user[i], score[i]) > (by_user[j], score[j]):
            top[tid] = i
    links = [candidate(i) for i in np.flatnonzero(by_user | (ok & (score >= config.threshold))).tolist()]
    best = {tid: candidate(i) for tid, i in top.items()}
    return links, best, n

