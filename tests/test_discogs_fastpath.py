"""The compiled walker (fast path) of `ingest discogs` gives the same tables as the Python
converters: on every sample era, and on records it must decline (anything the converters keep
in `extra` or convert with Python's rules), which then go through the converters."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from lxml import etree

from discogs_tools.discogs import fastpath
from discogs_tools.discogs.ingest import run
from discogs_tools.io import read_table
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace

pytestmark = pytest.mark.skipif(not fastpath.enabled("releases"),
                                reason="compiled walker not built (no C compiler at install time)")

ERAS = ["alexquintino_2015", "xml2db_20200806", "xml2db_dotnet_single", "tgmz_20250101"]


def _tables(paths: list[Path], ws_dir: Path, monkeypatch: pytest.MonkeyPatch, fast: bool, **kw) -> dict:
    monkeypatch.setenv("DISCOGS_TOOLS_NO_FAST_PATH", "0" if fast else "1")
    ws = Workspace(ws_dir)
    report = run(paths, ws, record_manifest=False, **kw)
    tables = {}
    for name in ("releases", "masters", "artists", "labels"):
        if ws.has_table(f"discogs/{name}"):
            tables[name] = read_table(ws.table(f"discogs/{name}"))
    return {"tables": tables, "counts": report.counts}


@pytest.mark.parametrize("era", ERAS)
def test_walker_tables_equal_converter_tables_on_every_era(tmp_path, samples, monkeypatch, era):
    fast = _tables([samples / era], tmp_path / "fast", monkeypatch, fast=True, workers=0)
    slow = _tables([samples / era], tmp_path / "slow", monkeypatch, fast=False, workers=0)
    assert fast["tables"].keys() == slow["tables"].keys()
    for name, table in fast["tables"].items():
        assert table.equals(slow["tables"][name]), f"{era} {name} differs"
    assert fast["counts"] == slow["counts"]


def _sample_records(samples: Path, entity: str) -> list:
    path = samples / "xml2db_20200806" / f"discogs_20200806_{entity}.sample1000.xml.gz"
    return list(enumerate(etree.fromstring(gzip.decompress(path.read_bytes()))))


def test_walker_accepts_every_sample_record(samples):
    for entity in ("releases", "masters", "artists", "labels"):
        records = _sample_records(samples, entity)
        columns, accepted, declined = fastpath.walk(entity, records, load_schema(f"discogs/{entity}"))
        assert declined == [] and accepted == list(range(len(records)))
        assert len(columns[f"{entity[:-1]}_id"]) == len(records)
        # extra only keeps the ids and years of 0 (credits without an artist page, masters
        # without a year), which the walker keeps itself
        kept = [json.loads(e) for e in columns["extra"].to_pylist() if e is not None]
        assert all(entry["raw"] == "0" for e in kept for entry in e)
        for name, column in columns.items():
            column.validate(full=True)  # offsets, UTF-8, nested lengths of the walker's buffers


def _excerpt_with_edit(samples: Path, entity: str, old: str, new: str, around: int = 10) -> tuple[bytes, int]:
    """The 2020 sample's records around the first one holding ``old`` (edited to ``new``), as a
    small dump; and the index of the edited record in it."""
    from discogs_tools.discogs.detect import ENTITIES
    from discogs_tools.discogs.stream import record_spans

    src = gzip.decompress((samples / "xml2db_20200806" / f"discogs_20200806_{entity}.sample1000.xml.gz").read_bytes())
    root = entity.encode()
    body = src[src.index(b">") + 1: src.rindex(b"</" + root + b">")]
    spans = record_spans(body, ENTITIES[entity])
    hit = body.index(old.encode())
    k = next(i for i, (s, e) in enumerate(spans) if s <= hit < e)
    first, last = max(0, k - around), min(len(spans), k + around + 1)
    records = []
    for i in range(first, last):
        raw = body[spans[i][0]:spans[i][1]]
        records.append(raw.replace(old.encode(), new.encode(), 1) if i == k else raw)
    return b"<" + root + b">\n" + b"\n".join(records) + b"\n</" + root + b">\n", k - first


# Each edit makes one record something the converters keep in `extra` or convert with Python's
# rules; the walker must decline it (and only it), and the table must not change.
ODD_RECORDS = [
    ("releases", "<title>Stockholm", '<mood rating="5">calm</mood><title>Stockholm'),  # unknown element
    ("releases", "</tracklist>", "<!-- checked --></tracklist>"),                       # comment in a container
    ("releases", "<country>Sweden", "<country>UK</country><country>Sweden"),            # repeated element
    ("releases", "<anv/>", "<anv>a<b/>c</anv>"),                                         # leaf with a child
    ("releases", '<release id="1" ', '<release id=" 1" '),                               # int() accepts ' 1'
    ("releases", 'embed="true"', 'embed="True"'),                                        # another case
    ("releases", "<genres>", '<genres xmlns:x="urn:x"><x:genre>Odd</x:genre>'),         # namespaced element
    ("releases", 'width="600"', 'width="+600"'),                                         # int() accepts '+600'
    ("releases", "<duration>4:45", "<duration>\u0664:45"),                              # Unicode digit
    ("masters", "<year>", "<year>0"),                                                    # leading zero: noted in C
    ("releases", 'duration="296"', 'duration="29x"'),                                    # not a number
    ("releases", 'width="600"', 'width="2147483648"'),                                   # beyond int32
    ("releases", "<id>1</id>", "<id>12345678901234567890</id>"),                         # beyond int64
    ("artists", '<id>26</id><name id="26">', '<id>026</id><name id="26">'),              # equal ids, one spelt oddly
    ("artists", '<id>26</id><name id="26">', '<id>26</id><name id="99">'),               # disagreeing member id
    ("artists", "<realname>", "<realname><![CDATA[x]]>"),                               # CDATA is text: accepted
    ("labels", "<label><images>", '<label id="1"><images>'),                             # record id attribute
    ("labels", '<parentLabel id="4711">Goldhead ', '<parentLabel id="4711">Goldhead <b/>'),  # child in a leaf
    ("releases", "<title>Stockholm", '<title lang="sv">Stockholm'),                     # attribute on a leaf
    ("releases", '<image type="primary"', '<image crop="1:1" type="primary"'),           # extra attribute
    ("releases", 'status="Accepted"', 'status="Accepted" vote="7"'),                     # on the record
    ("masters", "<artists>", '<artists xmlns:x="urn:x" x:n="2">'),                       # namespaced attribute
    ("artists", "<namevariations>", '<namevariations count="3">'),                       # on a container
    ("labels", "<sublabels><label", '<sublabels><label kind="imprint"'),                 # where only id is read
    ("releases", "<genres>", "<genres>stray"),                                           # text in a container
    ("releases", 'id="5"/>', 'id="5">Svek AB</label>'),                                  # text in <label/>
    ("releases", "<tracklist>", "<tracklist>\n  "),                                      # whitespace: ignored
    ("releases", "<country>Sweden", "<country>Swe<!-- sic -->den"),                      # comment in a leaf
    ("artists", "<aliases>", "<aliases>see also:"),                                      # text in a container
    ("masters", "<title>", "<title>\t"),                                                 # whitespace in a leaf: kept
    ("releases", "<genres>", "<genres><!-- c -->stray"),                                 # text after a comment
]
ACCEPTED = {"<year>0", "<realname><![CDATA[x]]>", "<duration>\u0664:45", "<tracklist>\n  ",
            "<title>\t"}  # edits that stay exact in C


@pytest.mark.parametrize("entity,old,new", ODD_RECORDS)
def test_walker_declines_what_it_cannot_convert_exactly(tmp_path, samples, monkeypatch, entity, old, new):
    data, k = _excerpt_with_edit(samples, entity, old, new)
    records = list(enumerate(etree.fromstring(data)))
    _, accepted, declined = fastpath.walk(entity, records, load_schema(f"discogs/{entity}"))
    if new in ACCEPTED:
        assert declined == []
    else:
        assert declined == [k] and len(accepted) == len(records) - 1

    f = tmp_path / f"{entity}.xml"
    f.write_bytes(data)
    fast = _tables([f], tmp_path / "fast", monkeypatch, fast=True, workers=0)
    slow = _tables([f], tmp_path / "slow", monkeypatch, fast=False, workers=0)
    assert fast["tables"][entity].equals(slow["tables"][entity])
    assert fast["counts"] == slow["counts"]


def test_declined_record_keeps_its_extra_and_its_place(tmp_path, samples, monkeypatch):
    data, k = _excerpt_with_edit(samples, "masters", '<master id="113">', '<master id="113"><!-- hand-checked -->')
    f = tmp_path / "masters.xml"
    f.write_bytes(data)
    out = _tables([f], tmp_path / "fast", monkeypatch, fast=True, workers=0, chunk_bytes=4096)
    masters = out["tables"]["masters"]
    assert masters.column("record_ordinal").to_pylist() == list(range(masters.num_rows))
    row = masters.to_pylist()[k]
    assert row["master_id"] == 113 and row["title"] == "Moments In Time"
    assert json.loads(row["extra"]) == [{"path": "comment()", "xml": "<!-- hand-checked -->"}]
    assert all(r["extra"] is None for i, r in enumerate(masters.to_pylist()) if i != k)


def test_value_that_overflows_its_column_is_kept_as_text_as_without_the_walker(tmp_path, samples, monkeypatch):
    data, _ = _excerpt_with_edit(samples, "releases", 'width="600"', 'width="99999999999"')  # int32 column
    f = tmp_path / "releases.xml"
    f.write_bytes(data)
    fast = _tables([f], tmp_path / "fast", monkeypatch, fast=True, workers=0)
    slow = _tables([f], tmp_path / "slow", monkeypatch, fast=False, workers=0)
    assert fast["counts"]["rejects"] == slow["counts"]["rejects"] == 0
    assert fast["counts"]["fields_unparsed"] == slow["counts"]["fields_unparsed"] == 1
    assert fast["tables"]["releases"].equals(slow["tables"]["releases"])
