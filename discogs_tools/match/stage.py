"""Stage ``match``: link collection tracks to Discogs releases or to playlist tracks.

``run(ws, against="discogs")`` writes ``links/track_releases`` (every release carrying the
matched recording, with master_id); ``run(ws, against="playlists")`` writes
``links/track_playlist_tracks``. Both also write ``match/<source>_best`` (each track's best
candidate, matched or not) and ``match/<source>_report.json`` (see :mod:`.summary`).

The reference index is built on first use and reused while its input table is unchanged
(:mod:`.index`). Collection tracks are matched in chunks of ``config.chunk_tracks``; output
order is the collection's order then the reference id, whatever the chunk size, so reruns
give identical tables.

User overrides (:mod:`.overrides`, ``--overrides FILE``, kept and reapplied on later runs)
force or forbid single links after matching; the report lists what they changed and the ids
they name that do not exist.

An empty collection or reference table (or a reference whose tracks all lack an artist or
title) is an error naming the table and the command that fills it, not a run that writes 0
links. A run holds the output lock ``match``/``<against>``; DuckDB running out of memory and
of temp disk space is a one-line error, and nothing is replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import manifest
from ..errors import ConfigError, DiscogsToolsError, InputError
from ..io import TableWriter, iter_batches, table_rows, write_json_atomic
from ..locks import output_lock
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from . import blocking, identifiers, index, text_reference
from . import overrides as overrides_mod
from .engine import match_chunk
from .scoring import MatchConfig
from .summary import MatchSummary

COLLECTION = "collection/tracks"
COLLECTION_COLUMNS = ["track_id", "artist", "title", "album", "album_artist", "duration_s", "discogs_release_id",
                      "discogs_master_id"]
"""Columns matching reads per chunk (identifiers are read once, :mod:`.identifiers`)."""
LINK_TABLES = {"discogs": "links/track_releases", "playlists": "links/track_playlist_tracks"}


def _link_row(link: dict[str, Any], against: str) -> dict[str, Any]:
    if against == "discogs":
        return {"track_id": link["track_id"], "release_id": link["release_id"], "master_id": link["master_id"],
                "position": link["position"], "score": round(link["score"], 6), "method": link["method"]}
    return {"track_id": link["track_id"], "track_key": link["track_key"], "score": round(link["score"], 6),
            "method": link["method"]}


def _best_row(best: dict[str, Any]) -> dict[str, Any]:
    from ..schemas import load_schema

    names = load_schema("match/best_candidates").names
    row = {n: best.get(n) for n in names}
    if row["score"] is not None:
        row["score"] = round(row["score"], 6)
    return row


class MatchResourceError(DiscogsToolsError):
    """DuckDB could not get the memory or temp disk space it needed."""


def require_rows(ws: Workspace, name: str, produced_by: str) -> Path:
    """The folder of table ``name``; a missing or empty table is an error naming ``produced_by``."""
    folder = ws.require_table(name, produced_by)
    if table_rows(folder) == 0:
        raise InputError(folder, f"table {name} is empty (0 rows): nothing to match; run `{produced_by}` "
                                 "with input that has rows, then match again")
    return folder


def _unknown_override_ids(con: Any, user: overrides_mod.Overrides, collection: Path, paths: dict[str, Path],
                          against: str) -> tuple[list[str], list[str]]:
    """Override track ids not in the collection and reference ids not in the index (listed, not fatal)."""
    pairs = user.pairs()
    if not pairs:
        return [], []
    import pyarrow as pa

    from ..io import parquet_glob

    cast = "cast(i.release_id as varchar)" if against == "discogs" else "i.track_key"
    # playlist tracks without an artist are text rows, not index rows (:mod:`.text_reference`)
    text_keys = f" union select track_key from read_parquet('{parquet_glob(paths['text_rows'])}')" \
        if text_reference.has_rows(paths) else ""
    con.register("override_ids", pa.table({"track_id": [p[0] for p in pairs], "ref_id": [p[1] for p in pairs]}))
    try:
        tracks = [r[0] for r in con.execute(f"""
            select distinct o.track_id from override_ids o
            anti join read_parquet('{parquet_glob(collection)}') c on c.track_id = o.track_id order by 1""").fetchall()]
        refs = [r[0] for r in con.execute(f"""
            select distinct o.ref_id from override_ids o
            anti join (select distinct {cast} as ref from read_parquet('{parquet_glob(paths['rows'])}') i{text_keys}) x
              on x.ref = o.ref_id order by 1""").fetchall()]
    finally:
        con.unregister("override_ids")
    return tracks, refs


def run(ws: Workspace, against: str = "discogs", config: MatchConfig | None = None, *, rebuild_index: bool = False,
        threads: int | None = None, memory_limit: str | None = None, overrides: Path | None = None) -> Report:
    """Match every collection track against ``against`` ("discogs" or "playlists")."""
    if against not in index.SOURCES:
        raise ConfigError(f"--against must be one of {', '.join(index.SOURCES)}, got {against!r}")
    config = config or MatchConfig()
    source = index.SOURCES[against]
    collection = require_rows(ws, COLLECTION, "discogs-tools ingest collection PATH")
    require_rows(ws, source.input_table, source.produced_by)
    import duckdb

    with output_lock(ws.root, "match", against):
        try:
            prefix = "playlist" if against == "playlists" else against
            user = overrides_mod.load(ws.tables, prefix, Path(overrides) if overrides is not None else None)
            return _run_locked(ws, against, config, source, collection, rebuild_index=rebuild_index,
                               threads=threads, memory_limit=memory_limit, user=user)
        except duckdb.OutOfMemoryException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            temp = ws.tables / "match" / ".duckdb_tmp"
            raise MatchResourceError(
                f"match {against}: DuckDB ran out of memory (--memory-limit "
                f"{memory_limit or blocking.DEFAULT_MEMORY_LIMIT}) and of temp disk space to spill to in {temp} "
                f"({first}); free disk space there or raise --memory-limit; nothing was replaced") from None


def _run_locked(ws: Workspace, against: str, config: MatchConfig, source: index.IndexSource, collection: Path, *,
                rebuild_index: bool, threads: int | None, memory_limit: str | None,
                user: overrides_mod.Overrides) -> Report:
    report = Report(stage=f"match {against}")
    with manifest.Timer() as timer:
        index_stats = index.ensure(source, ws, rebuild=rebuild_index, threads=threads, memory_limit=memory_limit,
                                   workers=threads or 1)
        if not index_stats.get("index_rows") and not index_stats.get("text_rows"):
            raise InputError(ws.table(source.input_table),
                             f"table {source.input_table} has no track with both an artist and a title "
                             f"({index_stats.get('dropped_no_artist_or_title', 0):,} dropped"
                             + ("; a playlist track without an artist is matched by its title as text"
                                if against == "playlists" else "")
                             + f"): nothing to match against; check the input of `{source.produced_by}`")
        paths = source.tables(ws)
        prefix = "playlist" if against == "playlists" else against
        best_path = ws.table(f"match/{prefix}_best")
        report_path = ws.tables / "match" / f"{prefix}_report.json"
        summary = MatchSummary()
        counts = {"candidates": 0, "candidates_gated": 0, "rows_scored": 0}
        con = blocking.connect(threads, memory_limit, temp_dir=ws.tables / "match" / ".duckdb_tmp")
        with manifest.Timer() as match_timer:
            try:
                named = identifiers.release_matches(con, collection, ws.table(source.input_table)) \
                    if against == "discogs" else {}
                unknown_tracks, unknown_refs = _unknown_override_ids(con, user, collection, paths, against)
                counts["tracks_with_identifier_match"] = len(named)
                with TableWriter(ws.table(LINK_TABLES[against]), LINK_TABLES[against]) as links_out, \
                        TableWriter(best_path, "match/best_candidates") as best_out, \
                        Progress(f"match {against}") as bar:
                    for batch in iter_batches(collection, columns=COLLECTION_COLUMNS, batch_size=config.chunk_tracks):
                        result = match_chunk(con, batch.to_pylist(), source, paths, config, named, user)
                        for k, v in result.counts.items():
                            counts[k] = counts.get(k, 0) + v
                        if result.links:
                            links_out.write([_link_row(l, against) for l in result.links])
                        best_out.write([_best_row(b) for b in result.best])
                        summary.add(result.links, result.best)
                        bar.update(records=summary.tracks)
            finally:
                con.close()
    details = summary.to_dict()
    applied = {"forced_linked": counts.pop("forced_linked", 0), "forbidden_removed": counts.pop("forbidden_removed", 0)}
    user_report = overrides_mod.report(user, applied, unknown_tracks, unknown_refs) if user else None
    write_json_atomic(report_path, {"against": against, "config": config.to_dict(), "index": index_stats,
                                    "overrides": user_report, **details})
    if user_report:
        report.details.append({"overrides": user_report})
        report.counts.update({"overrides_forced_linked": applied["forced_linked"],
                              "overrides_forbidden_removed": applied["forbidden_removed"]})
        if unknown_tracks or unknown_refs:
            report.warnings.append(
                f"overrides name {len(unknown_tracks)} unknown track id(s) and {len(unknown_refs)} unknown "
                f"{'release id' if against == 'discogs' else 'track key'}(s), ignored: "
                + ", ".join([*unknown_tracks[:3], *unknown_refs[:3]]) + f"; see {report_path}")
    report.counts.update({"tracks": summary.tracks, "matched": summary.matched, "links": summary.links, **counts})
    report.figures.update({
        "matched_share": details["matched_share"],
        "links_per_matched_track": details["links_per_matched_track"],
        "index_built": index_stats.get("built", False),
        "index_rows": index_stats.get("index_rows", 0),
        "seconds": round(timer.seconds, 3),
        "match_seconds": round(match_timer.seconds, 3),
        "tracks_per_s": round(summary.tracks / match_timer.seconds, 1) if match_timer.seconds else 0.0,
    })
    report.outputs.update({"links": str(ws.table(LINK_TABLES[against])), "best": str(best_path),
                           "report": str(report_path)})
    report.details.append({"summary": summary.text()})
    if summary.tracks and summary.matched == 0:
        report.warnings.append("no track matched; check the best candidates in the report and the threshold")
    manifest.record(ws.manifest_path, f"match {against}",
                    {**report.to_dict(), "params": config.to_dict(),
                     "inputs": {"collection": str(collection), "reference": str(ws.table(source.input_table))}})
    return report
