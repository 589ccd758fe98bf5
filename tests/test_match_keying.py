"""The index's vectorised keying (DuckDB flattening, keys once per distinct string, the plain-text
short cut, the precomputed blocking keys) gives the rows, keys, index and links of the row-by-row code.

Data: the real 1,000-release 2020-08 Discogs sample, three scaled copies of it (words drawn from
its own vocabulary, :mod:`discogs_tools.match.scaled`), and releases edited to carry the awkward
cases of real dumps (empty names, ANVs, join phrases with spaces, odd whitespace, headings, index
tracks, sub-tracks with and without their own artists).
"""

from __future__ import annotations

import copy
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools import duck
from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import TableWriter, iter_batches, read_table, table_files
from discogs_tools.match import (
    blocking,
    evaluate,
    index,
    keying,
    normalize,
    scaled,
    stage,
)
from discogs_tools.resources import sample_data_dir
from discogs_tools.schemas import load_schema
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> list[dict]:
    ws = Workspace(tmp_path_factory.mktemp("keying") / "sample").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    return [r for b in iter_batches(ws.table("discogs/releases")) for r in b.to_pylist()]


def _awkward(base: list[dict]) -> list[dict]:
    """Sample releases edited into the awkward shapes of real dumps."""
    with_tracks = [r for r in base if len(r["tracklist"] or []) >= 4 and r["artists"]]
    out = []
    for i, r in enumerate(with_tracks[:6]):
        r = copy.deepcopy(r)
        r["release_id"] += 900_000_000 + i
        a = r["artists"][0]
        r["artists"] = [
            {**a, "name": " Alpha Beta ", "anv": "A. Beta", "join": " & "},
            {**a, "name": "", "anv": None, "join": ","},
            {**a, "name": "Gamma\u00a0(2)", "anv": "", "join": None},
            {**a, "name": "The Delta", "anv": None, "join": "Feat."},
            {**a, "name": "Epsilon, The", "anv": "Eps", "join": " , "},
        ][: 1 + i % 5]
        t = r["tracklist"]
        t[0] = {**t[0], "type_": "heading", "title": "Side A"}
        t[1] = {**t[1], "title": " \u2003 ", "position": "\u00a0A1 "}
        t[2] = {**t[2], "type_": "", "title": "Song (Live) ", "artists": [], "position": None,
                "sub_tracks": [{**t[2], "title": "Sub One", "artists": None, "sub_tracks": None, "type_": "track"},
                               {**t[2], "title": "Sub Two", "type_": "Track", "sub_tracks": None,
                                "artists": [{**a, "name": "Zeta", "anv": "Z", "join": None}]}]}
        t[3] = {**t[3], "type_": "index", "title": "Suite",
                "sub_tracks": [{**t[3], "title": "Movement I", "type_": "track", "sub_tracks": None}]}
        if i % 2:
            r["artists"] = []
        out.append(r)
    return out


def _write(path, releases: list[dict], rows_per_part: int) -> None:
    schema = load_schema("discogs/releases")
    with TableWriter(path, "discogs/releases", rows_per_part=rows_per_part) as out:
        for start in range(0, len(releases), 500):
            out.write(pa.Table.from_pylist(releases[start:start + 500], schema=schema))


def _canonical(rows: list[dict]) -> list[tuple]:
    return sorted(tuple((k, repr(v)) for k, v in r.items()) for r in rows)


def test_plain_short_cut_gives_the_keys_of_the_full_rules(sample):
    """Every title and name of the sample and of a scaled copy: the short cut, where it applies,
    gives what the full rules give; and it applies to most of them."""
    vocab = scaled.vocabulary(sample)
    texts = set()
    for r in sample + [scaled.shifted(r, 1, vocab) for r in sample]:
        texts.add(r["title"] or "")
        texts.update(a["name"] or "" for a in r["artists"] or [])
        for t in r["tracklist"] or []:
            texts.add(t["title"] or "")
            texts.update(a["name"] or "" for a in t["artists"] or [])
    texts |= {"The", "The End", "Rock And Roll", "Mi Y Tu", "Song II", "Song Pt 2", "Intro feat X", "Various",
              "VA", "Part One", "No Woman No Cry", "  spaced   out  ", "A", "Don't Stop", "Mr.Y", "1.5",
              "'Til Tuesday", "Rock'n'Roll", "A.N.D.", "...", "The 'Song'", '"Quoted" Song', "Pt. 2", "Feat."}
    texts |= {"Song (Live)", "Song (Remastered)", "(Remastered)", "(Untitled)", "The (Song)", "(The)", "A(B)C",
              "Song (Album Version) (Live)", "A & B", "Rock + Roll", "Title: Sub", "Song ()", "Song ( )",
              "The Song (The Live)", "Song (Bonus Track)", "Song (feat Bob)", "Song (Explicit) Two", "Mi (y) Tu",
              "Song (2011 Remaster)", "Song (Dub Mix)", "Song (And The Band)", "The (Remastered)", "Song\t(Live)"}
    plain = [t for t in texts if normalize._plain_key(t) is not None]
    bracketed = [t for t in texts if normalize._plain_key(t, brackets=True) is not None]
    assert len(plain) > 0.5 * len(texts) and len(bracketed) > len(plain) + 1_000
    for text in bracketed:
        assert normalize._plain_key(text, brackets=True) == normalize._title_key_rules(text), text
    for text in plain:
        credit = normalize._plain_key(text)
        assert ("" if credit in normalize.VARIOUS_ARTISTS else credit) == normalize._artist_key_rules(text), text


def test_simple_texts_keyed_in_sql_give_the_python_keys(sample):
    """Every title and name of the sample and of a scaled copy, and hand-picked cases: where the SQL
    keys a text, it gives title_key / artist_key; it keys most texts and leaves the rest to Python."""
    vocab = scaled.vocabulary(sample)
    texts = {"The", "The End", "Rock And Roll", "Mi Y Tu", "Song II", "Song Pt 2", "Intro feat X", "Various",
             "VA", "V A", "Various Artists", "The Various", "Part One", "No Woman No Cry", "  spaced   out  ", "A",
             "A B", "Les Paul", "El", "ET", "Und So", "y", "Y", "AND", "Song ii", "Vol 2", "Take Five", "x",
             "2000", "The 2", "   ", "Feat", "Ft Knox", "Mix", "Track 01", "Ab\tCd", "Disc One"}
    for r in sample + [scaled.shifted(r, 1, vocab) for r in sample]:
        texts.add(r["title"] or "")
        texts.update(a["name"] or "" for a in r["artists"] or [])
        for t in r["tracklist"] or []:
            texts.add(t["title"] or "")
    texts.discard("")
    con = duck.connect(threads=1)
    try:
        con.register("texts", pa.table({"s": sorted(texts)}))
        for various, key in ((False, normalize.title_key), (True, normalize.artist_key)):
            rows = con.execute(keying.simple_key_sql("select s from texts", various)).fetchall()
            keyed = {s: k for s, k in rows if k is not None}
            assert len(keyed) > 0.5 * len(texts)
            assert {s: key(s) for s in keyed} == keyed
            assert {"Song II", "Song Pt 2", "Part One", "   ", "Ab\tCd"}.isdisjoint(keyed)
            assert keyed["The Various" if not various else "Mi Y Tu"] == ("various" if not various else "mi and tu")
            mapped = keying.key_map(con, "select s from texts", key, various).to_pylist()
            assert sorted((r["s"], r["k"]) for r in mapped) == sorted((s, key(s)) for s in texts)
    finally:
        con.close()


def test_vectorised_keying_gives_the_row_by_row_rows(sample, tmp_path):
    vocab = scaled.vocabulary(sample)
    releases = sample + _awkward(sample) + [scaled.shifted(r, k, vocab) for k in (1, 2, 3) for r in sample]
    folder = tmp_path / "releases"
    _write(folder, releases, rows_per_part=1_500)
    schema = index._staging_schema(index.DISCOGS)
    parts = table_files(folder)
    assert len(parts) == 3
    total = 0
    for part in parts:
        fast, dropped = keying.key_part(keying.discogs_flat_sql, index.DISCOGS.id_columns, part, schema)
        slow, slow_dropped = [], 0
        for rows in index.DISCOGS.rows(part, 700):
            kept, d = index._keyed(rows)
            slow += kept
            slow_dropped += d
        assert fast.schema.equals(schema)
        assert _canonical(fast.to_pylist()) == _canonical(slow)
        assert dropped == slow_dropped
        total += fast.num_rows
    assert total > 30_000


def test_vectorised_playlist_keying_gives_the_row_by_row_rows(tmp_path):
    schema = load_schema("playlists/tracks")
    names = [("Östermalm - 2011 Remaster", "The Persuader", "Stockholm", 286_000),
             ("Crack In the Pearl, Pt. II (feat. X & Y)", "Ed Sheeran", "Album [Explicit]", None),
             ("Plain Song", "Various", None, 1000), ("  ", "Someone", "x", 2), ("Title", None, None, 3),
             ("SandÌ ©", "Emeli SandÌ ©", "Our Version Of Events", 200_500),
             # no artist: an "Artist - Title" title gives both (hyphen, en dash, em dash; first dash)
             ("Anita Baker - Giving You the Best That I Got", None, None, 234_000),
             ("Zigmars Liepiņš \u2013 Nolādēts", " ", None, None), ("A \u2014 B - C", None, None, 4),
             ("Title -", None, None, 5), ("- Title", None, None, 6), ("Song - Remix", "Artist", None, 7)]
    rows = [{n: None for n in schema.names} | {"track_key": f"k{i}", "track_name": t, "artist_name": a,
                                                 "album_name": al, "duration_ms": d}
            for i, (t, a, al, d) in enumerate(names * 3)]
    path = tmp_path / "tracks.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    staging = index._staging_schema(index.PLAYLISTS)
    fast, dropped = keying.key_part(keying.playlist_flat_sql, index.PLAYLISTS.id_columns, path, staging)
    slow, slow_dropped = [], 0
    for batch in index.PLAYLISTS.rows(path, 5):
        kept, d = index._keyed(batch)
        slow += kept
        slow_dropped += d
    assert _canonical(fast.to_pylist()) == _canonical(slow)
    # no title, no artist (also "Title -", "- Title"), "Various": 3 x 5 dropped
    assert (dropped, fast.num_rows) == (slow_dropped, 3 * 7)
    split = {(r["artist"], r["title"]) for r in fast.to_pylist() if r["track_key"] in ("k6", "k7", "k8", "k11")}
    assert split == {("Anita Baker", "Giving You the Best That I Got"), ("Zigmars Liepiņš", "Nolādēts"),
                     ("A", "B - C"), ("Artist", "Song - Remix")}


@pytest.mark.parametrize(("artist", "title", "expected"), [
    (None, "Anita Baker - Giving You the Best That I Got", ("Anita Baker", "Giving You the Best That I Got")),
    ("", "AC/DC \u2013 T.N.T.", ("AC/DC", "T.N.T.")),
    (None, "Jay-Z - 99 Problems", ("Jay-Z", "99 Problems")),  # a hyphen inside a word is no separator
    (None, "Blink-182", (None, "Blink-182")), (None, "Title -", (None, "Title -")),
    ("Artist", "Song - Remix", ("Artist", "Song - Remix")), (None, None, (None, None)),
])
def test_artist_dash_title_split(artist, title, expected):
    assert keying.split_artist_title(artist, title) == expected


def test_block_keys_without_macros_are_the_macro_keys(sample, tmp_path):
    ws = Workspace(tmp_path / "ws").ensure()
    _write(ws.table("discogs/releases"), sample + _awkward(sample), rows_per_part=10_000)
    index.build(index.DISCOGS, ws)
    con = blocking.connect(1)
    try:
        recordings = ws.table("match/discogs_recordings")
        con.execute(f"create temp table recs as select * from read_parquet('{recordings}/*.parquet')")
        fast = con.execute(f"select * from ({blocking.block_keys_sql('recording_id', 'recs')}) order by all").fetchall()
        macro_sql = blocking.LEAN_BLOCK_KEYS_MACROS.format(id="recording_id", src="recs")
        slow = con.execute(f"select * from ({macro_sql}) order by all").fetchall()
    finally:
        con.close()
    assert len(fast) > 40_000
    assert fast == slow


def test_index_build_gives_the_links_of_the_row_by_row_build(sample, tmp_path, monkeypatch):
    """A small scaled sample indexed both ways: the same index tables, then the same links."""
    vocab = scaled.vocabulary(sample)
    releases = sample + [scaled.shifted(r, k, vocab) for k in (1, 2) for r in sample]
    ws = Workspace(tmp_path / "ws").ensure()
    _write(ws.table("discogs/releases"), releases, rows_per_part=1_200)
    rng = random.Random(5)
    tracks = [t for r in releases for t in index.discogs_track_rows(r) if t["artist"]]
    rows = []
    for i, t in enumerate(rng.sample(tracks, 400)):
        derived, _ = evaluate.perturb(t, rng, [])
        rows.append({"track_id": f"t{i:04d}", **derived})
    manifest = tmp_path / "collection.parquet"
    pq.write_table(pa.Table.from_pylist(rows), manifest)
    collection_ingest.run(manifest, ws)
    results = {}
    for way in ("rows", "vectorised"):
        monkeypatch.setattr(index, "KEYING", way)
        report = stage.run(ws, "discogs", rebuild_index=True)
        tables = {name: read_table(ws.table(f"match/discogs_{name}")).to_pylist()
                  for name in ("track_index", "recordings", "blocks")}
        links = {(l["track_id"], l["release_id"]) for l in read_table(ws.table("links/track_releases")).to_pylist()}
        results[way] = (tables, links, report.counts["links"])
    assert len(results["rows"][1]) > 300
    assert results["vectorised"] == results["rows"]


def test_fold_drops_exactly_the_combining_marks(sample):
    """The one-regex accent removal of fold() against the character loop it replaced."""
    import unicodedata

    def by_loop(text: str) -> str:
        text = unicodedata.normalize("NFKC", normalize.repair_text(text)).casefold().translate(
            normalize._SPECIAL_LETTERS)
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))

    texts = [t["title"] or "" for r in sample for t in r["tracklist"] or []]
    texts += ["".join(chr(c) for c in range(start, start + 64)) for start in range(0x80, 0x3000, 64)]
    texts += ["Sigur Rós", "Beyoncé", "Mötley Crüe", "Đorđe Balašević", "Ångström", "ﬁre", "Å\u0301"]
    assert [normalize.fold(t) for t in texts] == [by_loop(t) for t in texts]
