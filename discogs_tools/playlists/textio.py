"""Strict text decoding of tabular playlist inputs (CSV, TSV, JSON Lines).

Bytes are never replaced: a file in another encoding than the one given (``--encoding``,
default UTF-8) would otherwise silently merge distinct keys (``café``, ``cafè`` and ``cafê``
all becoming ``caf\ufffd``). A byte that does not decode is a :class:`DecodeError` naming the
file, the line and the byte offset (in the uncompressed stream for ``.gz`` inputs), located by
a second, binary pass that only runs on that error path.

With UTF-8 a leading byte-order mark (as Excel writes) is skipped, so it never becomes part
of the first column name.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import IO

from ..errors import InputError
from .inputs import open_binary

_BLOCK = 1 << 16


class DecodeError(InputError):
    """Bytes of a tabular input do not decode with the chosen encoding: a setup mistake
    (the wrong ``--encoding``), always an error, never a rejected file."""


def _codec_name(encoding: str) -> str:
    """Codec used to read: UTF-8 reads through ``utf-8-sig`` (skips a byte-order mark)."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def open_text(path: Path, encoding: str, newline: str | None) -> IO[str]:
    """Text stream of ``path`` (gzip-aware) decoding strictly with ``encoding``."""
    return io.TextIOWrapper(open_binary(path), encoding=_codec_name(encoding), errors="strict", newline=newline)


def decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> DecodeError:
    """The :class:`DecodeError` for the first undecodable byte of ``path`` (found by rereading
    the bytes with an incremental decoder, so line and offset are exact)."""
    # The plain codec, not utf-8-sig: a byte-order mark decodes as U+FEFF and offsets stay exact.
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    fed = 0
    newlines = 0
    try:
        with open_binary(path) as fh:
            while True:
                block = fh.read(_BLOCK)
                try:
                    text = decoder.decode(block, final=not block)
                except UnicodeDecodeError as err:
                    # err.object is what the decoder tried: bytes it buffered from the
                    # previous block followed by this block.
                    start = fed - (len(err.object) - len(block))
                    before = err.object[:err.start].decode(encoding, "replace")
                    bad = err.object[err.start:err.end]
                    return DecodeError(path, _reason(bad, encoding, err.reason),
                                       line=newlines + before.count("\n") + 1, offset=start + err.start)
                fed += len(block)
                newlines += text.count("\n")
                if not block:
                    break
    except OSError:
        pass
    return DecodeError(path, _reason(exc.object[exc.start:exc.end], encoding, exc.reason))


def _reason(bad: bytes, encoding: str, why: str) -> str:
    shown = " ".join(f"0x{b:02x}" for b in bad[:4])
    what = "byte" if len(bad) == 1 else "bytes"
    return (f"cannot decode {what} {shown} as {encoding} ({why}); the file is in another encoding: "
            f"pass it with --encoding (e.g. --encoding latin-1 or cp1252)")
