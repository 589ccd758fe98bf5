"""Seeded synthetic Discogs releases and track links, shaped like the real tables.

Used by tests and benchmarks of ``build-dataset`` when the real dumps are too small or too
large: rows follow schemas/discogs/releases.json and schemas/links/track_releases.json
(unused columns are null). Every release has one label and 3-8 tracks; ~10% are compilations
by 'Various' (194) with per-track artists; ~30% have no master; style counts per master follow
a Zipf-like distribution and a few masters carry more than five styles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..io import write_table
from ..schemas import load_schema

VARIOUS = 194


def _artist(aid: int) -> dict:
    return {"id": int(aid), "name": f"Artist {aid}", "anv": None, "join": None, "role": None, "tracks": None}


def synthetic_releases(n_masters: int, *, n_artists: int, n_labels: int, n_styles: int = 30,
                       seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """Return (releases, links): a releases table and the track links of a collection holding one
    track per (master, position), linked to every release of the master with that position."""
    rng = np.random.default_rng(seed)
    schema = load_schema("discogs/releases")
    style_weights = 1.0 / np.arange(1, n_styles + 1) ** 0.8
    style_weights /= style_weights.sum()
    styles_vocab = [f"Style {i:03d}" for i in range(n_styles)]
    rows: list[dict] = []
    links: list[dict] = []
    release_id = 1
    for m in range(n_masters):
        has_master = rng.random() > 0.3
        n_rel = int(rng.integers(1, 4)) if has_master else 1
        master_id = 100_000 + m if has_master else None
        compilation = rng.random() < 0.1
        main_artist = VARIOUS if compilation else int(rng.integers(1, n_artists + 1))
        n_tracks = int(rng.integers(3, 9))
        track_artists = [int(rng.integers(1, n_artists + 1)) if compilation else None for _ in range(n_tracks)]
        durations = [float(rng.choice([12.0, 95.0, 180.0, 240.0, 420.0], p=[0.05, 0.15, 0.4, 0.3, 0.1]))
                     for _ in range(n_tracks)]
        k = 7 if rng.random() < 0.03 else int(rng.integers(1, 4))
        styles = sorted(set(rng.choice(styles_vocab, size=k, p=style_weights).tolist()))
        for r in range(n_rel):
            label = int(rng.integers(1, n_labels + 1))
            # Releases of one master mostly share styles; sometimes a release adds one.
            rel_styles = list(styles)
            if r and rng.random() < 0.2:
                rel_styles = sorted(set(rel_styles) | {styles_vocab[int(rng.integers(0, n_styles))]})
            tracklist = []
            for t in range(n_tracks):
                tracklist.append({
                    "position": f"A{t + 1}", "type_": "track", "title": f"Song {m}-{t}", "duration": None,
                    "duration_s": durations[t],
                    "artists": [_artist(track_artists[t])] if track_artists[t] else [],
                    "extraartists": [_artist(n_artists + 1 + (m % 50))] if t == 0 else [],
                    "sub_tracks": [],
                })
                links.append({"track_id": f"trk{m:07d}-{t + 1:02d}", "release_id": release_id,
                              "master_id": master_id, "position": f"A{t + 1}", "score": 1.0, "method": "master"})
            rows.append({
                "release_id": release_id, "status": "Accepted", "title": f"Release {release_id}",
                "master_id": master_id, "is_main_release": r == 0,
                "artists": [_artist(main_artist)],
                "extraartists": [],
                "labels": [{"id": label, "name": f"Label {label}", "catno": f"CAT{release_id}"}],
                "genres": ["Electronic"], "styles": rel_styles, "tracklist": tracklist,
                "source_file": "synthetic", "record_ordinal": release_id - 1, "source_offset": 0,
            })
            release_id += 1
    columns = {}
    for field in schema:
        values = [row.get(field.name) for row in rows]
        columns[field.name] = pa.array(values, type=field.type)
    releases = pa.table(columns, schema=schema)
    link_schema = load_schema("links/track_releases")
    links_table = pa.Table.from_pylist(links, schema=link_schema)
    return releases, links_table


def write_synthetic_workspace(ws_root: Path, n_masters: int, *, n_artists: int, n_labels: int,
                              n_styles: int = 30, seed: int = 0) -> None:
    """Write tables/discogs/releases and tables/links/track_releases into a workspace folder."""
    releases, links = synthetic_releases(n_masters, n_artists=n_artists, n_labels=n_labels,
                                         n_styles=n_styles, seed=seed)
    write_table(Path(ws_root) / "tables" / "discogs" / "releases", releases, "discogs/releases")
    write_table(Path(ws_root) / "tables" / "links" / "track_releases", links, "links/track_releases")
