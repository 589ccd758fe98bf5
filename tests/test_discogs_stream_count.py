"""The main process counts each chunk's records with the compiled walker's ``memmem`` loop: the
same counts as ``bytes.count`` on real chunks and on edge cases (tag at the ends, cut inside a
tag, nothing to find)."""

from __future__ import annotations

import gzip
import random

import pytest

from discogs_tools.discogs import fastpath, stream
from discogs_tools.discogs.detect import ENTITIES

pytestmark = pytest.mark.skipif(fastpath._walk is None, reason="compiled walker not built")


def test_counts_equal_bytes_count(samples):
    data = gzip.decompress((samples / "xml2db_20200806" / "discogs_20200806_releases.sample1000.xml.gz").read_bytes())
    tag = b"</release>"
    rng = random.Random(3)
    ends = [0, 1, len(tag) - 1, len(tag), len(data), len(data) + 5] + [rng.randrange(len(data)) for _ in range(50)]
    for end in ends:
        assert fastpath._walk.count_bytes(data, tag, end) == data.count(tag, 0, end), end
    for edge in (b"", b"</release>", b"x</release>", b"</release></release>", b"</releas", b"<</release>>"):
        for end in range(len(edge) + 2):
            assert fastpath._walk.count_bytes(edge, tag, end) == edge.count(tag, 0, end), (edge, end)


def test_chunks_are_cut_and_counted_as_before(samples):
    data = gzip.decompress((samples / "xml2db_20200806" / "discogs_20200806_releases.sample1000.xml.gz").read_bytes())
    body = data[data.index(b"<release "):]
    for size in (10_000, 333_333, len(body)):
        cut, count = stream._cut(body[:size], ENTITIES["releases"])
        assert count == body.count(b"</release>", 0, cut) and body[:cut].endswith(b"</release>")
        assert count == stream._count(body, b"</release>", cut)
