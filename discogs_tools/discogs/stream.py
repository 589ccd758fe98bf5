"""Read a dump as a stream of decompressed bytes and cut it into chunks of whole records.

Nothing is ever decompressed to disk and memory stays bounded by the chunk size: the file is
read block by block (gzip is detected by its magic bytes, not by the name, and decompressed
in-process with ISA-L's igzip when the ``isal`` package is installed, else with zlib), and each
block is cut after the last complete record. A *record* is the text up to and including the
record's end tag (``</release>``); every record keeps its byte offset in the decompressed XML
and its ordinal in the file, so a row of the table can be traced back to its source.

The end of the file is checked: a dump cut in the middle of a record, or missing its closing
root tag, is reported (:class:`Tail`), never silently accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import InputError
from .detect import PROLOG_LIMIT, Entity, Prolog, read_prolog

try:  # ISA-L's gzip is several times faster than zlib; optional.
    from isal import igzip as _gzip_impl
    from isal.isal_zlib import error as _isal_error

    _GZIP_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, _isal_error)
except ImportError:  # pragma: no cover - depends on the environment
    _gzip_impl = gzip  # type: ignore[assignment]
    _GZIP_ERRORS = (EOFError, OSError, zlib.error)

GZIP_MAGIC = b"\x1f\x8b"
# Bytes of whole records handed to a worker at a time; each chunk becomes one Parquet part file
# (bigger parts are cheaper to write per row; see chunk.PARSE_BATCH_BYTES for the parse size).
DEFAULT_CHUNK_BYTES = 16 << 20


class _HashingReader:
    """A raw file that hashes (sha256) and counts every byte read through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.sha256.update(data)
        self.pos += len(data)
        return data

    def readinto(self, b) -> int:  # used by some gzip readers
        n = self._fh.readinto(b)
        self.sha256.update(memoryview(b)[:n])
        self.pos += n
        return n

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._fh.close()


class DumpReader:
    """Decompressed bytes of one dump file, with the position in the raw (compressed) file.

    ``read(n)`` returns up to ``n`` bytes of XML (b"" at the end). Gzip errors (a truncated or
    corrupt file) become :class:`InputError` naming the file and the offsets. ``checksum`` is
    the sha256 of the raw file, complete once the whole file was read.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._raw = _HashingReader(open(self.path, "rb"))
        with open(self.path, "rb") as fh:
            magic = fh.read(2)
        self.compressed = magic == GZIP_MAGIC
        self._stream: BinaryIO = _gzip_impl.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw  # type: ignore[assignment]
        self.xml_bytes = 0  # decompressed bytes returned so far

    @property
    def raw_pos(self) -> int:
        """Bytes of the file itself read so far (for a bytes-based progress bar)."""
        return self._raw.pos

    @property
    def checksum(self) -> str:
        return f"sha256:{self._raw.sha256.hexdigest()}"

    def read(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
        except _GZIP_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, EOFError):
                reason = f"truncated gzip file ({reason})"
            else:
                reason = f"corrupt gzip data ({reason})"
            raise InputError(self.path, f"{reason} after {self.xml_bytes:,} bytes of XML",
                             offset=self._raw.pos) from None
        self.xml_bytes += len(data)
        return data

    def finish(self) -> None:
        """Read the rest of the raw file so the checksum covers all of it."""
        while self._raw.read(1 << 20):
            pass

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "DumpReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Chunk:
    """Whole records cut from a dump: ``data`` starts at XML byte ``offset`` of the file."""

    index: int
    data: bytes
    offset: int
    first_ordinal: int
    records: int


@dataclass
class Tail:
    """What follows the last complete record, when it is not a proper end of file."""

    offset: int
    reason: str
    kind: str = "trailing"     # "cut" (inside a record), "unclosed" (no closing root tag), "trailing"
    record: str | None = None  # id of a record cut in the middle, when it can be read
    raw: bytes = b""


@lru_cache(maxsize=None)
def _tag_regex(tag: str) -> re.Pattern[bytes]:
    """Start, end and empty tags of one element name (for entities whose record tag nests)."""
    return re.compile(rb"<(/?)" + tag.encode() + rb"(?=[\s/>])[^>]*?(/?)>")


def _cut_nested(data: bytes, tag: str) -> tuple[int, int]:
    """(end of the last top-level record, number of top-level records) for a nesting tag."""
    depth = 0
    cut = 0
    count = 0
    for m in _tag_regex(tag).finditer(data):
        if m.group(1):
            depth -= 1
        elif not m.group(2):
            depth += 1
            continue
        if depth == 0:
            cut = m.end()
            count += 1
        elif depth < 0:
            depth = 0
    return cut, count


def record_spans(data: bytes, entity: Entity) -> list[tuple[int, int]]:
    """(start, end) of every record in a chunk of whole records, in document order.

    A record ends with its end tag and starts at the first ``<`` after the previous one.
    """
    tag = entity.record_tag
    spans: list[tuple[int, int]] = []
    prev = 0
    if entity.nests:
        depth = 0
        for m in _tag_regex(tag).finditer(data):
            if m.group(1):
                depth -= 1
            elif not m.group(2):
                depth += 1
                continue
            if depth <= 0:
                depth = 0
                start = data.find(b"<", prev)
                spans.append((start, m.end()))
                prev = m.end()
        return spans
    end_tag = f"</{tag}>".encode()
    n = len(end_tag)
    find = data.find
    while True:
        e = find(end_tag, prev)
        if e < 0:
            return spans
        start = find(b"<", prev)
        spans.append((start, e + n))
        prev = e + n


_ID_PATTERNS = {
    "release": re.compile(rb"<release\s[^>]*?\bid=\"(\d+)\""),
    "master": re.compile(rb"<master\s[^>]*?\bid=\"(\d+)\""),
    "artist": re.compile(rb"<id>\s*(\d+)\s*</id>"),
    "label": re.compile(rb"<id>\s*(\d+)\s*</id>"),
}


def record_id(raw: bytes, entity: Entity) -> str | None:
    """The Discogs id of a (possibly broken) record, read from its raw text, or None."""
    m = _ID_PATTERNS[entity.record_tag].search(raw)
    return m.group(1).decode() if m else None


def open_dump(path: str | os.PathLike[str]) -> tuple[DumpReader, Prolog, bytes]:
    """Open a dump, read and check its prolog: (reader, prolog, bytes read so far)."""
    reader = DumpReader(path)
    try:
        head = b""
        while True:
            block = reader.read(64 << 10)
            head += block
            if not block or len(head) >= PROLOG_LIMIT or _has_root_tag(head):
                break
        if reader.compressed is False and head[:2] == GZIP_MAGIC:  # pragma: no cover - defensive
            raise InputError(path, "not XML: gzip data")
        prolog = read_prolog(head, str(path))
    except BaseException:
        reader.close()
        raise
    return reader, prolog, head


def _has_root_tag(head: bytes) -> bool:
    """True once ``head`` holds a start tag of an element (not a declaration or comment)."""
    for m in re.finditer(rb"<([^?!])", head):
        return head.find(b">", m.start()) >= 0
    return False


def iter_chunks(reader: DumpReader, prolog: Prolog, head: bytes, *,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[Chunk | Tail]:
    """Cut the records of a dump into chunks of about ``chunk_bytes``; last item may be a Tail.

    ``head`` is what :func:`open_dump` already read. A :class:`Tail` is yielded when the file
    does not end properly (cut inside a record, no closing root tag, or text after the records).
    """
    entity = prolog.entity
    tag = entity.record_tag
    end_tag = f"</{tag}>".encode()
    rest = head[prolog.records_start:]
    base = prolog.records_start  # XML offset of rest[0]
    ordinal = 0
    index = 0
    eof = False
    while not eof:
        block = reader.read(chunk_bytes)
        if not block:
            eof = True
            data = rest
        else:
            data = rest + block if rest else block
        if entity.nests:
            cut, count = _cut_nested(data, tag)
        else:
            e = data.rfind(end_tag)
            cut = e + len(end_tag) if e >= 0 else 0
            count = data.count(end_tag, 0, cut) if cut else 0
        if count:
            yield Chunk(index, data[:cut], base, ordinal, count)
            index += 1
            ordinal += count
            base += cut
            rest = data[cut:]
        else:
            rest = data
    tail = _check_tail(rest, base, prolog, entity)
    if tail is not None:
        yield tail


_WS = b" \t\r\n"


def _check_tail(rest: bytes, offset: int, prolog: Prolog, entity: Entity) -> Tail | None:
    body = rest.strip(_WS)
    lead = len(rest) - len(rest.lstrip(_WS))
    at = offset + lead
    closing = f"</{entity.root_tag}>".encode()
    if prolog.single_record or prolog.empty_root:
        if not body or _only_comments(body):
            return None
        return Tail(at, "unexpected content after the root element", raw=body[:200])
    if body.startswith(closing):
        after = body[len(closing):].strip(_WS)
        if not after or _only_comments(after):
            return None
        return Tail(at + len(closing), "unexpected content after the closing root tag", raw=after[:200])
    start = body.find(f"<{entity.record_tag}".encode())
    if body and start >= 0:
        raw = body[start:]
        return Tail(at + start, f"file ends in the middle of a <{entity.record_tag}> record (truncated dump)",
                    kind="cut", record=record_id(raw, entity), raw=raw)
    if not body:
        return Tail(at, f"file ends without the closing </{entity.root_tag}> tag (truncated dump)", kind="unclosed")
    return Tail(at, f"unexpected content after the last <{entity.record_tag}> record", raw=body[:200])


def _only_comments(text: bytes) -> bool:
    return re.fullmatch(rb"(\s*<!--.*?-->\s*)+", text, re.S) is not None
