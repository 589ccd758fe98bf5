"""Cheap check at ingest that an audio file decodes to the end its header announces.

Headers lie about truncated files: a WAV cut with ``head -c`` keeps the ``data`` chunk size of
the whole file, an MP3 keeps its Xing frame count, a FLAC its STREAMINFO sample count, so the
tag reader reports the full duration and the damage only shows when the ``features`` stage
decodes (8 s of a "25 s" file, or a FLAC decode error). :func:`check_decodes` finds it at
ingest instead, with two tests:

1. the frames the decoder can actually reach (libsndfile counts a WAV/AIFF from the bytes
   present) must not fall short of the duration the tag reader found in the header;
2. a seek to the last :data:`TAIL_FRAMES` frames the header announces, and a decode of them,
   must succeed and return (almost) all of them. A cut FLAC fails the seek, a cut MP3
   decodes nothing there;
3. MP3 only: mpg123 seeks approximately in a file whose size disagrees with its Xing/Info (or
   VBRI) header, so test 2 misses cuts of a few percent. The header's byte count of the
   stream is compared with the bytes present after the ID3v2 tag instead; a stream more than
   :data:`MP3_BYTES_TOLERANCE` short (mpg123's own threshold for "stream size off") is
   truncated. Smaller cuts (under 1 % of the file) are not detected; MP3s without such a
   header only get test 2.

Cost: one open, one seek and the decode of at most :data:`TAIL_FRAMES` frames (about half a
second of audio), whatever the file's length, plus for MP3 a read of the first few KB: about
1 ms for WAV/FLAC and 15 ms for a 10-minute MP3 (mpg123 seeks frame by frame) on one core. No
audio is read except that tail.

Only formats libsndfile decodes are checked (:data:`CHECKED_SUFFIXES`: the ones the features
stage can read); others (m4a, wma, ape, ...) are accepted on their header, as before.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHECKED_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc"})
"""Suffixes whose files libsndfile decodes, and which are therefore decode-checked."""

TAIL_FRAMES = 8192
"""Frames decoded at the end of the stream (0.19 s at 44.1 kHz)."""

SLACK_FRAMES = 2304
"""Frames the decoder may come up short without the file counting as truncated: two MP3 frames,
the most that encoder delay and padding make a header's count and the decoded count differ."""


MP3_BYTES_TOLERANCE = 0.01
"""Share of its Xing/VBRI byte count an MP3 stream may lack before it counts as truncated."""

_MP3_HEAD_BYTES = 8192
"""Bytes read after the ID3v2 tag to find the first MPEG frame and its Xing/Info/VBRI header."""


class TruncatedAudio(Exception):
    """The file does not decode to the end its header announces (the message says where it stops)."""


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what the native decoders print on file descriptor 2 while checking (mpg123 warns
    ``Xing stream size off by more than 1%`` for every cut MP3); the reason goes to the rejects
    file instead. A no-op where descriptor 2 cannot be duplicated."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(exc: BaseException) -> str:
    text = (getattr(exc, "error_string", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def mp3_stream_bytes(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(bytes present, bytes announced)`` of an MP3's audio stream, or None when it has no
    Xing/Info/VBRI header. The stream starts at the first frame after the ID3v2 tag; trailing
    tags (ID3v1, APE) only make it longer, so they never count as missing."""
    import struct

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(10)
        start = 0
        if len(head) == 10 and head[:3] == b"ID3":
            start = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))
            if head[5] & 0x10:  # footer present
                start += 10
        fh.seek(start)
        block = fh.read(_MP3_HEAD_BYTES)
    sync = next((i for i in range(len(block) - 1) if block[i] == 0xFF and block[i + 1] & 0xE0 == 0xE0), None)
    if sync is None:
        return None
    frame = block[sync:sync + 200]
    announced = None
    for tag in (b"Xing", b"Info"):
        at = frame.find(tag)
        if at >= 0 and len(frame) >= at + 16:
            flags = struct.unpack(">I", frame[at + 4:at + 8])[0]
            field = at + 8 + (4 if flags & 1 else 0)  # frame count first, when present
            if flags & 2 and len(frame) >= field + 4:
                announced = struct.unpack(">I", frame[field:field + 4])[0]
            break
    else:
        at = frame.find(b"VBRI")
        if at >= 0 and len(frame) >= at + 14:
            announced = struct.unpack(">I", frame[at + 10:at + 14])[0]
    if not announced:
        return None
    return size - start - sync, announced


def check_decodes(path: str | os.PathLike[str], header_seconds: float | None) -> None:
    """Raise :class:`TruncatedAudio` when ``path`` stops decoding before its announced end.

    ``header_seconds`` is the duration the tag reader (mutagen) found, or None when only
    libsndfile could read the file. Files of other formats than :data:`CHECKED_SUFFIXES` are
    not checked. See the module docstring for what is tested and what it costs.
    """
    path = Path(path)
    if path.suffix.lower() not in CHECKED_SUFFIXES:
        return
    import soundfile as sf

    if path.suffix.lower() == ".mp3":
        try:
            stream = mp3_stream_bytes(path)
        except OSError as exc:
            raise TruncatedAudio(f"unreadable: {_first_line(exc)}") from None
        if stream is not None and stream[0] < stream[1] * (1 - MP3_BYTES_TOLERANCE):
            raise TruncatedAudio(f"truncated: the MP3 stream has {stream[0]:,} of the {stream[1]:,} bytes "
                                 "its Xing/VBRI header announces")
    with _quiet_native_stderr():
        try:
            f = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
            raise TruncatedAudio(f"truncated or corrupt: cannot be decoded ({_first_line(exc)})") from None
        with f:
            rate, frames = f.samplerate, f.frames
            if not rate or frames <= 0:
                raise TruncatedAudio("truncated or corrupt: no decodable frames")
            if header_seconds:
                announced = int(round(header_seconds * rate))
                if frames < announced - SLACK_FRAMES:
                    raise TruncatedAudio(f"truncated: the stream holds {frames / rate:.2f} s of the "
                                         f"{header_seconds:.2f} s its header announces")
            start = max(0, frames - TAIL_FRAMES)
            try:
                f.seek(start)
                got = len(f.read(frames - start, dtype="float32", always_2d=True))
            except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
                raise TruncatedAudio(f"truncated or corrupt: decoding fails before the announced end "
                                     f"{frames / rate:.2f} s ({_first_line(exc)})") from None
            if got < (frames - start) - SLACK_FRAMES:
                raise TruncatedAudio(f"truncated: decoding stops before {(start + got) / rate:.2f} s of the "
                                     f"{frames / rate:.2f} s its header announces")
