"""Demo inputs generated from the ingested Discogs sample: an audio collection, a playlist
dataset in the Million Playlist Dataset format, and a probe task.

``generate(workspace, out_dir, ...)`` reads ``tables/discogs/releases`` and writes:

    out_dir/collection/<track_id>.flac   synthetic audio (see :mod:`.audio`), tagged
    out_dir/collection/manifest.csv      track_id, path, artist, title, album, duration_s
    out_dir/playlists/mpd.slice.*.json   playlists built from label and artist "tastes"
    out_dir/probe/artist_group.csv       track_id, label (the artist's group), split
    out_dir/probe/artist_triplets.csv    anchor, positive (same artist, other track), negative
                                         (another artist), split

Tracks come from releases of artists with several releases in the sample (so artist pairs
exist) plus a seeded sample of other releases. One recording = (main artist, title); a title that
appears on several releases of the artist is one audio file, which matching links to all of them.
Tags use the artist name without Discogs' " (2)" disambiguation suffix, as real tags do.
Deterministic given the seed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .. import duck
from ..errors import ConfigError
from ..processes import init_worker
from ..io import atomic_path, write_text_atomic
from ..report import Report
from ..workspace import Workspace
from .audio import artist_group, synthesize

VARIOUS_ARTISTS_ID = 194
_DISAMBIGUATION = re.compile(r"\s\(\d+\)$")


@dataclass(frozen=True)
class DemoTrack:
    track_id: str
    artist_id: int
    artist: str
    label_id: int
    title: str
    album: str
    release_id: int
    style: str


def _candidate_rows(ws: Workspace) -> list[tuple]:
    """(release_id, artist_id, artist_name, label_id, release title, first style, track position, title)."""
    rel = ws.require_table("discogs/releases", "discogs-tools ingest discogs PATH")
    con = duck.connect()
    return con.execute(f"""
        with releases as (
            select release_id, title as album, artists[1].id as artist_id, artists[1].name as artist,
                   labels[1].id as label_id, coalesce(styles[1], genres[1], 'unknown') as style, tracklist
            from read_parquet('{rel}/*.parquet')
            where len(artists) = 1 and artists[1].id is not null and artists[1].id <> {VARIOUS_ARTISTS_ID}
              and labels[1].id is not null
        ),
        tracks as (
            select release_id, artist_id, artist, label_id, album, style, t.position as position, t.title as title,
                   t.ord as ord
            from releases, unnest(list_transform(tracklist, lambda x, i: {{'position': x.position, 'title': x.title,
                                  'type_': x.type_, 'ord': i}})) as u(t)
            where coalesce(t.type_, 'track') = 'track' and t.title is not null and t.title <> ''
        )
        select release_id, artist_id, artist, label_id, album, style, position, title
        from tracks order by release_id, ord
    """).fetchall()


def select_tracks(ws: Workspace, n_other_releases: int = 120, tracks_per_release: int = 2,
                  seed: int = 0) -> list[DemoTrack]:
    """Pick the demo's recordings from the ingested releases (deterministic given the seed)."""
    rows = _candidate_rows(ws)
    if not rows:
        raise ConfigError("the releases table has no single-artist releases with tracks and labels")
    by_release: dict[int, list[tuple]] = defaultdict(list)
    releases_of_artist: dict[int, set[int]] = defaultdict(set)
    for r in rows:
        by_release[r[0]].append(r)
        releases_of_artist[r[1]].add(r[0])
    multi = sorted(rid for rid, trs in by_release.items() if len(releases_of_artist[trs[0][1]]) > 1)
    others = sorted(set(by_release) - set(multi))
    rng = np.random.default_rng(seed)
    chosen = multi + sorted(rng.choice(others, size=min(n_other_releases, len(others)), replace=False).tolist())
    tracks: dict[tuple[int, str], DemoTrack] = {}
    for rid in sorted(chosen):
        trs = by_release[rid]
        picks = sorted(rng.choice(len(trs), size=min(tracks_per_release, len(trs)), replace=False).tolist())
        for i in picks:
            _, artist_id, artist, label_id, album, style, _pos, title = trs[i]
            key = (artist_id, title.strip().lower())
            if key in tracks:
                continue
            digest = hashlib.sha1(f"{artist_id}\x1f{key[1]}".encode()).hexdigest()[:12]
            tracks[key] = DemoTrack(track_id=f"demo-{digest}", artist_id=int(artist_id),
                                    artist=_DISAMBIGUATION.sub("", artist), label_id=int(label_id),
                                    title=title.strip(), album=album, release_id=int(rid), style=style)
    return sorted(tracks.values(), key=lambda t: t.track_id)


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> None:
    """A CSV file written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)


def _write_audio(args: tuple[DemoTrack, Path, float, int]) -> float:
    import soundfile as sf
    from mutagen.flac import FLAC

    track, path, duration_s, sample_rate = args
    seed = int(track.track_id.split("-")[1], 16)
    audio = synthesize(track.artist_id, track.label_id, seed, duration_s, sample_rate)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sample_rate, format="FLAC", subtype="PCM_16")
        tags = FLAC(tmp)
        tags["artist"] = track.artist
        tags["title"] = track.title
        tags["album"] = track.album
        tags.save()
    return len(audio) / sample_rate


def _playlists(tracks: list[DemoTrack], n_playlists: int, seed: int) -> list[dict]:
    """Playlists with a taste: mostly one label's or one artist's tracks, some of one style, some
    random tracks, and a few tracks that are not in the collection at all."""
    rng = np.random.default_rng([seed, 101])
    by_label: dict[int, list[int]] = defaultdict(list)
    by_artist: dict[int, list[int]] = defaultdict(list)
    by_style: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(tracks):
        by_label[t.label_id].append(i)
        by_artist[t.artist_id].append(i)
        by_style[t.style].append(i)
    groups = [v for v in list(by_label.values()) + list(by_artist.values()) if len(v) > 1]
    out = []
    for pid in range(n_playlists):
        core = list(groups[int(rng.integers(len(groups)))])
        style_pool = by_style[tracks[core[0]].style]
        length = int(rng.integers(8, 30))
        members = core[:]
        while len(members) < length:
            u = rng.random()
            pool = style_pool if u < 0.5 else range(len(tracks))
            members.append(int(rng.choice(list(pool))))
        members = list(dict.fromkeys(members))
        rng.shuffle(members)
        items = []
        for i in members:
            t = tracks[i]
            items.append({"track_uri": "spotify:track:" + hashlib.sha1(t.track_id.encode()).hexdigest()[:22],
                          "track_name": t.title, "artist_name": t.artist,
                          "artist_uri": f"spotify:artist:{t.artist_id}", "album_name": t.album,
                          "album_uri": f"spotify:album:{t.release_id}", "duration_ms": 22000})
        for j in range(int(rng.integers(0, 3))):  # tracks that are not in the collection
            x = int(rng.integers(10_000))
            items.append({"track_uri": f"spotify:track:other{x:017d}", "track_name": f"Unknown Song {x}",
                          "artist_name": f"Unknown Artist {x % 97}", "artist_uri": f"spotify:artist:other{x % 97}",
                          "album_name": f"Unknown Album {x % 311}", "album_uri": f"spotify:album:other{x % 311}",
                          "duration_ms": 180000 + x})
        for pos, item in enumerate(items):
            item["pos"] = pos
        out.append({
            "name": f"demo mix {pid}", "collaborative": "false", "pid": pid, "modified_at": 1500000000 + pid,
            "num_tracks": len(items), "num_albums": len({i["album_uri"] for i in items}),
            "num_followers": int(rng.integers(1, 50)), "num_edits": int(rng.integers(1, 10)),
            "duration_ms": sum(i["duration_ms"] for i in items),
            "num_artists": len({i["artist_uri"] for i in items}), "tracks": items,
        })
    return out


def artist_triplets(tracks: list[DemoTrack], seed: int) -> list[tuple[str, str, str, int]]:
    """Similarity triplets (anchor, positive, negative, anchor's artist id): every track of an artist
    with several tracks is an anchor, the artist's next track its positive, and a random track of
    another artist its negative. Deterministic given the seed."""
    rng = np.random.default_rng([seed, 202])
    by_artist: dict[int, list[DemoTrack]] = defaultdict(list)
    for t in tracks:
        by_artist[t.artist_id].append(t)
    out = []
    for artist_id in sorted(by_artist):
        own = by_artist[artist_id]
        if len(own) < 2:
            continue
        for i, anchor in enumerate(own):
            positive = own[(i + 1) % len(own)]
            while (negative := tracks[int(rng.integers(len(tracks)))]).artist_id == artist_id:
                pass
            out.append((anchor.track_id, positive.track_id, negative.track_id, artist_id))
    return out


def generate(ws: Workspace, out_dir: Path, *, n_other_releases: int = 120, tracks_per_release: int = 2,
             duration_s: float = 21.0, sample_rate: int = 16000, n_playlists: int = 300, seed: int = 0,
             workers: int = 2) -> Report:
    """Write the demo's collection, playlists and probe task under ``out_dir`` (see module docstring)."""
    tracks = select_tracks(ws, n_other_releases, tracks_per_release, seed)
    out_dir = Path(out_dir)
    audio_dir = out_dir / "collection"
    audio_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(t, audio_dir / f"{t.track_id}.flac", duration_s, sample_rate) for t in tracks
            if not (audio_dir / f"{t.track_id}.flac").exists()]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, initializer=init_worker, initargs=(os.getpid(),)) as pool:
            list(pool.map(_write_audio, jobs, chunksize=8))
    else:
        for job in jobs:
            _write_audio(job)
    _write_csv(audio_dir / "manifest.csv", ["track_id", "path", "artist", "title", "album", "duration_s"],
               ([t.track_id, f"{t.track_id}.flac", t.artist, t.title, t.album, f"{duration_s:.3f}"] for t in tracks))
    playlists = _playlists(tracks, n_playlists, seed)
    info = {"generated_on": "demo", "slice": f"0-{n_playlists - 1}", "version": "v1"}
    write_text_atomic(out_dir / "playlists" / f"mpd.slice.0-{n_playlists - 1}.json",
                      json.dumps({"info": info, "playlists": playlists}))
    def artist_split(artist_id: int) -> str:
        """Probe splits by artist, so the probe is scored on artists it never trained on."""
        h = int(hashlib.sha1(f"split{seed}:{artist_id}".encode()).hexdigest(), 16) % 10
        return "train" if h < 6 else "validation" if h < 8 else "test"

    _write_csv(out_dir / "probe" / "artist_group.csv", ["track_id", "label", "split"],
               ([t.track_id, f"group-{artist_group(t.artist_id)}", artist_split(t.artist_id)] for t in tracks))
    triplets = artist_triplets(tracks, seed)
    _write_csv(out_dir / "probe" / "artist_triplets.csv", ["anchor", "positive", "negative", "split"],
               ([a, p, n, artist_split(artist_id)] for a, p, n, artist_id in triplets))
    return Report(stage="demo data", counts={"tracks": len(tracks), "audio_written": len(jobs),
                                             "artists": len({t.artist_id for t in tracks}),
                                             "labels": len({t.label_id for t in tracks}),
                                             "playlists": n_playlists,
                                             "probe_triplets": len(triplets)},
                  outputs={"collection": str(audio_dir), "playlists": str(out_dir / "playlists"),
                           "probe": str(out_dir / "probe")})
