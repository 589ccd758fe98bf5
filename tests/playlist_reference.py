"""A small playlists reference (`playlists/tracks`) written straight to a workspace, for matching tests."""

from __future__ import annotations

import pyarrow as pa

from discogs_tools.io import write_table
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace

KANYE_AND_ADELE = [
    ("spotify:track:1", "Rolling in the Deep", "Adele", "21", 228_000),
    ("spotify:track:2", "Rumour Has It", "Adele", "21", 223_000),
    ("spotify:track:3", "Crack In the Pearl", "Kanye West", "My Beautiful Dark Twisted Fantasy", 201_000),
    ("spotify:track:4", "Crack In the Pearl, Pt. II", "Kanye West", "My Beautiful Dark Twisted Fantasy", 189_000),
    ("spotify:track:5", "21", "Adele", "21", 200_000),
]
"""(track_key, track_name, artist_name, album_name, duration_ms): two part numbers of one song and
an album named like one of its tracks."""


def write_playlist_tracks(ws: Workspace, tracks: list[tuple[str, str, str, str, int]] = KANYE_AND_ADELE) -> None:
    """Write ``tracks`` as the workspace's playlists/tracks table (other columns empty)."""
    schema = load_schema("playlists/tracks")
    rows = [dict(zip(["track_key", "track_name", "artist_name", "album_name", "duration_ms"], t)) for t in tracks]
    write_table(ws.table("playlists/tracks"), pa.Table.from_pylist(
        [{n: r.get(n) for n in schema.names} for r in rows], schema=schema), "playlists/tracks")
