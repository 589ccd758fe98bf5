"""Registry: association name -> module (each module has ``NAME`` and ``generate(ctx)``).

Optional module attributes: ``load_index(ws, dataset, split)`` (the split the association draws
from, default :func:`.index.load_split`; the playlist associations add the collection tracks
outside the dataset, :func:`.playlists.playlist_index`) and ``TABLE_5_1`` ((model, algorithm,
pairs differ each epoch) of seed 004 Table 5.1, reported by make-pairs).
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError
from . import artist, artist_co, label, playlist_co, playlist_ico, playlist_tco, playlist_w2v, release, track

ASSOCIATIONS: dict[str, ModuleType] = {m.NAME: m for m in (
    track, release, artist, label, artist_co, playlist_co, playlist_tco, playlist_w2v, playlist_ico)}
EDITORIAL: tuple[str, ...] = ("track", "release", "artist", "label")
PLAYLIST: tuple[str, ...] = ("playlist-co", "playlist-tco", "playlist-w2v", "playlist-ico")
# Associations whose pairs may use a track more than once per epoch (seed 004 sec. 5.3.3).
REPEATS_TRACKS: tuple[str, ...] = ("artist-co",)


def get(name: str) -> ModuleType:
    """The module of an association, or a :class:`ConfigError` listing the valid names."""
    try:
        return ASSOCIATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown association {name!r}; choose one of {', '.join(ASSOCIATIONS)}") from None
