"""The tree-free path of `ingest discogs` (libxml2 SAX events -> arena nodes -> the compiled
walker) gives the tables of the tree path and of the Python converters, and really builds no
lxml tree for plain chunks: on every sample era and entity, on records edited to hold what only
the SAX path handles differently (entity references in attributes and text, CDATA, comments,
processing instructions, namespaces, malformed XML), and on seeded random edits of real records."""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import pytest

from discogs_tools.discogs import chunk, fastpath
from discogs_tools.discogs.detect import ENTITIES

pytestmark = pytest.mark.skipif(not fastpath.enabled("releases"),
                                reason="compiled walker not built (no C compiler at install time)")

ERA_FILES = {
    "alexquintino_2015": "{entity}_sample.xml",
    "xml2db_20200806": "discogs_20200806_{entity}.sample1000.xml.gz",
    "tgmz_20250101": "discogs_20250101_{entity}.extract.xml.gz",
}


def _body(path: Path, entity: str) -> bytes:
    """The records of a sample dump file, without the prolog and the root element."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    root = ENTITIES[entity].root_tag.encode()
    start = data.index(b"<" + root)
    return data[data.index(b">", start) + 1: data.rindex(b"</" + root + b">")]


def _process(entity: str, body: bytes, mode: str, monkeypatch: pytest.MonkeyPatch):
    """(table, rejects) of one chunk through ``mode``: tree-free, tree (compiled walker over lxml
    trees) or python (the converters)."""
    monkeypatch.setenv("DISCOGS_TOOLS_NO_TREE_FREE", "0" if mode == "tree-free" else "1")
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "1" if mode == "python" else "0")
    result = chunk.process_chunk(chunk.ChunkTask(entity, "dump.xml", "dump.xml", 0, body, 0, 0, 0, None))
    rejects = [{k: v for k, v in r.items() if k != "raw"} for r in result.rejects]
    return result.table, rejects


def _same_three_ways(entity: str, body: bytes, monkeypatch: pytest.MonkeyPatch):
    assert fastpath.tree_free(entity, b"")
    free = _process(entity, body, "tree-free", monkeypatch)
    tree = _process(entity, body, "tree", monkeypatch)
    python = _process(entity, body, "python", monkeypatch)
    assert free[0].equals(tree[0]), "tree-free table differs from the tree walker's"
    assert free[0].equals(python[0]), "tree-free table differs from the converters'"
    assert free[1] == tree[1] == python[1]
    return free


_parse_each = chunk._parse_each


def _no_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any lxml parse of a batch or of a single record fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("an lxml tree was built")
    monkeypatch.setattr(chunk, "_parse", refuse)
    monkeypatch.setattr(chunk, "_parse_each", refuse)


def _sample_paths(samples: Path):
    for era, pattern in ERA_FILES.items():
        for entity in ("releases", "masters", "artists", "labels"):
            path = samples / era / pattern.format(entity=entity)
            if path.exists():
                yield era, entity, path


def test_every_sample_gives_the_same_table_without_building_a_tree(samples, monkeypatch):
    assert fastpath.tree_free("releases", b"")
    seen = 0
    for era, entity, path in _sample_paths(samples):
        body = _body(path, entity)
        tree = _process(entity, body, "tree", monkeypatch)
        _no_trees(monkeypatch)
        free = _process(entity, body, "tree-free", monkeypatch)
        monkeypatch.undo()
        assert free[0].num_rows > 0, f"{era} {entity}"
        assert free[0].equals(tree[0]), f"{era} {entity}"
        assert free[1] == tree[1]
        seen += 1
    assert seen >= 8


def test_batches_of_a_chunk_are_walked_in_order(samples, monkeypatch):
    """Many small batches per chunk (each its own SAX parse) give the one-batch table."""
    body = _body(samples / "xml2db_20200806" / ERA_FILES["xml2db_20200806"].format(entity="releases"), "releases")
    whole = _process("releases", body, "tree-free", monkeypatch)
    monkeypatch.setattr(chunk, "PARSE_BATCH_BYTES", 20_000)
    small = _process("releases", body, "tree-free", monkeypatch)
    assert small[0].equals(whole[0]) and small[0].num_rows == 1000


def _edited(samples: Path, entity: str, old: str, new: str, around: int = 6) -> bytes:
    """Records of the 2020 sample around the first one holding ``old``, that one edited."""
    body = _body(samples / "xml2db_20200806" / ERA_FILES["xml2db_20200806"].format(entity=entity), entity)
    from discogs_tools.discogs.stream import record_spans
    spans = record_spans(body, ENTITIES[entity])
    hit = body.index(old.encode())
    k = next(i for i, (s, e) in enumerate(spans) if s <= hit < e)
    out = []
    for i in range(max(0, k - around), min(len(spans), k + around + 1)):
        raw = body[spans[i][0]:spans[i][1]]
        out.append(raw.replace(old.encode(), new.encode(), 1) if i == k else raw)
    return b"".join(out)


# (entity, old, new, handled without any tree)
EDITS = [
    ("releases", 'name="Svek"', 'name="Svek &amp; Sons"', True),             # entity in an attribute
    ("releases", 'name="Svek"', 'name="Svek &#38; &#x26;Co"', True),         # '&' as character references
    ("releases", 'name="Svek"', 'name="&lt;Svek&gt; &quot;1&apos;"', True),  # the other predefined entities
    ("releases", 'name="Svek"', 'name="Sv\tek\nAB\r\n"', True),             # normalised whitespace
    ("releases", 'name="Svek"', 'name=""', True),                              # empty attribute
    ("releases", "<title>Stockholm", "<title>R &amp; B &#233;&#x41; Stockholm", True),  # text entities
    ("releases", "<title>Stockholm", "<title><![CDATA[a<b]]> Stockholm", True),           # CDATA is text
    ("releases", "<tracklist>", "<tracklist>\n    ", True),                    # formatting whitespace
    ("releases", "<genres>", '<genres xmlns:x="urn:x">', True),              # unused namespace declaration
    ("releases", "<country>Sweden", "<country>Swe<!-- sic -->den", False),     # comment in a record
    ("releases", "<country>Sweden", "<country>Swe<?pi x?>den", False),        # processing instruction
    ("releases", "<genres>", '<genres xmlns="urn:x">', False),                # default namespace
    ("releases", "<title>Stockholm", '<title xml:lang="sv">Stockholm', False),  # namespaced attribute
    ("releases", "<title>Stockholm", "<title>Stock<holm", False),             # malformed: a reject
    ("releases", "<title>Stockholm", "<title>&nbsp;Stockholm", False),        # undefined entity: a reject
    ("releases", '<release id="1" ', '<!-- between --><release id="1" ', False),  # comment between records
    ("artists", "<realname>", "<realname>&amp;", True),
    ("labels", "<profile>", "<profile>&lt;b&gt;", True),
    ("masters", "<title>", "<title>&#x1F600;", True),
]


@pytest.mark.parametrize("entity,old,new,no_tree", EDITS)
def test_edited_records_give_the_same_table_and_rejects(samples, monkeypatch, entity, old, new, no_tree):
    body = _edited(samples, entity, old, new)
    _same_three_ways(entity, body, monkeypatch)
    if no_tree:
        _no_trees(monkeypatch)
        table, rejects = _process(entity, body, "tree-free", monkeypatch)
        assert table.num_rows == body.count(f"</{ENTITIES[entity].record_tag}>".encode()) and rejects == []


_ATTR = re.compile(rb'(\s[a-z_]+=")([^"]*)(")')
_TEXT = re.compile(rb"(>)([^<]+)(<)")
_INSERTS = [b"&amp;", b"&lt;", b"&gt;", b"&quot;", b"&apos;", b"&#38;", b"&#233;", b"&#x41;", b"\t", b"\n",
            b"<![CDATA[&x]]>", b"<!-- c -->", b"\xc3\xa9"]


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    """Insert an entity/character reference, whitespace, CDATA or a comment into a few attribute
    values and texts of a record (CDATA and comments only into text), never inside a reference
    or a UTF-8 character and never into an id, so the record stays well-formed and convertible."""
    def edit(m: re.Match, in_attr: bool) -> bytes:
        if rng.random() > 0.15 or m.group(1).strip() == b'id="' or m.string[max(0, m.start() - 3):m.start()] == b"<id":
            return m.group(0)  # record ids stay numbers (an edited id is a reject, not a value)
        choices = _INSERTS[:10] + ([] if in_attr else _INSERTS[10:]) + [_INSERTS[-1]]
        value = m.group(2)
        inside = {i for r in re.finditer(rb"&[^;]*;", value) for i in range(r.start() + 1, r.end())}
        spots = [i for i in range(len(value) + 1)
                 if i not in inside and (i == len(value) or value[i] & 0xC0 != 0x80)]
        at = rng.choice(spots)
        return m.group(1) + value[:at] + rng.choice(choices) + value[at:] + m.group(3)
    raw = _ATTR.sub(lambda m: edit(m, True), raw)
    return _TEXT.sub(lambda m: edit(m, False), raw)


@pytest.mark.parametrize("entity", ["releases", "masters", "artists", "labels"])
def test_seeded_random_edits_of_real_records_give_the_same_table(samples, monkeypatch, entity):
    body = _body(samples / "xml2db_20200806" / ERA_FILES["xml2db_20200806"].format(entity=entity), entity)
    from discogs_tools.discogs.stream import record_spans
    spans = record_spans(body, ENTITIES[entity])[:150]
    rng = random.Random(17)
    edited = b"".join(_mutate(body[s:e], rng) for s, e in spans)
    assert edited != body[:spans[-1][1]]
    table, rejects = _same_three_ways(entity, edited, monkeypatch)
    assert table.num_rows == 150 and rejects == []
    _no_trees(monkeypatch)  # ... and the edited records are handled without trees
    monkeypatch.setattr(chunk, "_parse_each", _parse_each)  # except declined ones (comments)
    assert _process(entity, edited, "tree-free", monkeypatch)[0].equals(table)
