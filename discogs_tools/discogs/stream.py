"""Read a dump as a stream of decompressed bytes and cut it into chunks of whole records.

Nothing is ever decompressed to disk and memory stays bounded by the chunk size: the file is
read block by block (gzip is detected by its magic bytes, not by the name, and inflated
in-process with ISA-L when the ``isal`` package is installed, else with zlib), and each
block is cut after the last complete record. A *record* is the text up to and including the
record's end tag (``</release>``); every record keeps its byte offset in the decompressed XML
and its ordinal in the file, so a row of the table can be traced back to its source.

The end of the file is checked: a dump cut in the middle of a record, or missing its closing
root tag, is reported (:class:`Tail`), never silently accepted.
"""

from __future__ import annotations

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

try:  # the compiled walker's byte counter (optional; absent from a walker built from older sources)
    from ._walk import count_bytes as _count_bytes
except ImportError:  # pragma: no cover - not compiled
    _count_bytes = None

try:  # ISA-L's inflate is several times faster than zlib's; optional.
    from isal import isal_zlib as _zlib_impl
except ImportError:  # pragma: no cover - depends on the environment
    _zlib_impl = zlib  # type: ignore[assignment]
_GZIP_ERRORS: tuple[type[BaseException], ...] = tuple({zlib.error, getattr(_zlib_impl, "error", zlib.error)})

GZIP_MAGIC = b"\x1f\x8b"
# Bytes of whole records handed to a worker at a time; each chunk becomes one Parquet part file
# (bigger parts are cheaper to write per row; see chunk.PARSE_BATCH_BYTES for the parse size).
DEFAULT_CHUNK_BYTES = 16 << 20
RAW_BLOCK = 64 << 10  # compressed bytes inflated at a time (how exact the offset of a gzip error is)
_GZIP_WBITS = 16 + 15  # a gzip member (header and trailer checked by inflate itself)


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

    def close(self) -> None:
        self._fh.close()


class DumpReader:
    """Decompressed bytes of one dump file, with the position in the raw (compressed) file.

    ``read_pieces(n)`` returns up to ``n`` bytes of XML as a list of pieces (``[]`` at the end;
    the caller joins them with what it kept, one copy), ``read(n)`` the same joined. Gzip
    (every member of a multi-member file) is inflated here block by block, so the count of XML
    bytes is exact whatever happens: a truncated or corrupt file becomes an :class:`InputError`
    naming the file, the raw offset and the XML bytes read before it. With
    ``allow_truncated`` a file that ends inside the compressed data (cut with ``head -c``)
    gives everything that could be inflated and then ends; :attr:`truncated` says so.
    ``checksum`` is the sha256 of the raw file, complete once the whole file was read.
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_truncated: bool = False) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._raw = _HashingReader(open(self.path, "rb"))
        with open(self.path, "rb") as fh:
            magic = fh.read(2)
        self.compressed = magic == GZIP_MAGIC
        self.allow_truncated = allow_truncated
        self.truncated: str | None = None  # why the XML ended early (with allow_truncated)
        self.xml_bytes = 0  # decompressed bytes returned so far
        self._inflate = _zlib_impl.decompressobj(_GZIP_WBITS) if self.compressed else None
        self._pending = b""  # raw bytes not inflated yet
        self._member_started = False
        self._members = 0  # gzip members read to their end
        self._eof = False

    @property
    def raw_pos(self) -> int:
        """Bytes of the file itself read so far (for a bytes-based progress bar)."""
        return self._raw.pos

    @property
    def checksum(self) -> str:
        return f"sha256:{self._raw.sha256.hexdigest()}"

    def read(self, n: int) -> bytes:
        return b"".join(self.read_pieces(n))

    def read_pieces(self, n: int) -> list[bytes]:
        if self._eof:
            return []
        if self._inflate is None:
            data = self._raw.read(n)
            self.xml_bytes += len(data)
            self._eof = not data
            return [data] if data else []
        pieces: list[bytes] = []
        got = 0
        while got < n:
            try:
                out = self._inflate_some(n - got)
            except _GZIP_ERRORS as exc:
                raise InputError(self.path, f"corrupt gzip data ({exc or type(exc).__name__}) after "
                                            f"{self.xml_bytes + got:,} bytes of XML", offset=self._raw.pos) from None
            if out is None:  # end of the file
                break
            if out:
                pieces.append(out)
                got += len(out)
        self.xml_bytes += got
        if self._eof and self._member_started:  # the file ended inside a gzip member
            reason = "truncated gzip file (it ends inside the compressed data)"
            if not self.allow_truncated:
                raise InputError(self.path, f"{reason} after {self.xml_bytes:,} bytes of XML", offset=self._raw.pos)
            self.truncated = f"{reason} after {self.xml_bytes:,} bytes of XML"
            self._member_started = False
        return pieces

    def _inflate_some(self, limit: int) -> bytes | None:
        """At most ``limit`` more bytes of XML (b"" when a member ended or input was
        consumed without output); None at the end of the file."""
        inflate = self._inflate
        if not self._pending:
            self._pending = self._raw.read(RAW_BLOCK)
            if not self._pending:
                self._eof = True
                return None
        if not self._member_started:  # a member starts (the file's first, or one after another)
            if len(self._pending) < 2:
                self._pending += self._raw.read(RAW_BLOCK)
            if self._pending[:2] != GZIP_MAGIC and self._members:
                raise zlib.error("data after the end of the gzip stream is not another gzip member")
        self._member_started = True
        out = inflate.decompress(self._pending, limit)
        self._pending = inflate.unconsumed_tail
        if inflate.eof:  # member complete (CRC and size checked): another may follow
            self._members += 1
            self._pending = inflate.unused_data
            self._inflate = _zlib_impl.decompressobj(_GZIP_WBITS)
            self._member_started = False
        return out

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


# Comments, CDATA sections and processing instructions may hold text that looks like a tag
# (``<!-- </artist> -->``); where a chunk has any, records are cut by the careful scanner,
# which steps over them. Finding out costs one memchr pass for "!" (rare in the dumps);
# a processing instruction (``<?...?>``) is stepped over only in such a chunk.
_HIDING_CLOSE = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}


def may_hide_markup(data: bytes) -> bool:
    """True when ``data`` has ``<!`` (a comment or CDATA section) anywhere."""
    find = data.find
    i = find(b"!")
    while i >= 0:
        if i == 0 or data[i - 1] == 60:  # "<"
            return True
        i = find(b"!", i + 1)
    return False


@lru_cache(maxsize=None)
def _careful_regex(tag: str, nests: bool) -> re.Pattern[bytes]:
    """The record end tag (or, for a nesting tag, its start, end and empty tags) or the start
    of a comment, CDATA section or processing instruction."""
    name = tag.encode()
    tags = rb"<(/?)" + name + rb"(?=[\s/>])[^>]*?(/?)>" if nests else rb"(</)" + name + rb">()"
    return re.compile(rb"(<!--|<!\[CDATA\[|<\?)|" + tags)


def _careful_ends(data: bytes, tag: str, nests: bool) -> list[int]:
    """End offsets of the complete top-level records of ``data``, stepping over comments, CDATA
    sections and processing instructions (an unterminated one ends the scan)."""
    rx = _careful_regex(tag, nests)
    ends: list[int] = []
    depth = 0
    pos = 0
    while True:
        m = rx.search(data, pos)
        if m is None:
            return ends
        if m.group(1):
            close = data.find(_HIDING_CLOSE[m.group(1)], m.end())
            if close < 0:
                return ends
            pos = close + len(_HIDING_CLOSE[m.group(1)])
            continue
        pos = m.end()
        if m.group(2):  # an end tag
            depth -= 1
        elif not m.group(3):  # a start tag (nesting entities only)
            depth += 1
            continue
        if depth <= 0:
            depth = 0
            ends.append(pos)


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


def _cut(data: bytes, entity: Entity) -> tuple[int, int]:
    """(end of the last complete record in ``data``, number of complete records)."""
    tag = entity.record_tag
    if may_hide_markup(data):
        ends = _careful_ends(data, tag, entity.nests)
        return (ends[-1], len(ends)) if ends else (0, 0)
    if entity.nests:
        return _cut_nested(data, tag)
    end_tag = f"</{tag}>".encode()
    e = data.rfind(end_tag)
    cut = e + len(end_tag) if e >= 0 else 0
    return cut, (_count(data, end_tag, cut) if cut else 0)


def _count(data: bytes, needle: bytes, end: int) -> int:
    """``data.count(needle, 0, end)``; through the compiled walker's ``memmem`` loop when it
    was built (about twice as fast on a chunk)."""
    if _count_bytes is not None:
        return _count_bytes(data, needle, end)
    return data.count(needle, 0, end)


def record_spans(data: bytes, entity: Entity) -> list[tuple[int, int]]:
    """(start, end) of every record in a chunk of whole records, in document order.

    A record ends with its end tag and starts at the first ``<`` after the previous one.
    """
    tag = entity.record_tag
    spans: list[tuple[int, int]] = []
    prev = 0
    if may_hide_markup(data):
        for end in _careful_ends(data, tag, entity.nests):
            spans.append((data.find(b"<", prev), end))
            prev = end
        return spans
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


_ID_PATTERNS = {  # the id as written (even when it is not a number: the reject says which record)
    "release": re.compile(rb"<release\s[^>]*?\bid=\"([^\"<]{1,40})\""),
    "master": re.compile(rb"<master\s[^>]*?\bid=\"([^\"<]{1,40})\""),
    "artist": re.compile(rb"<id>\s*([^<\s]{1,40})\s*</id>"),
    "label": re.compile(rb"<id>\s*([^<\s]{1,40})\s*</id>"),
}


def record_id(raw: bytes, entity: Entity) -> str | None:
    """The Discogs id of a (possibly broken) record, read from its raw text, or None."""
    m = _ID_PATTERNS[entity.record_tag].search(raw)
    return m.group(1).decode("utf-8", "replace") if m else None


def open_dump(path: str | os.PathLike[str], *, allow_truncated: bool = False) -> tuple[DumpReader, Prolog, bytes]:
    """Open a dump, read and check its prolog: (reader, prolog, bytes read so far)."""
    reader = DumpReader(path, allow_truncated=allow_truncated)
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
    does not end properly (cut inside a record, no closing root tag, or text after the records,
    such as a second root element).
    """
    entity = prolog.entity
    rest = head[prolog.records_start:]
    base = prolog.records_start  # XML offset of rest[0]
    ordinal = 0
    index = 0
    eof = False
    while not eof:
        pieces = reader.read_pieces(chunk_bytes)
        if not pieces:
            eof = True
            data = rest
        else:
            data = b"".join([rest, *pieces]) if rest else (pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if prolog.single_record and ordinal:  # the root record is done: only comments may follow
            rest = data
            if _check_tail(rest, base, prolog, entity) is not None:
                break
            continue
        cut, count = _cut(data, entity)
        if prolog.single_record and count > 1:  # a second root element: the tail check says so
            cut, count = _careful_ends(data, entity.record_tag, entity.nests)[0], 1
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
_COMMENTS = re.compile(rb"(?:[ \t\r\n]*<!--.*?-->)*[ \t\r\n]*", re.S)


def _check_tail(rest: bytes, offset: int, prolog: Prolog, entity: Entity) -> Tail | None:
    lead = _COMMENTS.match(rest).end()  # whitespace and comments between records are not data
    body = rest[lead:].rstrip(_WS)
    at = offset + lead
    closing = f"</{entity.root_tag}>".encode()
    if prolog.single_record or prolog.empty_root:
        if not body:
            return None
        what = "root element" if body.startswith(b"<") and not body.startswith(b"</") else "content"
        return Tail(at, f"unexpected {what} after the root element (an XML file has one root)", raw=body[:200])
    if body.startswith(closing):
        after = body[len(closing):]
        if not after.strip(_WS) or _only_comments(after):
            return None
        return Tail(at + len(closing), "unexpected content after the closing root tag (an XML file has one root)",
                    raw=after.strip(_WS)[:200])
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
