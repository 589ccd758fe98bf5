"""Read one audio file's tags and stream properties (mutagen, with soundfile as fallback).

:func:`read_audio_file` returns the fields of a ``collection/tracks`` row (without
``track_id`` / ``path``) or raises :class:`UnreadableAudio` with a one-line reason, which
the ingest stage writes to its rejects file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .decode_check import TruncatedAudio, check_decodes

AUDIO_EXTENSIONS = frozenset({
    ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".wav", ".wave", ".aif", ".aiff",
    ".aifc", ".wma", ".ape", ".wv", ".mpc", ".spx", ".dsf",
})
"""File name endings treated as audio when scanning a folder (others are skipped and counted)."""

# Tag names (lower case) that carry each field, most specific first. Covers Vorbis comments,
# mutagen's "easy" ID3 / MP4 names, and the names beets / Picard / Discogs taggers write.
TAG_ALIASES: dict[str, tuple[str, ...]] = {
    "artist": ("artist", "artists", "performer"),
    "title": ("title",),
    "album": ("album",),
    "album_artist": ("albumartist", "album artist", "album_artist", "albumartistsort"),
    "track_number": ("tracknumber", "track", "trkn"),
    "disc_number": ("discnumber", "disc", "disk"),
    "year": ("date", "year", "originaldate", "originalyear"),
    "isrc": ("isrc",),
    "barcode": ("barcode", "upc", "ean"),
    "catalog_number": ("catalognumber", "catalog number", "catalog_number", "catalog #", "labelno"),
    "discogs_release_id": ("discogs_release_id", "discogs_albumid", "discogs release id", "discogs_release",
                           "discogs_releaseid"),
    "discogs_master_id": ("discogs_master_id", "discogs_masterid", "discogs master id", "discogs_master"),
}

_LEADING_INT = re.compile(r"^\s*(\d+)")
_DISCOGS_ID = re.compile(r"(?:release/|master/|\[r|\[m)?(\d+)\]?\s*$")


class UnreadableAudio(Exception):
    """The file is not readable audio, or its tags are not valid text (the message says why)."""


def leading_int(value: Any) -> int | None:
    """First integer of a tag value: ``"3/12"`` -> 3, ``"1999-03-01"`` -> 1999; None if none."""
    if value is None:
        return None
    m = _LEADING_INT.match(str(value))
    return int(m.group(1)) if m else None


def discogs_id(value: Any) -> int | None:
    """A Discogs id from a tag: ``"12345"``, ``"[r12345]"`` or a release URL."""
    if value is None:
        return None
    m = _DISCOGS_ID.search(str(value).strip())
    return int(m.group(1)) if m else None


def _register_id3_keys() -> None:
    """Expose the TXXX frames that hold barcodes, catalogue numbers and Discogs ids to EasyID3."""
    from mutagen.easyid3 import EasyID3

    for key, desc in (("barcode", "BARCODE"), ("catalognumber", "CATALOGNUMBER"),
                      ("discogs_release_id", "DISCOGS_RELEASE_ID"), ("discogs_master_id", "DISCOGS_MASTER_ID"),
                      ("discogs_albumid", "discogs_albumid")):
        if key not in EasyID3.valid_keys:
            EasyID3.RegisterTXXXKey(key, desc)


def _text_tags(audio: Any) -> list[tuple[str, str]]:
    """Every text tag as (lower-case key, value) pairs; multi-valued tags give several pairs."""
    tags = getattr(audio, "tags", None)
    if not tags:
        return []
    pairs: list[tuple[str, str]] = []
    try:
        items = list(tags.items())
    except Exception as exc:  # noqa: BLE001 - tag containers raise many kinds of errors
        raise UnreadableAudio(f"cannot read tags: {exc}") from exc
    for key, values in items:
        if not isinstance(values, (list, tuple)):
            values = [values]
        for value in values:
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise UnreadableAudio(f"tag {key!r} is not valid UTF-8") from None
            if isinstance(value, tuple):  # MP4 track/disc numbers: (n, total)
                value = str(value[0])
            if not isinstance(value, str):
                value = str(value)
            if "\ufffd" in value:
                raise UnreadableAudio(f"tag {str(key).lower()!r} is not valid UTF-8")
            pairs.append((str(key).lower(), value))
    return pairs


def fields_from_tags(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Map tag pairs to collection/tracks fields (first alias present wins; multi-valued artists joined)."""
    by_key: dict[str, list[str]] = {}
    for key, value in pairs:
        by_key.setdefault(key, []).append(value)
    out: dict[str, Any] = {}
    for field, aliases in TAG_ALIASES.items():
        values = next((by_key[a] for a in aliases if a in by_key and any(v.strip() for v in by_key[a])), None)
        if values is None:
            out[field] = None
            continue
        values = [v.strip() for v in values if v.strip()]
        if field in ("track_number", "disc_number", "year"):
            out[field] = leading_int(values[0])
        elif field in ("discogs_release_id", "discogs_master_id"):
            out[field] = discogs_id(values[0])
        elif field == "artist":
            out[field] = " & ".join(values) if len(values) > 1 else values[0]
        else:
            out[field] = values[0]
    return out


def read_audio_file(path: str | Path) -> dict[str, Any]:
    """Tags, duration and stream properties of one audio file.

    Raises :class:`UnreadableAudio` when the file is not audio that mutagen or soundfile can
    read, has no positive duration, does not decode to the end its header announces (a cut
    file, see :mod:`.decode_check`), or holds tags that are not valid UTF-8.
    """
    import mutagen

    _register_id3_keys()
    path = Path(path)
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:  # noqa: BLE001 - mutagen raises format-specific errors
        raise UnreadableAudio(f"not readable audio ({type(exc).__name__}: {exc})") from exc
    duration = sample_rate = channels = None
    fmt = type(audio).__name__.removeprefix("Easy") if audio is not None else None
    if audio is not None and getattr(audio, "info", None) is not None:
        duration = getattr(audio.info, "length", None)
        sample_rate = getattr(audio.info, "sample_rate", None)
        channels = getattr(audio.info, "channels", None)
    header_seconds = duration
    if not duration:
        try:
            import soundfile

            info = soundfile.info(str(path))
            duration, sample_rate, channels = info.duration, info.samplerate, info.channels
            fmt = fmt or info.format
        except Exception as exc:  # noqa: BLE001
            if audio is None:
                raise UnreadableAudio(f"not a recognised audio format ({exc})") from exc
    if not duration or duration <= 0:
        raise UnreadableAudio("audio has no duration (empty or truncated stream)")
    try:
        check_decodes(path, header_seconds)
    except TruncatedAudio as exc:
        raise UnreadableAudio(str(exc)) from None
    pairs = _text_tags(audio) if audio is not None else []
    fields = fields_from_tags(pairs)
    fields.update(
        duration_s=float(duration),
        format=fmt,
        sample_rate=int(sample_rate) if sample_rate else None,
        channels=int(channels) if channels else None,
        tags=[{"key": k, "value": v} for k, v in pairs],
    )
    return fields
