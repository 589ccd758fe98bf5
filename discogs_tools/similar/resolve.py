"""A ``similar`` query to a vector: a track id of the index, an audio file, or ``artist - title``.

- a track id held by the index: its stored vector (the track itself is left out of its neighbours);
- an existing file: embedded on the fly with the run's model (:mod:`.audio`); its artist tag, when
  readable, stands for "the query's artist" in the same-artist filter;
- text with `` - ``: the collection tracks whose artist and title have the same matcher keys
  (:mod:`discogs_tools.match.normalize`) as the text's two sides; the first of them held by the
  index is the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..collection.tags import AUDIO_EXTENSIONS
from ..errors import InputError
from .index import EmbeddingIndex
from .metadata import Metadata, TrackInfo


@dataclass
class Query:
    text: str
    kind: str                    # "track" | "text" | "audio"
    vector: np.ndarray
    track_id: str | None = None  # the collection track the query is (left out of its neighbours)
    info: TrackInfo | None = None
    notes: list[str] = field(default_factory=list)


def split_artist_title(text: str) -> tuple[str, str] | None:
    """``"Artist - Title"`` -> ("Artist", "Title") at the first `` - ``; None without one."""
    artist, sep, title = text.partition(" - ")
    if not sep or not artist.strip() or not title.strip():
        return None
    return artist.strip(), title.strip()


def _audio_tags(path: Path) -> TrackInfo | None:
    from ..collection.tags import UnreadableAudio, read_audio_file

    try:
        fields = read_audio_file(path)
    except (UnreadableAudio, OSError):
        return None
    return TrackInfo(track_id="", artist=fields.get("artist"), title=fields.get("title"), path=str(path))


def resolve(text: str, index: EmbeddingIndex, metadata: Metadata, *, embed_file=None) -> Query:
    """The query ``text`` as a vector (see module docstring). ``embed_file(path)`` embeds an audio
    file (given by the caller, who knows the run)."""
    key = index.key_of(text)
    if key is not None:
        info = metadata.lookup([text]).get(text)
        return Query(text, "track", index.vector(key), track_id=text, info=info)
    path = Path(text).expanduser()
    if path.is_file():
        if embed_file is None:
            raise InputError(path, "audio queries are not available here")
        return Query(text, "audio", np.asarray(embed_file(path), dtype=np.float32), info=_audio_tags(path))
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        raise InputError(path, "audio file not found (an audio query must be an existing file)")
    parts = split_artist_title(text)
    if parts is None:
        raise InputError(None, f"query {text!r} is not a track id of the index ({len(index):,} tracks), an existing "
                               "audio file, or `artist - title` text")
    artist, title = parts
    found = metadata.find_text(artist, title)
    held = [t for t in found if index.key_of(t) is not None]
    if not held:
        where = (f"{len(found)} collection track(s) match but have no embedding in this index" if found
                 else "no collection track has that artist and title (compared as the matcher normalises them)")
        raise InputError(None, f"query {text!r}: {where}")
    chosen = held[0]
    query = Query(text, "text", index.vector(index.key_of(chosen)), track_id=chosen,
                  info=metadata.lookup([chosen]).get(chosen))
    if len(held) > 1:
        query.notes.append(f"{len(held)} tracks match {text!r}; using {chosen} (others: {', '.join(held[1:4])}"
                           f"{', ...' if len(held) > 4 else ''})")
    return query
