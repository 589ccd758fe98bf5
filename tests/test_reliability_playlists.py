"""Reliability of the playlist stages (issue 11): nothing usable read keeps the old tables,
decode errors are errors, no tracebacks on huge fields, strict field types, staging folders
collected after a kill, one writer per output.

Every test starts from the real test slices in tests/data/playlists (ingested into the
workspace first), so "the previous tables are kept" is checked against real content.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import DiscogsToolsError, InputError
from discogs_tools.io import read_table, table_version
from discogs_tools.locks import OutputLockedError, output_lock
from discogs_tools.playlists import cooccurrence, ingest, word2vec
from discogs_tools.playlists.word2vec import Word2VecParams
from faults import dead_pid

DATA = Path(__file__).parent / "data" / "playlists"
TABLES = ("playlists", "playlist_tracks", "tracks")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(ws) -> dict[str, tuple]:
    """Content and version of the three playlist tables."""
    return {name: (read_table(ws.table(f"playlists/{name}")).to_pylist(), table_version(ws.table(f"playlists/{name}")))
            for name in TABLES}


@pytest.fixture
def ingested(ws):
    """The workspace after ingesting the real test slices (7 playlists, 10 entries)."""
    report = ingest.run([DATA], ws, workers=1)
    assert report.counts["playlists"] == 7 and report.counts["entries"] == 10
    return ws


def rows(ws, table: str) -> list[dict]:
    return read_table(ws.table(f"playlists/{table}")).to_pylist()


def rejects(ws) -> list[dict]:
    path = ws.rejects / "playlists" / "ingest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hidden_leftovers(root: Path) -> list[str]:
    """Staging names (``.name.tmp-...``, ``.tmp-...``) anywhere under ``root`` (locks excluded)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*")
                  if ".tmp-" in p.name or ".old-" in p.name)


# --- item 1: nothing usable read -> exit 2, previous tables kept ----------------------------------

@pytest.mark.parametrize("name, content", [
    ("mpd.slice.0-1.json", b""),
    ("mpd.slice.0-1.json", b'{"info": {}, "playlists": [{"pid": 1, "tracks": ['),
    ("mpd.slice.0-1.json", b'{"info": {"slice": "0-1"}}'),
    ("mpd.slice.0-1.json", b'{"info": {"slice": "0-1"}, "playlists": []}'),
    # a playlist without tracks is valid MPD (the challenge set has some), but a run of only such
    # playlists has no entry for any later stage (audit: it replaced 4,652 entries with 0)
    ("mpd.slice.0-1.json", b'{"info": {"slice": "0-1"}, "playlists": [{"pid": 1, "name": "x", "tracks": []}]}'),
    ("sets.csv", b"playlist_id,pos,track_key\n"),
    ("sets.tsv", b"playlist_id\ttrack_key\n"),
    ("plays.jsonl", b"\n\n"),
    ("plays.jsonl", b""),
])
def test_all_inputs_unusable_fails_and_keeps_tables(ingested, tmp_path, name, content):
    ws = ingested
    before = snapshot(ws)
    folder = tmp_path / "e"
    folder.mkdir()
    bad = folder / name
    bad.write_bytes(content)

    with pytest.raises(DiscogsToolsError) as err:
        ingest.run([folder], ws, workers=1)
    message = str(err.value)
    assert "\n" not in message
    assert str(bad) in message and "nothing usable" in message
    assert snapshot(ws) == before, "the previous tables are kept, untouched"
    assert not hidden_leftovers(ws.root)


def test_all_records_rejected_names_files_and_counts(ingested, tmp_path):
    ws = ingested
    before = snapshot(ws)
    a = tmp_path / "a.csv"
    a.write_text("playlist_id,track_key\np1,\np1,\n")
    b = tmp_path / "mpd.slice.9-9.json"
    b.write_bytes(b"")
    with pytest.raises(DiscogsToolsError) as err:
        ingest.run([a, b], ws, workers=1)
    message = str(err.value)
    assert f"{a}: 2 records rejected" in message and "track entry without key" in message
    assert f"{b}: file rejected (empty file)" in message
    failed = ws.rejects / "playlists" / "ingest.failed.jsonl"
    assert "the previous playlist tables (7 playlists) are kept" in message and f"rejects of this run in {failed}" in message
    assert snapshot(ws) == before
    assert not (ws.rejects / "playlists" / "ingest.jsonl").exists(), "the kept tables had no rejects"
    assert [(Path(r["file"]).name, r["reason"]) for r in map(json.loads, failed.read_text().splitlines())] == [
        ("a.csv", "track entry without key (empty track column)")] * 2 + [("mpd.slice.9-9.json", "file rejected: empty file")]
    ingest.run([DATA], ws, workers=1)
    assert not failed.exists(), "a successful run removes the failed run's rejects"


def test_nothing_usable_in_a_fresh_workspace(ws, tmp_path):
    path = tmp_path / "sets.csv"
    path.write_text("playlist_id,track_key\n")
    with pytest.raises(DiscogsToolsError, match=rf"{path}: no playlists; no playlist tables were written$"):
        ingest.run([path], ws)
    assert not ws.table("playlists/playlists").exists()


def test_cli_empty_slice_exit_2_and_downstream_still_works(ingested, tmp_path):
    ws = ingested
    assert invoke("cooccurrence", "-w", ws.root, "--workers", "1").exit_code == 0
    co_before = read_table(ws.table("playlists/cooccurrence"))
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "mpd.slice.0-1.json").write_bytes(b"")

    result = invoke("ingest", "playlists", folder, "-w", ws.root, "--workers", "1")
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ingest playlists: nothing usable read") and "mpd.slice.0-1.json" in last
    assert "Traceback" not in result.output
    assert len(rows(ws, "playlists")) == 7 and len(rows(ws, "playlist_tracks")) == 10
    assert invoke("cooccurrence", "-w", ws.root, "--workers", "1").exit_code == 0
    assert read_table(ws.table("playlists/cooccurrence")).equals(co_before)


def _empty_entries(ws) -> None:
    from discogs_tools.io import write_table
    from discogs_tools.schemas import load_schema

    write_table(ws.table("playlists/playlist_tracks"), load_schema("playlists/playlist_tracks").empty_table(),
                "playlists/playlist_tracks")


def test_cooccurrence_refuses_empty_input_and_keeps_output(ingested):
    ws = ingested
    cooccurrence.run(ws, workers=1)
    before = read_table(ws.table("playlists/cooccurrence"))
    assert before.num_rows > 0
    _empty_entries(ws)
    with pytest.raises(DiscogsToolsError, match=r"playlist_tracks.*no rows.*ingest playlists"):
        cooccurrence.run(ws, workers=1)
    assert read_table(ws.table("playlists/cooccurrence")).equals(before)


def test_word2vec_refuses_empty_input_and_keeps_output(ingested, tmp_path):
    ws = ingested
    out = tmp_path / "w2v"
    word2vec.run(ws, out=out, params=Word2VecParams(vector_size=4, epochs=1))
    before = (out / "vectors.parquet").read_bytes()
    _empty_entries(ws)
    with pytest.raises(DiscogsToolsError, match=r"playlist_tracks.*no rows.*ingest playlists"):
        word2vec.run(ws, out=out, params=Word2VecParams(vector_size=4, epochs=1))
    assert (out / "vectors.parquet").read_bytes() == before


# --- item 3: encodings ----------------------------------------------------------------------------

CAFES = "playlist_id,track_key,track_name\np,café,x\np,cafè,y\np,cafê,z\n"


def test_latin1_csv_is_a_decode_error_naming_line_and_byte(ingested, tmp_path):
    ws = ingested
    before = snapshot(ws)
    path = tmp_path / "cafes.csv"
    path.write_bytes(CAFES.encode("latin-1"))
    with pytest.raises(InputError) as err:
        ingest.run([path], ws)
    # 'é' of line 2 is byte 0xe9 at offset len("playlist_id,track_key,track_name\np,caf").
    offset = len(b"playlist_id,track_key,track_name\np,caf")
    assert str(err.value).startswith(f"{path}: line 2: byte offset {offset}: cannot decode byte 0xe9 as utf-8")
    assert "--encoding" in str(err.value)
    assert snapshot(ws) == before


def test_latin1_csv_decode_error_late_in_a_big_file(ws, tmp_path):
    path = tmp_path / "big.csv"
    lines = ["playlist_id,track_key"] + [f"p{i // 10},k{i}" for i in range(30_000)]
    head = ("\n".join(lines) + "\n").encode()
    path.write_bytes(head + "p,café\n".encode("latin-1"))
    with pytest.raises(InputError) as err:
        ingest.run([path], ws)
    assert f"line {len(lines) + 1}: byte offset {len(head) + 5}:" in str(err.value)


def test_encoding_option_reads_latin1_keys_distinctly(ws, tmp_path):
    path = tmp_path / "cafes.csv"
    path.write_bytes(CAFES.encode("latin-1"))
    result = invoke("ingest", "playlists", path, "-w", ws.root, "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert [t["track_key"] for t in rows(ws, "tracks")] == ["café", "cafè", "cafê"]


def test_cli_decode_error_is_one_line(ws, tmp_path):
    path = tmp_path / "cafes.csv"
    path.write_bytes(CAFES.encode("latin-1"))
    result = invoke("ingest", "playlists", path, "-w", ws.root)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith(f"error: {path}: line 2: byte offset 38:")


def test_unknown_encoding_is_a_config_error(ws, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("playlist_id,track_key\np,k\n")
    result = invoke("ingest", "playlists", path, "-w", ws.root, "--encoding", "klingon-8")
    assert result.exit_code == 2
    assert "unknown encoding 'klingon-8'" in result.output


def test_jsonl_invalid_utf8_is_a_decode_error(ws, tmp_path):
    path = tmp_path / "plays.jsonl"
    path.write_bytes(b'{"playlist_id": "p", "track_key": "a"}\n' + '{"playlist_id": "p", "track_key": "café"}\n'
                     .encode("latin-1"))
    with pytest.raises(InputError, match=r"plays\.jsonl: line 2: byte offset 77: cannot decode byte 0xe9"):
        ingest.run([path], ws)
    ingest.run([path], ws, encoding="latin-1")
    assert [t["track_key"] for t in rows(ws, "tracks")] == ["a", "café"]


# --- item 10: huge CSV fields ---------------------------------------------------------------------

def test_csv_field_over_128kb_is_read(ws, tmp_path):
    path = tmp_path / "big.csv"
    title = "x" * 200_000
    path.write_text(f"playlist_id,track_key,track_name\np,k1,{title}\np,k2,short\n")
    result = invoke("ingest", "playlists", path, "-w", ws.root)
    assert result.exit_code == 0, result.output
    assert [t["track_name"] for t in rows(ws, "tracks")] == [title, "short"]


def test_csv_field_over_the_limit_is_one_line_error(ws, tmp_path, monkeypatch):
    from discogs_tools.playlists import tabular

    monkeypatch.setattr(tabular, "CSV_FIELD_LIMIT", 1000)
    path = tmp_path / "big.csv"
    path.write_text("playlist_id,track_key,track_name\np,k1,ok\np,k2,\"" + "x" * 5000 + "\"\n")
    result = invoke("ingest", "playlists", path, "-w", ws.root)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ingest playlists: nothing usable read") or last.startswith(f"error: {path}")
    assert "line 3" in last and "field larger than" in last


# --- item 17: BOM, wrongly typed fields, no silent coercion -----------------------------------------

def test_utf8_bom_csv_first_column(ws, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffplaylist_id,track_key\np,k1\np,k2\n".encode("utf-8"))
    ingest.run([path], ws)
    assert [(e["playlist_id"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [("p", "k1"), ("p", "k2")]


def test_utf8_bom_jsonl(ws, tmp_path):
    path = tmp_path / "plays.jsonl"
    path.write_bytes("\ufeff".encode() + b'{"playlist_id": "p", "track_key": "a"}\n')
    ingest.run([path], ws)
    assert [e["track_key"] for e in rows(ws, "playlist_tracks")] == ["a"]


def _slice(path: Path, playlists: list) -> Path:
    path.write_bytes(orjson.dumps({"info": {"slice": path.stem}, "playlists": playlists}))
    return path


def _track(pos, uri, **extra):
    return {"pos": pos, "track_uri": uri, "track_name": "t", "artist_name": "a", "artist_uri": "ar",
            "album_name": "b", "album_uri": "al", "duration_ms": 1000, **extra}


def test_mpd_wrongly_typed_track_fields_and_negative_pos_rejected(ws, tmp_path):
    tracks = [_track(0, "k0"), _track(1, "k1", track_name=["a"]), _track(-1, "k2"), _track(2, "k3", artist_name=True),
              _track(3, "k4", album_name={"x": 1}), _track(2**31, "k5"), _track(4, "k0")]
    path = _slice(tmp_path / "mpd.slice.0-0.json", [{"pid": 0, "name": "p", "tracks": tracks}])
    report = ingest.run([path], ws, workers=1)
    assert [(e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [(0, "k0"), (4, "k0")]
    assert [t["track_key"] for t in rows(ws, "tracks")] == ["k0"]
    assert {r["record"]: r["reason"] for r in rejects(ws)} == {
        "playlist 0 tracks[1]": "track field 'track_name' is not a string: ['a']",
        "playlist 0 tracks[2]": "track pos is not an integer in 0..2147483647: -1",
        "playlist 0 tracks[3]": "track field 'artist_name' is not a string: True",
        "playlist 0 tracks[4]": "track field 'album_name' is not a string: {'x': 1}",
        "playlist 0 tracks[5]": "track pos is not an integer in 0..2147483647: 2147483648",
    }
    assert report.counts["entries_rejected"] == 5


def test_mpd_bad_meta_of_a_known_key_is_rejected_not_a_variant(ws, tmp_path):
    tracks = [_track(0, "k0"), _track(1, "k0", track_name=["t"])]
    path = _slice(tmp_path / "mpd.slice.0-0.json", [{"pid": 0, "tracks": tracks}])
    report = ingest.run([path], ws, workers=1)
    assert report.counts["entries_rejected"] == 1 and report.counts["track_metadata_conflicts"] == 0


def test_mpd_negative_pid_rejected(ws, tmp_path):
    path = _slice(tmp_path / "mpd.slice.0-0.json", [{"pid": -5, "tracks": [_track(0, "k")]},
                                                    {"pid": 1, "tracks": [_track(0, "k")]}])
    ingest.run([path], ws, workers=1)
    assert [p["playlist_id"] for p in rows(ws, "playlists")] == ["1"]
    assert [(r["record"], r["reason"]) for r in rejects(ws)] == [
        ("playlists[0]", "field 'pid' is not a non-negative integer: -5")]


def test_tabular_positions_are_not_coerced(ws, tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text("playlist_id,pos,track_key\np,0,a\np,+1,b\np, 2 ,c\np,-5,d\np,1_0,e\np,3,f\np,٣,g\n")
    report = ingest.run([path], ws)
    assert [(e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [(0, "a"), (3, "f")]
    assert [(r["record"], r["reason"]) for r in rejects(ws)] == [
        ("line 3 (playlist p)", "position is not a non-negative integer: '+1'"),
        ("line 4 (playlist p)", "position is not a non-negative integer: ' 2 '"),
        ("line 5 (playlist p)", "position is not a non-negative integer: '-5'"),
        ("line 6 (playlist p)", "position is not a non-negative integer: '1_0'"),
        ("line 8 (playlist p)", "position is not a non-negative integer: '٣'"),
    ]
    assert report.counts["entries_rejected"] == 5


def test_tabular_ids_kept_exactly_as_source_text(ws, tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("playlist_id,track_key\n+12,a\n 12 ,a\n12,a\n-5, k \n")
    ingest.run([path], ws)
    assert [p["playlist_id"] for p in rows(ws, "playlists")] == ["+12", " 12 ", "12", "-5"]
    assert [t["track_key"] for t in rows(ws, "tracks")] == ["a", " k "]


def test_jsonl_wrongly_typed_values_rejected(ws, tmp_path):
    path = tmp_path / "plays.jsonl"
    lines = [
        {"playlist_id": "p", "pos": 0, "track_key": "a", "track_name": "ok", "duration_ms": 1000},
        {"playlist_id": "p", "pos": 1, "track_key": "b", "track_name": ["a"]},
        {"playlist_id": "p", "pos": True, "track_key": "c"},
        {"playlist_id": "p", "pos": 2.7, "track_key": "d"},
        {"playlist_id": "p", "pos": "3", "track_key": "e"},
        {"playlist_id": True, "pos": 0, "track_key": "f"},
        {"playlist_id": -5, "pos": 0, "track_key": "g"},
        {"playlist_id": "p", "pos": 4, "track_key": 1.5},
        {"playlist_id": "p", "pos": 5, "track_key": "h", "duration_ms": "inf"},
        {"playlist_id": "p", "pos": 6, "track_key": "i", "duration_ms": -3},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = ingest.run([path], ws)
    # A position may be a JSON integer or decimal digits as text (as in CSV); nothing else.
    assert [(e["playlist_id"], e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [
        ("p", 0, "a"), ("p", 3, "e"), ("-5", 0, "g")]
    assert [(r["record"], r["reason"]) for r in rejects(ws)] == [
        ("line 2 (playlist p)", "field 'track_name' is not a string: ['a']"),
        ("line 3 (playlist p)", "position is not a non-negative integer: True"),
        ("line 4 (playlist p)", "position is not a non-negative integer: 2.7"),
        ("line 6", "field 'playlist_id' is not a string: True"),
        ("line 8 (playlist p)", "field 'track_key' is not a string: 1.5"),
        ("line 9 (playlist p)", "duration is not a non-negative number or [h:]m:ss: 'inf'"),
        ("line 10 (playlist p)", "duration is not a non-negative number or [h:]m:ss: -3"),
    ]
    assert report.counts["entries_read"] == 10 == report.counts["entries"] + report.counts["entries_rejected"]


# --- item 6: staging folders ------------------------------------------------------------------------

def test_dead_scratch_folders_are_collected_live_ones_kept(ws, tmp_path):
    dead = ws.root / f".ingest-playlists.tmp-{dead_pid()}-0123abcd"
    dead.mkdir()
    (dead / "staging-x.parquet").write_bytes(b"half")
    dead_co = ws.root / f".cooccurrence.tmp-{dead_pid()}-89abcdef"
    dead_co.mkdir()
    live = ws.root / f".ingest-playlists.tmp-{os.getppid()}-fedcba98"
    live.mkdir()
    ingest.run([DATA], ws, workers=1)
    assert not dead.exists() and live.exists()
    cooccurrence.run(ws, workers=1)
    assert not dead_co.exists()
    live.rmdir()
    assert not hidden_leftovers(ws.root)


def test_scratch_folder_is_pid_named_while_running(ws, tmp_path, monkeypatch):
    from discogs_tools.playlists import tabular

    seen = []
    real = tabular.read_tabular

    def spy(path, fmt, spec, *, tmp_dir, **kw):
        seen.append(Path(tmp_dir).name)
        yield from real(path, fmt, spec, tmp_dir=tmp_dir, **kw)

    monkeypatch.setattr(ingest, "read_tabular", spy)
    path = tmp_path / "a.csv"
    path.write_text("playlist_id,track_key\np,k\n")
    ingest.run([path], ws)
    assert len(seen) == 1 and seen[0].startswith(f".ingest-playlists.tmp-{os.getpid()}-")
    assert not hidden_leftovers(ws.root)


def test_failing_part_close_leaves_no_staging_and_keeps_tables(ingested, monkeypatch, tmp_path):
    ws = ingested
    before = snapshot(ws)

    real_close = pq.ParquetWriter.close

    def full_disk(self, *args, **kwargs):  # the footer write fails (the file is closed anyway)
        real_close(self)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "close", full_disk)
    with pytest.raises(OSError):
        ingest.run([DATA / "mpd.slice.0-2.json"], ws, workers=1)
    monkeypatch.undo()
    assert not hidden_leftovers(ws.root)
    assert snapshot(ws) == before


# --- item 7: one writer per output ------------------------------------------------------------------

def test_concurrent_ingest_fails_fast(ingested):
    ws = ingested
    with output_lock(ws.root, "ingest playlists"):
        with pytest.raises(OutputLockedError, match=f"pid {os.getpid()}"):
            ingest.run([DATA], ws, workers=1)
    ingest.run([DATA], ws, workers=1)


def test_concurrent_cooccurrence_fails_fast(ingested):
    ws = ingested
    with output_lock(ws.root, "cooccurrence"):
        with pytest.raises(OutputLockedError):
            cooccurrence.run(ws, workers=1)
    assert not ws.table("playlists/cooccurrence").exists()


def test_concurrent_word2vec_same_name_fails_fast(ingested):
    ws = ingested
    params = Word2VecParams(vector_size=4, epochs=1)
    with output_lock(ws.root, "word2vec", "demo"):
        with pytest.raises(OutputLockedError):
            word2vec.run(ws, name="demo", params=params)
        word2vec.run(ws, name="other", params=params)
    assert not (ws.dataset("demo") / "word2vec").exists()


KILLED_INGEST = """
import sys, time
from pathlib import Path
from discogs_tools.playlists import ingest
from discogs_tools.workspace import Workspace

def stuck(path, fmt, spec, *, tmp_dir, **kw):
    (tmp_dir / "staging-part.parquet").write_bytes(b"half written")
    Path(sys.argv[3]).write_text(str(tmp_dir))
    time.sleep(600)
    yield

ingest.read_tabular = stuck
ingest.run([Path(sys.argv[1])], Workspace(Path(sys.argv[2])))
"""


def test_kill_9_mid_ingest_next_run_collects_everything(ingested, tmp_path):
    ws = ingested
    before = snapshot(ws)
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("playlist_id,track_key\np,k\n")
    marker = tmp_path / "scratch-created"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(csv_path), str(ws.root), str(marker)],
                            env={**os.environ, "DISCOGS_TOOLS_QUIET": "1"})
    try:
        for _ in range(600):  # wait (up to a minute) until the run is inside its scratch folder
            if marker.exists() or proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        assert marker.exists(), "the ingest never reached the reader"
    finally:
        proc.kill()
        proc.wait()
    scratch = Path(marker.read_text())
    assert scratch.name.startswith(f".ingest-playlists.tmp-{proc.pid}-") and scratch.exists()
    assert len(hidden_leftovers(ws.root)) >= 4, "scratch and three table staging folders left by kill -9"
    assert snapshot(ws) == before

    ingest.run([DATA], ws, workers=1)  # the lock died with the process; leftovers are collected
    assert not hidden_leftovers(ws.root)
    assert snapshot(ws)["playlists"][0] == before["playlists"][0]
