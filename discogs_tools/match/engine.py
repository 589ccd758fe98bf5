"""Match one chunk of collection tracks against an index: candidates, scores, links.

1. keys of the collection tracks (:mod:`.normalize`, as for the index);
2. candidate recordings from blocking (:mod:`.blocking`); title and artist similarity
   (rapidfuzz) per candidate; candidates below ``min_title_sim`` / ``min_artist_sim`` dropped;
3. every index row of the surviving recordings (every release track, or playlist track,
   of that recording) scored with album and duration too; the album part is the best album
   similarity over the recording's rows, so a track from a compilation still links to the
   original album. Rows scoring at least ``threshold`` become links;
4. identifiers first: releases sharing the track's ISRC, barcode or catalogue number
   (:mod:`.identifiers`, methods ``isrc`` / ``barcode`` / ``catno``), then the release named by a
   Discogs release id tag, else every release of the master named by a Discogs master id tag
   (method ``id``): the best-titled track of each is linked whatever its score (the tag is the
   user's own statement);
5. Discogs: other releases of a linked master with a track of the same title and a compatible
   duration are linked with method ``master``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..io import parquet_glob
from . import blocking, identifiers, mixed, text_reference
from .index import IndexSource
from .keying import split_artist_title
from .normalize import album_key, artist_key, title_key
from .overrides import Overrides
from .scoring import (
    MatchConfig,
    artist_similarity,
    combine,
    optional_similarity,
    passes_gates,
    title_similarity,
)


@dataclass
class ChunkResult:
    links: list[dict[str, Any]] = field(default_factory=list)
    best: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    """(track_id, ref_id) links the user's overrides removed."""


def collection_keys(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalised keys of collection tracks; the album artist is the alternative artist (anv_key)."""
    out = []
    for t in tracks:
        a_key = artist_key(t.get("artist"))
        alt = artist_key(t.get("album_artist"))
        row = {
            "track_id": t["track_id"],
            "artist_key": a_key,
            "anv_key": alt if alt and alt != a_key else None,
            "title_key": title_key(t.get("title")),
            "album_key": album_key(t.get("album")) or None,
            "duration_s": t.get("duration_s"),
            "discogs_release_id": t.get("discogs_release_id"),
            "discogs_master_id": t.get("discogs_master_id"),
        }
        if not a_key and not alt and (t.get("title") or "").strip():
            # No artist: the title may hold the whole record (the mixed-up-field fallback).
            text = " ".join(x for x in (t.get("title"), t.get("album")) if x)
            row["mixed"] = mixed.parse(text)
            if row["duration_s"] is None:
                row["duration_s"] = row["mixed"].duration_s
            if t.get("title_field") is not None:  # a text-fallback row: its own title field, parsed
                row["title_field"] = mixed.parse(t["title_field"])
        out.append(row)
    return out


def _artist_sim(col_a: list, col_alt: list, ref_a: list, ref_anv: list) -> np.ndarray:
    sim = artist_similarity(col_a, ref_a)
    for left, right in ((col_a, ref_anv), (col_alt, ref_a), (col_alt, ref_anv)):
        if any(right) and any(left):
            sim = np.maximum(sim, artist_similarity(left, right))
    return sim


def _similarities(col: list[dict[str, Any]], refs: dict[str, list], config: MatchConfig
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Title and artist similarity of aligned (collection track, reference) pairs.

    ``refs`` holds columns artist_key, anv_key, title_key (and album_key for release tracks);
    tracks without an artist are scored as mixed-up text (:mod:`.mixed`).
    """
    n = len(col)
    t_sim, a_sim = np.zeros(n), np.zeros(n)
    plain = [i for i in range(n) if "mixed" not in col[i]]
    if plain:
        def pick(name: str) -> list:
            return [refs[name][i] for i in plain]

        t_sim[plain] = title_similarity([col[i]["title_key"] for i in plain], pick("title_key"), config)
        a_sim[plain] = _artist_sim([col[i]["artist_key"] for i in plain], [col[i]["anv_key"] for i in plain],
                                   pick("artist_key"), pick("anv_key"))
    names = [k for k in ("artist_key", "anv_key", "title_key", "album_key") if k in refs]
    for i in range(n):
        if "mixed" in col[i]:
            if "title_field" in col[i] and mixed.ordered_coverage(refs["title_key"][i], col[i]["title_field"]) \
                    < config.min_title_sim:
                continue  # a text-fallback row whose title field lacks the title (:func:`_keep_fields_explained`)
            t_sim[i], a_sim[i] = mixed.similarities(col[i]["mixed"], {k: refs[k][i] for k in names},
                                                    config.version_mismatch_sim)
    return t_sim, a_sim


def _durations(col: list[dict[str, Any]], rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Absolute duration differences and the longer duration of aligned pairs (NaN when unknown)."""
    both = [(c["duration_s"], r["duration_s"]) if c["duration_s"] is not None and r["duration_s"] is not None
            else (np.nan, np.nan) for c, r in zip(col, rows)]
    a = np.array([x for x, _ in both], dtype=np.float64)
    b = np.array([y for _, y in both], dtype=np.float64)
    return np.abs(a - b), np.fmax(a, b)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list]:
    """Row dicts as columns of the keys :func:`_similarities` reads."""
    names = [k for k in ("artist_key", "anv_key", "title_key", "album_key") if rows and k in rows[0]]
    return {k: [r[k] for r in rows] for k in names}


def _ref_id(row: dict[str, Any], source: IndexSource) -> str:
    return str(row["release_id"]) if source.name == "discogs" else str(row["track_key"])


def match_chunk(con: Any, tracks: list[dict[str, Any]], source: IndexSource, paths: dict[str, Path],
                config: MatchConfig, identifier_links: dict[str, list[tuple[int, str]]] | None = None,
                user: Overrides | None = None) -> ChunkResult:
    """Links and best candidates of one chunk of collection tracks (see module docstring), then,
    with ``config.text_fallback``, the tracks left without a link matched once more as one text
    (:func:`text_fallback_tracks`), and against the reference tracks that are text
    (:func:`_text_reference`, which also makes the links the user forced to those)."""
    result = _match_once(con, tracks, source, paths, config, identifier_links, user)
    if config.text_fallback:
        _text_fallback(con, tracks, result, source, paths, config, user)
    if text_reference.has_rows(paths):
        _text_reference(con, tracks, result, source, paths, config, user or Overrides())
    return result


def _merge(tracks: list[dict[str, Any]], result: ChunkResult, links: list[dict[str, Any]],
           found: dict[str, dict[str, Any]], source: IndexSource) -> None:
    """Add a later pass's links, and its best rows of the tracks it linked, to ``result``."""
    order = {t["track_id"]: i for i, t in enumerate(tracks)}
    result.links = sorted(result.links + links, key=lambda l: (order[l["track_id"]], _sort_ref(_ref_id(l, source))))
    result.best = [found.get(b["track_id"], b) for b in result.best]


def _text_reference(con: Any, tracks: list[dict[str, Any]], result: ChunkResult, source: IndexSource,
                    paths: dict[str, Path], config: MatchConfig, user: Overrides) -> None:
    """Tracks with an artist and a title still without a link (with ``config.text_fallback``), and
    links the user forced to them, matched against the reference tracks that are mixed-up text
    (:mod:`.text_reference`)."""
    linked = {b["track_id"] for b in result.best if b["matched"]}
    ids = {t["track_id"] for t in tracks}
    forced = {(tid, ref) for tid, refs in user.forced.items() if tid in ids for ref in refs}
    search = set() if not config.text_fallback else ids - linked
    wanted = search | {tid for tid, _ in forced}
    named = []
    for t in tracks:
        if t["track_id"] in wanted:
            named.append(t)
            # no artist: the title is compared as text, and if it reads "Artist - Title" also as those
            # (the dash may as well stand between title and album: both readings are scored)
            artist, title = split_artist_title(t.get("artist"), t.get("title"))
            if artist != t.get("artist"):
                named.append({**t, "track_id": t["track_id"] + _SPLIT, "artist": artist, "title": title})
    keyed = collection_keys(named)
    searched = {k["track_id"] for k in keyed if k["track_id"].split(_SPLIT)[0] in search and (
        "mixed" in k or (k["artist_key"] and k["title_key"]))}
    searched_tracks = {t.split(_SPLIT)[0] for t in searched}
    if config.text_fallback:
        result.counts["text_reference_tried"] = len(searched_tracks)
        result.counts["text_reference_linked"] = 0
    if not searched and not forced:
        return
    links, best, scored = text_reference.match(con, keyed, paths, config, search=searched, forced=forced)
    links, best = _fold_readings(links, best)
    result.counts["candidates"] += scored
    kept = []
    for link in links:
        if (link["track_id"], link["track_key"]) in user.forbidden:
            result.forbidden.add((link["track_id"], link["track_key"]))
        else:
            kept.append(link)
    if result.forbidden:
        result.counts["forbidden_removed"] = len(result.forbidden)
    result.counts["forced_linked"] = result.counts.get("forced_linked", 0) + sum(
        1 for link in kept if link["method"] == "override")
    n_links: dict[str, int] = {}
    for link in kept:
        n_links[link["track_id"]] = n_links.get(link["track_id"], 0) + 1
    found = {}
    for b in result.best:
        tid = b["track_id"]
        candidate = best.get(tid)
        if tid in n_links and b["matched"]:  # linked before; the user forced a text row too
            found[tid] = {**b, "n_links": b["n_links"] + n_links[tid]}
        elif tid in n_links:
            top = max((l for l in kept if l["track_id"] == tid), key=lambda l: (l["method"] == "override", l["score"]))
            found[tid] = {"track_id": tid, "matched": True, "n_links": n_links[tid], **_candidate_fields(top, source)}
        elif candidate is not None and (b.get("score") is None or candidate["score"] > b["score"]):
            found[tid] = {"track_id": tid, "matched": False, "n_links": 0, **_candidate_fields(candidate, source)}
    if config.text_fallback:
        result.counts["text_reference_linked"] = len(searched_tracks & set(n_links))
    _merge(tracks, result, kept, found, source)


_SPLIT = "\x1f"
"""Suffix of the id of a collection track's second reading (``Artist - Title``) in :func:`_text_reference`."""


def _fold_readings(links: list[dict[str, Any]], best: dict[str, dict[str, Any]]
                   ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Links and best candidates of both readings of a track as the track's: one link per
    reference track (the higher score), the better best candidate."""
    folded: dict[tuple[str, str], dict[str, Any]] = {}
    for link in links:
        link = {**link, "track_id": link["track_id"].split(_SPLIT)[0]}
        key = (link["track_id"], link["track_key"])
        if key not in folded or link["score"] > folded[key]["score"]:
            folded[key] = link
    top: dict[str, dict[str, Any]] = {}
    for entry, candidate in sorted(best.items()):
        tid = entry.split(_SPLIT)[0]
        if tid not in top or candidate["score"] > top[tid]["score"]:
            top[tid] = {**candidate, "track_id": tid}
    return sorted(folded.values(), key=lambda l: (l["track_id"], l["track_key"])), top


def _text_fallback(con: Any, tracks: list[dict[str, Any]], result: ChunkResult, source: IndexSource,
                   paths: dict[str, Path], config: MatchConfig, user: Overrides | None) -> None:
    """Tracks with an artist that linked to nothing, matched again as one text (:func:`text_fallback_tracks`)."""
    linked = {b["track_id"] for b in result.best if b["matched"]}
    retry = text_fallback_tracks([t for t in tracks if t["track_id"] not in linked])
    result.counts["text_fallback_tried"] = len(retry)
    result.counts["text_fallback_linked"] = 0
    if not retry:
        return
    again = _match_once(con, retry, source, paths, config, None, user)
    _keep_fields_explained(again, {t["track_id"]: t for t in retry}, source)
    for k in ("candidates", "candidates_gated", "rows_scored"):
        result.counts[k] += again.counts[k]
    result.forbidden |= again.forbidden  # a link forbidden in both passes is one removal
    if result.forbidden:
        result.counts["forbidden_removed"] = len(result.forbidden)
    found = {b["track_id"]: b for b in again.best if b["matched"]}
    result.counts["text_fallback_linked"] = len(found)
    if found:
        _merge(tracks, result, again.links, found, source)


def text_fallback_tracks(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tracks with an artist that linked to nothing, as mixed-up records: artist, title and album
    in the title field, in that order, the other text fields empty, the duration kept.

    Half-filled tags put part of the record in the wrong field (``Title (Album)`` or
    ``Title - Album`` as the title, an album artist where the artist belongs); as one text the
    record is scored by how much of a candidate's artist, title and album it holds
    (:mod:`.mixed`), which does not care which field held which name. Identifier and id tags are
    not repeated (they were used by the first pass)."""
    out = []
    for t in tracks:
        if not (t.get("artist") or "").strip() or not (t.get("title") or "").strip():
            continue  # no artist: already matched as text; no title: nothing to match
        text = " ".join(x.strip() for x in (t.get("artist"), t.get("title"), t.get("album")) if x and x.strip())
        out.append({"track_id": t["track_id"], "artist": None, "album_artist": None, "title": text, "album": None,
                    "duration_s": t.get("duration_s"), "artist_field_key": artist_key(t["artist"]),
                    "title_field": t["title"]})
    return out


MIN_ARTIST_FIELD_EXPLAINED = 0.5
"""Share of the artist field's words a text-fallback link's artist, title or album must hold (a
credit ``A, B`` against a release credited to ``A`` alone holds half)."""


MIN_TITLE_FIELD_EXPLAINED = 0.75
"""Share of the title field's words (prices, dates, durations, track numbers and neutral version
brackets taken out) a text-fallback link's title, album or artist must hold: the fallback is for a
title field holding title + album, so "Love Me Tender" is not "Love Me" (2 of 3) and "Unknown
Song 1270" by The Song is not The Song's "Unknown"."""


def _keep_fields_explained(result: ChunkResult, fallback: dict[str, dict[str, Any]], source: IndexSource) -> None:
    """Drop text-fallback links that the track's own fields contradict; a track left without links
    is unmatched again. Running the fields together loses where each word came from, but the
    fields still say something:

    - the artist field must name the candidate's artist, title or album
      (:func:`.mixed.field_explained`, :data:`MIN_ARTIST_FIELD_EXPLAINED`);
    - the candidate's title must be in the title field (``min_title_sim`` of its words in order),
      so a song missing from the reference does not link to its album's title track through the
      album field ("Reminiscing" on "Buy The Lie" is not the song "Buy The Lie"): checked earlier,
      at the gate of every candidate (:func:`_similarities`), so no such link reaches this filter;
    - the title field's other words must be the candidate's album or artist
      (:func:`.mixed.title_field_explained`, :data:`MIN_TITLE_FIELD_EXPLAINED`; not judged when
      the candidate's album is unknown);
    - a bracket of the title field must be the candidate's album, artist or title, neutral version
      info or a featured credit (:func:`.mixed.bracket_unexplained`): ``Call Of Raison (NightCore
      Bonus Track)`` is not ``Call Of Raison``."""
    def holds(link: dict[str, Any]) -> bool:
        track = fallback[link["track_id"]]
        keys = [link.get("artist_key"), link.get("anv_key"), link.get("title_key"), link.get("album_key")]
        return (mixed.field_explained(track["artist_field_key"], keys) >= MIN_ARTIST_FIELD_EXPLAINED
                and (not link.get("album_key")  # the other words may be that unknown album
                     or mixed.title_field_explained(track["title_field"], keys) >= MIN_TITLE_FIELD_EXPLAINED)
                and not mixed.bracket_unexplained(track["title_field"], keys, link.get("album_key")))

    kept = [l for l in result.links if holds(l)]
    if len(kept) == len(result.links):
        return
    n_links: dict[str, int] = {}
    top: dict[str, dict[str, Any]] = {}  # each track's best kept link: its best row must describe a link
    for l in kept:
        tid = l["track_id"]
        n_links[tid] = n_links.get(tid, 0) + 1
        if tid not in top or l["score"] > top[tid]["score"]:
            top[tid] = l
    result.links = kept
    for b in result.best:
        tid = b["track_id"]
        b["matched"], b["n_links"] = tid in n_links, n_links.get(tid, 0)
        if tid in top and (b.get("ref_id"), b.get("position")) != (_ref_id(top[tid], source), top[tid].get("position")):
            b.update(_candidate_fields(top[tid], source))


def _match_once(con: Any, tracks: list[dict[str, Any]], source: IndexSource, paths: dict[str, Path],
                config: MatchConfig, identifier_links: dict[str, list[tuple[int, str]]] | None = None,
                user: Overrides | None = None) -> ChunkResult:
    """One matching pass over a chunk (steps 1-5 of the module docstring)."""
    result = ChunkResult(counts={"candidates": 0, "candidates_gated": 0, "rows_scored": 0})
    keyed = collection_keys(tracks)
    by_id = {k["track_id"]: k for k in keyed}
    table = pa.Table.from_pylist([{c: k[c] for c in ("track_id", "artist_key", "anv_key", "title_key")}
                                  for k in keyed if "mixed" not in k],
                                 schema=pa.schema([("track_id", pa.string()), ("artist_key", pa.string()),
                                                   ("anv_key", pa.string()), ("title_key", pa.string())]))
    extra = [(k["track_id"], key) for k in keyed if "mixed" in k for key in mixed.block_keys(k["mixed"])]
    extra_keys = pa.table({"track_id": pa.array([e[0] for e in extra], pa.string()),
                           "block_key": pa.array([e[1] for e in extra], pa.string())})
    # -- 2. candidates and title/artist similarity per recording
    survivors: dict[tuple[str, int], tuple[float, float]] = {}
    pre_best: dict[str, dict[str, Any]] = {}
    for batch in blocking.candidate_recordings(con, table, paths, config.max_block_size, config.max_candidates,
                                               extra_keys=extra_keys):
        cols = batch.to_pydict()
        n = len(cols["track_id"])
        result.counts["candidates"] += n
        col = [by_id[t] for t in cols["track_id"]]
        t_sim, a_sim = _similarities(col, cols, config)
        pre = combine(t_sim, a_sim, None, None, config)
        ok = passes_gates(t_sim, a_sim, config)
        tids, recs = cols["track_id"], cols["recording_id"]
        for i in np.flatnonzero(ok).tolist():
            survivors[(tids[i], recs[i])] = (float(t_sim[i]), float(a_sim[i]))
        for i in _first_maxima(tids, pre):
            best = pre_best.get(tids[i])
            if best is None or pre[i] > best["score"]:
                pre_best[tids[i]] = {"score": float(pre[i]), "ref_artist": cols["artist_key"][i],
                                     "ref_title": cols["title_key"][i], "title_sim": float(t_sim[i]),
                                     "artist_sim": float(a_sim[i])}
    result.counts["candidates_gated"] = len(survivors)
    # -- 4. (first half) releases named by identifiers (ISRC, barcode, catno) or a Discogs release
    # id tag: each release's best-titled track, linked whatever its score
    user = user or Overrides()
    named = _named_releases(keyed, identifier_links or {}, user) if source.name == "discogs" else {}
    id_rows: dict[str, dict[tuple[int, int], str]] = {}  # track_id -> {(release_id, recording_id): method}
    if named:
        id_rows = _tagged_release_rows(con, named, by_id, paths, config, survivors)
    # -- 3. every index row of the surviving recordings, scored in full
    expand = source.name == "discogs" and config.expand_masters
    rows_src = _fetch_chunk_rows(con, survivors, paths, expand)
    rows = _index_rows(con, survivors, paths, rows_src)
    forced_keys = _forced_playlist_rows(con, keyed, user, paths, survivors, rows, config) \
        if source.name != "discogs" else set()
    result.counts["rows_scored"] = len(rows)
    links: dict[tuple[str, str], dict[str, Any]] = {}
    best: dict[str, dict[str, Any]] = {}
    if rows:
        col = [by_id[r["track_id"]] for r in rows]
        t_sim = np.array([survivors[(r["track_id"], r["recording_id"])][0] for r in rows])
        a_sim = np.array([survivors[(r["track_id"], r["recording_id"])][1] for r in rows])
        alb = optional_similarity([c["album_key"] for c in col], [r["album_key"] for r in rows])
        for i, (c, r) in enumerate(zip(col, rows)):
            if "mixed" in c:  # the album is known now: its words and the text's marks count
                t_sim[i], a_sim[i] = mixed.similarities(c["mixed"], r, config.version_mismatch_sim)
                alb[i] = mixed.coverage(r["album_key"], c["mixed"]) if r["album_key"] else np.nan
        best_album: dict[tuple[str, int], float] = {}
        for r, s in zip(rows, alb):
            if not np.isnan(s):
                key = (r["track_id"], r["recording_id"])
                best_album[key] = max(best_album.get(key, 0.0), float(s))
        rec_album = np.array([best_album.get((r["track_id"], r["recording_id"]), np.nan) for r in rows])
        dur, longer = _durations(col, rows)
        score = combine(t_sim, a_sim, rec_album, dur, config, longer)
        for i, r in enumerate(rows):
            tid = r["track_id"]
            c = col[i]
            exact = c["title_key"] == r["title_key"] and (
                c["artist_key"] in (r["artist_key"], r["anv_key"]) or
                (c["anv_key"] is not None and c["anv_key"] in (r["artist_key"], r["anv_key"])))
            method = "text" if "mixed" in c else ("key" if exact else "fuzzy")
            tag_method = id_rows.get(tid, {}).get((r["release_id"], r["recording_id"])) \
                if source.name == "discogs" else ("override" if (tid, r["track_key"]) in forced_keys else None)
            by_tag = tag_method is not None
            if by_tag:
                method = tag_method
            s = float(score[i])
            candidate = {**r, "score": s, "method": method, "title_sim": float(t_sim[i]),
                         "artist_sim": float(a_sim[i]), "album_sim": None if np.isnan(alb[i]) else float(alb[i]),
                         "duration_diff_s": None if np.isnan(dur[i]) else float(dur[i])}
            prev = best.get(tid)
            if prev is None or (s, by_tag) > (prev["score"], prev["method"] in identifiers.RANK):
                best[tid] = candidate
            if s >= config.threshold or by_tag:
                key = (tid, _ref_id(r, source))
                old = links.get(key)
                if old is None or (by_tag, s) > (old["method"] in identifiers.RANK, old["score"]):
                    links[key] = candidate
    _keep_best_explained(links, by_id)
    # -- 5. other releases of linked masters
    if expand and links:
        _expand_masters(con, links, by_id, paths, config, rows_src)
    for key in [k for k in links if k in user.forbidden]:  # the user's word is final
        del links[key]
        result.forbidden.add(key)
    if result.forbidden:
        result.counts["forbidden_removed"] = len(result.forbidden)
    result.counts["forced_linked"] = sum(1 for l in links.values() if l["method"] == "override")
    # Collection order, then reference id: the same whatever the chunk size.
    order = {k["track_id"]: i for i, k in enumerate(keyed)}
    result.links = [links[k] for k in sorted(links, key=lambda k: (order[k[0]], _sort_ref(k[1])))]
    n_links: dict[str, int] = {}
    for tid, _ in links:
        n_links[tid] = n_links.get(tid, 0) + 1
    for k in keyed:
        tid = k["track_id"]
        b = best.get(tid)
        row = {"track_id": tid, "matched": tid in n_links, "n_links": n_links.get(tid, 0)}
        if b is not None:
            row.update(_candidate_fields(b, source))
        elif tid in pre_best:
            p = pre_best[tid]
            row.update(score=p["score"], method="fuzzy", ref_artist=p["ref_artist"], ref_title=p["ref_title"],
                       title_sim=p["title_sim"], artist_sim=p["artist_sim"])
        result.best.append(row)
    return result


def _candidate_fields(candidate: dict[str, Any], source: IndexSource) -> dict[str, Any]:
    """A scored candidate (or link) as the fields of a ``match/<source>_best`` row."""
    c = candidate
    return dict(score=c["score"], method=c["method"], ref_id=_ref_id(c, source), position=c.get("position"),
                ref_artist=c["artist"], ref_title=c["title"], ref_album=c["album"], ref_duration_s=c["duration_s"],
                title_sim=c["title_sim"], artist_sim=c["artist_sim"], album_sim=c["album_sim"],
                duration_diff_s=c["duration_diff_s"])


def _first_maxima(ids: list[str], values: np.ndarray) -> list[int]:
    """Per run of equal consecutive ``ids``, the index of its first largest value: the candidates a
    loop keeping each track's first best score would keep (candidates come ordered by track, ~30
    per track at 10M, so the loop over all of them cost seconds of Python). NaN values: every index."""
    if len(ids) == 0:
        return []
    if np.isnan(values).any():
        return list(range(len(ids)))
    arr = np.asarray(ids, dtype=object)
    starts = np.concatenate(([0], np.flatnonzero(arr[1:] != arr[:-1]) + 1, [len(ids)]))
    return [int(a + np.argmax(values[a:b])) for a, b in zip(starts[:-1].tolist(), starts[1:].tolist())]


def _keep_best_explained(links: dict[tuple[str, str], dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> None:
    """Mixed-up tracks keep only the links of the recording(s) whose artist and title account
    for most words of the text ("Song Part 2" over "Song"; the song over the album's title track)."""
    best: dict[str, int] = {}
    counts: dict[tuple[str, str], int] = {}
    for key, link in links.items():
        track = by_id[key[0]]
        if "mixed" not in track:
            continue
        counts[key] = mixed.explained([link["artist_key"], link["anv_key"], link["title_key"]], track["mixed"])
        best[key[0]] = max(best.get(key[0], 0), counts[key])
    for key, n in counts.items():
        if n < best[key[0]]:
            del links[key]


def _sort_ref(ref: str) -> tuple[int, str]:
    """Release ids sort as numbers, playlist keys as text."""
    return (int(ref), "") if ref.isdigit() else (0, ref)


def _fetch_chunk_rows(con: Any, pairs: dict[tuple[str, int], Any], paths: dict[str, Path], masters: bool) -> str:
    """Copy into the temp table ``chunk_rows`` the index rows that this chunk can still need: those of
    the recordings of ``pairs`` and, with ``masters``, every row of their masters (what master
    expansion reads); returns the table's name.

    The rows table is read in full once (its recording and master ids once more, a cheap scan)
    instead of once for the recordings and once more for the masters: at 10M index rows each full
    read cost ~2.5 CPU-s per chunk.
    """
    if not pairs:
        return f"read_parquet('{parquet_glob(paths['rows'])}')"
    src = f"read_parquet('{parquet_glob(paths['rows'])}')"
    con.register("chunk_recordings", pa.table({"recording_id": pa.array(sorted({k[1] for k in pairs}), pa.int64())}))
    try:
        master_rows = (f"""or master_id in (select distinct master_id from {src}
                                         where recording_id in (select recording_id from chunk_recordings)
                                           and master_id is not null)""" if masters else "")
        con.execute(f"""
            create or replace temp table chunk_rows as
            select * from {src} where recording_id in (select recording_id from chunk_recordings) {master_rows}
        """)
    finally:
        con.unregister("chunk_recordings")
    return "chunk_rows"


def _index_rows(con: Any, pairs: dict[tuple[str, int], Any], paths: dict[str, Path],
                rows_src: str | None = None) -> list[dict[str, Any]]:
    """Every index row of the given (track_id, recording_id) pairs, in a stable order (from
    ``rows_src``, :func:`_fetch_chunk_rows`'s table, else the rows table)."""
    if not pairs:
        return []
    rows_src = rows_src or f"read_parquet('{parquet_glob(paths['rows'])}')"
    keys = sorted(pairs)
    wanted = pa.table({"track_id": [k[0] for k in keys], "recording_id": pa.array([k[1] for k in keys], pa.int64())})
    con.register("wanted_pairs", wanted)
    try:
        return blocking.arrow_table(con, f"""
            select w.track_id, i.* from wanted_pairs w
            join {rows_src} i using (recording_id)
            order by all
        """).to_pylist()
    finally:
        con.unregister("wanted_pairs")


def _named_releases(keyed: list[dict[str, Any]], identifier_links: dict[str, list[tuple[int, str]]],
                    user: Overrides) -> dict[str, list[tuple[int, str]]]:
    """track_id -> [(release_id, method)]: the user's forced releases, identifier matches, then
    the Discogs release id tag."""
    out: dict[str, list[tuple[int, str]]] = {}
    for k in keyed:
        found = [(int(r), "override") for r in user.forced.get(k["track_id"], []) if r.isdigit()]
        found += [(rid, m) for rid, m in identifier_links.get(k["track_id"], []) if all(rid != f for f, _ in found)]
        tag = k.get("discogs_release_id")
        if tag and all(rid != tag for rid, _ in found):
            found.append((int(tag), "id"))
        master = k.get("discogs_master_id")
        if master and not tag:  # every release of the tagged master; a negative id marks a master
            found.append((-int(master), "id"))
        if found:
            out[k["track_id"]] = found
    return out


def _tagged_release_rows(con: Any, named: dict[str, list[tuple[int, str]]], by_id: dict[str, dict[str, Any]],
                         paths: dict[str, Path], config: MatchConfig,
                         survivors: dict[tuple[str, int], tuple[float, float]]
                         ) -> dict[str, dict[tuple[int, int], str]]:
    """For each release named for a track: the release's track whose title is most similar.

    The title must reach ``min_title_sim`` (a catalogue number, reused across labels, also
    needs the artist to reach ``min_artist_sim``). The chosen (track, recording) joins the
    survivors so that the recording's other releases are scored as usual. Returns
    track_id -> {(release_id, recording_id): method}.
    """
    pairs = [(tid, rid, method) for tid, found in named.items() for rid, method in found]
    wanted = pa.table({"track_id": [p[0] for p in pairs],
                       "release_id": pa.array([p[1] if p[1] > 0 else None for p in pairs], pa.int64()),
                       "master_id": pa.array([-p[1] if p[1] < 0 else None for p in pairs], pa.int64()),
                       "method": [p[2] for p in pairs]})
    con.register("tagged_tracks", wanted)
    cols = "t.track_id, t.method, i.release_id, i.recording_id, i.title_key, i.artist_key, i.anv_key, i.album_key"
    try:
        rows = blocking.arrow_table(con, f"""
            select {cols} from tagged_tracks t join read_parquet('{parquet_glob(paths['rows'])}') i
              on i.release_id = t.release_id
            union all
            select {cols} from tagged_tracks t join read_parquet('{parquet_glob(paths['rows'])}') i
              on t.release_id is null and i.master_id = t.master_id
            order by all
        """).to_pylist()
    finally:
        con.unregister("tagged_tracks")
    if not rows:
        return {}
    col = [by_id[r["track_id"]] for r in rows]
    t_sim, a_sim = _similarities(col, _columns(rows), config)
    chosen: dict[tuple[str, int], tuple[float, int]] = {}
    for i, r in enumerate(rows):
        forced = r["method"] == "override"
        if not forced and (t_sim[i] < config.min_title_sim or (r["method"] == "catno"
                                                               and a_sim[i] < config.min_artist_sim)):
            continue
        key = (r["track_id"], r["release_id"])
        if key not in chosen or t_sim[i] > chosen[key][0]:
            chosen[key] = (float(t_sim[i]), i)
    out: dict[str, dict[tuple[int, int], str]] = {}
    for (tid, rid), (_, i) in sorted(chosen.items()):
        r = rows[i]
        survivors.setdefault((tid, r["recording_id"]), (float(t_sim[i]), float(a_sim[i])))
        out.setdefault(tid, {})[(rid, r["recording_id"])] = r["method"]
    return out


def _forced_playlist_rows(con: Any, keyed: list[dict[str, Any]], user: Overrides, paths: dict[str, Path],
                          survivors: dict[tuple[str, int], tuple[float, float]], rows: list[dict[str, Any]],
                          config: MatchConfig) -> set[tuple[str, str]]:
    """Playlist tracks the user forced for this chunk's tracks: their index rows join ``rows``
    (scored as usual, linked whatever the score). Returns the forced (track_id, track_key) pairs."""
    pairs = [(k["track_id"], ref) for k in keyed for ref in user.forced.get(k["track_id"], [])]
    if not pairs:
        return set()
    wanted = pa.table({"track_id": [p[0] for p in pairs], "track_key": [p[1] for p in pairs]})
    con.register("forced_pairs", wanted)
    try:
        extra = blocking.arrow_table(con, f"""
            select w.track_id, i.* from forced_pairs w
            join read_parquet('{parquet_glob(paths['rows'])}') i using (track_key) order by all
        """).to_pylist()
    finally:
        con.unregister("forced_pairs")
    have = {(r["track_id"], r["track_key"]) for r in rows}
    by_id = {k["track_id"]: k for k in keyed}
    new = [r for r in extra if (r["track_id"], r["track_key"]) not in have]
    if new:
        t_sim, a_sim = _similarities([by_id[r["track_id"]] for r in new], _columns(new), config)
        for i, r in enumerate(new):
            survivors.setdefault((r["track_id"], r["recording_id"]), (float(t_sim[i]), float(a_sim[i])))
        rows.extend(new)
        rows.sort(key=lambda r: (r["track_id"], r["recording_id"], r["track_key"]))
    return {(r["track_id"], r["track_key"]) for r in extra}


def _expand_masters(con: Any, links: dict[tuple[str, str], dict[str, Any]], by_id: dict[str, dict[str, Any]],
                    paths: dict[str, Path], config: MatchConfig, rows_src: str | None = None) -> None:
    """Add links (method 'master') to other releases of linked masters carrying the same title
    (index rows from ``rows_src``, which must hold every row of those masters, else the rows table)."""
    rows_src = rows_src or f"read_parquet('{parquet_glob(paths['rows'])}')"
    pairs = sorted({(tid, l["master_id"]) for (tid, _), l in links.items() if l.get("master_id") is not None})
    if not pairs:
        return
    wanted = pa.table({"track_id": [p[0] for p in pairs], "master_id": pa.array([p[1] for p in pairs], pa.int64())})
    con.register("linked_masters", wanted)
    try:
        rows = blocking.arrow_table(con, f"""
            select w.track_id, i.* from linked_masters w
            join {rows_src} i using (master_id)
            order by all
        """).to_pylist()
    finally:
        con.unregister("linked_masters")
    rows = [r for r in rows if (r["track_id"], str(r["release_id"])) not in links]
    if not rows:
        return
    col = [by_id[r["track_id"]] for r in rows]
    t_sim, a_sim = _similarities(col, _columns(rows), config)
    alb = optional_similarity([c["album_key"] for c in col], [r["album_key"] for r in rows])
    for i, (c, r) in enumerate(zip(col, rows)):
        if "mixed" in c:
            alb[i] = mixed.coverage(r["album_key"], c["mixed"]) if r["album_key"] else np.nan
    dur, longer = _durations(col, rows)
    score = combine(t_sim, a_sim, alb, dur, config, longer)
    tolerance = np.maximum(config.duration_tolerance_s, config.duration_tolerance_share * np.nan_to_num(longer))
    with np.errstate(invalid="ignore"):
        keep = ~(t_sim < config.expand_title_min) & ~(dur > tolerance)  # an unknown duration (NaN) passes
    for i in np.flatnonzero(keep).tolist():
        r = rows[i]
        key = (r["track_id"], str(r["release_id"]))
        s = float(score[i])
        if key not in links or s > links[key]["score"]:
            links[key] = {**r, "score": s, "method": "master", "title_sim": float(t_sim[i]),
                          "artist_sim": float(a_sim[i]), "album_sim": None if np.isnan(alb[i]) else float(alb[i]),
                          "duration_diff_s": None if np.isnan(dur[i]) else float(dur[i])}
