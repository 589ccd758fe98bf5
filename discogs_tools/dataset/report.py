"""Figures of a built dataset: sizes per split, style frequencies per split, the artist overlap
check and label cardinality. Computed in DuckDB from the scratch tables of :mod:`.build`."""

from __future__ import annotations

from typing import Any

from .splits import SPLITS


def split_sizes(con) -> dict[str, dict[str, int]]:
    """Tracks, releases, artists and labels (distinct) per split, from ``final_tracks``."""
    rows = con.execute("""
        SELECT split, count(*) AS tracks,
               (SELECT count(DISTINCT r) FROM (SELECT unnest(releases) r FROM final_tracks f WHERE f.split = t.split)),
               (SELECT count(DISTINCT a) FROM (SELECT unnest(artists) a FROM final_tracks f WHERE f.split = t.split)),
               (SELECT count(DISTINCT l) FROM (SELECT unnest(labels) l FROM final_tracks f WHERE f.split = t.split))
        FROM final_tracks t GROUP BY split
    """).fetchall()
    found = {r[0]: {"tracks": r[1], "releases": r[2], "artists": r[3], "labels": r[4]} for r in rows}
    return {s: found.get(s, {"tracks": 0, "releases": 0, "artists": 0, "labels": 0}) for s in SPLITS}


def artist_overlap(con) -> int:
    """Number of artists found in more than one split (must be zero)."""
    return int(con.execute("""
        SELECT count(*) FROM (
            SELECT a FROM (SELECT split, unnest(artists) AS a FROM final_tracks)
            GROUP BY a HAVING count(DISTINCT split) > 1)
    """).fetchone()[0])


def style_table(con, min_releases: int) -> list[dict[str, Any]]:
    """Per kept style: releases overall, tracks, and distinct releases per split (style frequency table).

    A release counts for a style in a split when one of its tracks in that split carries the
    style and the release belongs to a kept group carrying it (``track_release_style``).
    """
    rows = con.execute("""
        WITH per_split AS (
            SELECT style, split, count(DISTINCT release_id) AS n FROM track_release_style GROUP BY style, split
        ), tracks AS (
            SELECT style, count(*) AS n FROM (SELECT unnest(styles) AS style FROM final_tracks) GROUP BY style
        )
        SELECT v."index", v.style, v.releases, coalesce(t.n, 0),
               coalesce(max(p.n) FILTER (WHERE p.split = 'train'), 0),
               coalesce(max(p.n) FILTER (WHERE p.split = 'validation'), 0),
               coalesce(max(p.n) FILTER (WHERE p.split = 'test'), 0)
        FROM style_vocab v LEFT JOIN tracks t USING (style) LEFT JOIN per_split p USING (style)
        GROUP BY v."index", v.style, v.releases, t.n
        ORDER BY v."index"
    """).fetchall()
    table = []
    for index, style, releases, tracks, tr, va, te in rows:
        table.append({"index": int(index), "style": style, "releases": int(releases), "tracks": int(tracks),
                      "train_releases": int(tr), "validation_releases": int(va), "test_releases": int(te),
                      "meets_minimum": bool(va >= min_releases and te >= min_releases)})
    return table


def label_cardinality(con) -> dict[str, Any]:
    """Styles per track: mean, max and the histogram {n_styles: tracks}."""
    rows = con.execute("SELECT len(styles) AS n, count(*) FROM final_tracks GROUP BY n ORDER BY n").fetchall()
    total = sum(c for _, c in rows)
    mean = sum(n * c for n, c in rows) / total if total else 0.0
    return {"mean": round(mean, 4), "max": max((n for n, _ in rows), default=0),
            "histogram": {str(n): int(c) for n, c in rows}}
