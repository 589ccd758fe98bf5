"""Artist, title, album and track number of an untagged file, guessed from its path.

The fallback for files whose tags lack an artist or a title (ripped without tagging, or
tagged only through the file name), in the spirit of beets' ``fromfilename`` plugin: the
file name and up to two folders above it are read against a few common layouts, first
match wins.

- ``Artist - Title.ext`` (also ``NN - Artist - Title.ext``, ``NN. Artist - Title.ext``);
- ``NN - Title.ext`` / ``NN. Title.ext`` / ``NN Title.ext`` under ``Artist/Album/``
  (artist and album from the folders), or under ``Artist - Album/``;
- ``Title by Artist.ext``;
- anything else: the whole name is the title (``01.mp3`` and ``Track 01.mp3`` give nothing).

Underscores count as spaces. Only fields the tags left empty are filled (:func:`fill_from_path`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

_TRACK = re.compile(r"^(?P<track>\d{1,3})(?:\s*[-.)]\s*|\s+)(?P<rest>\S.*)$")
_TRACK_SPACE_ONLY = re.compile(r"^0\d{1,2}\s+\S")
"""A number followed by a bare space is a track number only with a leading zero ("01 Title"),
so that "50 Cent - In Da Club" and "10 Years - Wasteland" keep their artist."""
_ARTIST_TITLE = re.compile(r"^(?P<artist>.+?)\s+[-–—]\s+(?P<title>.+)$")
_BY = re.compile(r"^(?P<title>.+?)\s+by\s+(?P<artist>.+)$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^(?:track|piste|titel|audio\s*track)?\s*\d*$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace("_", " ")).strip(" -–—.")


def _folder_artist_album(parts: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(artist, album) from the folders above the file: ``Artist/Album`` or ``Artist - Album``."""
    if not parts:
        return None, None
    album_dir = _clean(parts[-1])
    m = _ARTIST_TITLE.match(album_dir)
    if m:
        return _clean(m.group("artist")), _clean(m.group("title"))
    artist = _clean(parts[-2]) if len(parts) >= 2 else None
    return artist or None, album_dir or None


def fields_from_path(path: str) -> dict[str, Any]:
    """Artist, title, album and track number guessed from a relative path (POSIX form).

    >>> fields_from_path("Portishead/Dummy/03 - Sour Times.flac")["artist"]
    'Portishead'
    """
    p = PurePosixPath(path)
    stem = _clean(p.stem)
    folders = p.parts[:-1]
    out: dict[str, Any] = {"artist": None, "title": None, "album": None, "track_number": None}
    m = _TRACK.match(stem)
    if m and stem[len(m.group("track"))].isspace() and not re.match(r"^\d+\s*[-.)]", stem) \
            and not _TRACK_SPACE_ONLY.match(stem):
        m = None
    rest = stem
    if m:
        out["track_number"] = int(m.group("track"))
        rest = _clean(m.group("rest"))
    if not rest or _PLACEHOLDER.match(rest):
        return out
    m_at = _ARTIST_TITLE.match(rest)
    m_by = _BY.match(rest)
    folder_artist, folder_album = _folder_artist_album(folders)
    if m_at:
        out["artist"], out["title"] = _clean(m_at.group("artist")), _clean(m_at.group("title"))
        out["album"] = folder_album if folder_artist and folder_album else None
    elif m_by:
        out["artist"], out["title"] = _clean(m_by.group("artist")), _clean(m_by.group("title"))
    else:
        out["title"] = rest
        if out["track_number"] is not None:  # "NN - Title" lives in an album folder
            out["artist"], out["album"] = folder_artist, folder_album
    return out


def fill_from_path(fields: dict[str, Any], path: str) -> bool:
    """Fill the empty artist / title (and then album, track number) of ``fields`` from ``path``.

    Returns True when something was filled. Tags win: a field the tags have is never replaced.
    """
    if fields.get("artist") and fields.get("title"):
        return False
    guess = fields_from_path(path)
    filled = False
    for name in ("artist", "title", "album", "track_number"):
        if not fields.get(name) and guess.get(name) is not None:
            fields[name] = guess[name]
            filled = True
    return filled
