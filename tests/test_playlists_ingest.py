"""Playlist ingestion: hand-written MPD slices (all fields), the challenge-set layout,
CSV/TSV/JSONL with custom column names, rejects and their messages, safe reruns."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from discogs_tools import manifest
from discogs_tools.errors import ConfigError, InputError
from discogs_tools.io import read_table
from discogs_tools.playlists import ingest
from discogs_tools.playlists.inputs import discover
from discogs_tools.playlists.tabular import ColumnSpec
from discogs_tools.schemas import load_schema

DATA = Path(__file__).parent / "data" / "playlists"
SLICES = [DATA / "mpd.slice.0-2.json", DATA / "mpd.slice.3-4.json"]
CHALLENGE = DATA / "challenge_set.json"


def rows(ws, table: str) -> list[dict]:
    return read_table(ws.table(f"playlists/{table}")).to_pylist()


def rejects(ws) -> list[dict]:
    path = ws.rejects / "playlists" / "ingest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def source_tracks(paths: list[Path]) -> list[tuple[str, int, dict]]:
    """(playlist id, pos, track dict) of every entry, read independently with the json module."""
    out = []
    for path in paths:
        for playlist in json.loads(path.read_text())["playlists"]:
            for track in playlist["tracks"]:
                out.append((str(playlist["pid"]), track["pos"], track))
    return out


def test_mpd_slices_all_fields(ws):
    report = ingest.run(SLICES, ws, workers=1)

    playlists = {p["playlist_id"]: p for p in rows(ws, "playlists")}
    assert list(playlists) == ["0", "1", "2", "3", "4"]
    source = {str(p["pid"]): p for path in SLICES for p in json.loads(path.read_text())["playlists"]}
    for pid, p in playlists.items():
        src = source[pid]
        assert p["name"] == src["name"]
        assert p["description"] == src.get("description")
        assert p["collaborative"] is (src["collaborative"] == "true")
        assert p["modified_at"] == datetime.fromtimestamp(src["modified_at"], timezone.utc).replace(tzinfo=None)
        for field in ("num_tracks", "num_albums", "num_followers", "num_edits", "duration_ms", "num_artists"):
            assert p[field] == src[field], field
        assert p["num_entries"] == len(src["tracks"])
        assert p["pid"] == src["pid"]
        assert p["source_format"] == "mpd"
    assert playlists["1"]["description"] == "songs for the road"
    assert playlists["4"]["num_entries"] == 0

    entries = rows(ws, "playlist_tracks")
    expected = source_tracks(SLICES)
    assert [(e["playlist_id"], e["pos"], e["track_key"]) for e in entries] == \
        [(pid, pos, t["track_uri"]) for pid, pos, t in expected]

    # One row per key, first-seen metadata; the later "Lose Control" without feat. is a counted conflict.
    tracks = {t["track_key"]: t for t in rows(ws, "tracks")}
    first: dict[str, dict] = {}
    for _, _, t in expected:
        first.setdefault(t["track_uri"], t)
    assert list(tracks) == list(first)
    for key, t in first.items():
        assert tracks[key] == {"track_key": key, "track_name": t["track_name"], "artist_name": t["artist_name"],
                               "artist_key": t["artist_uri"], "album_name": t["album_name"],
                               "album_key": t["album_uri"], "duration_ms": t["duration_ms"]}
    assert report.counts["track_metadata_conflicts"] == 1
    assert report.counts["entries"] == len(expected) == report.counts["entries_read"]
    assert report.counts["rejects"] == 0
    assert report.figures["unique_artists"] == len({t["artist_uri"] for t in first.values()})
    assert report.figures["unique_albums"] == len({t["album_uri"] for t in first.values()})
    assert report.figures["length_max"] == 3 and report.figures["length_min"] == 0

    recorded = manifest.get(ws.manifest_path, "ingest playlists")
    assert recorded["counts"]["playlists"] == 5
    assert recorded["inputs"][0]["checksum"] == manifest.file_checksum(SLICES[0])
    assert recorded["details"][0]["statistics"]["length_histogram"]["0"] == 1


def test_schemas_match_contract():
    assert [(f.name, str(f.type)) for f in load_schema("playlists/playlist_tracks")] == \
        [("playlist_id", "string"), ("pos", "int32"), ("track_key", "string")]
    assert [(f.name, str(f.type)) for f in load_schema("playlists/cooccurrence")] == \
        [("track_key", "string"), ("neighbor_key", "string"), ("count", "int64"), ("rank", "int32")]
    tracks = load_schema("playlists/tracks")
    assert tracks.names == ["track_key", "track_name", "artist_name", "artist_key", "album_name", "album_key",
                            "duration_ms"]
    for name in ("playlists", "playlist_tracks", "tracks", "cooccurrence", "word2vec_vectors"):
        assert all(f.metadata and f.metadata.get(b"doc") for f in load_schema(f"playlists/{name}"))


def test_challenge_set_layout(ws):
    report = ingest.run([CHALLENGE], ws, workers=1)
    playlists = rows(ws, "playlists")
    assert [(p["playlist_id"], p["name"], p["num_samples"], p["num_holdouts"], p["num_tracks"], p["num_entries"])
            for p in playlists] == [("1000002", "spa", 0, 2, 2, 0), ("1000003", None, 1, 1, 2, 1)]
    assert [e["track_key"] for e in rows(ws, "playlist_tracks")] == ["spotify:track:6I9VzXrHxO9rA9A5euc8Ak"]
    assert report.counts["rejects"] == 0


def test_parallel_workers_and_rerun_give_identical_tables(ws, tmp_path):
    folder = tmp_path / "mpd"
    folder.mkdir()
    for path in SLICES:
        shutil.copy(path, folder / path.name)
    ingest.run([folder], ws, workers=1)
    first = {t: read_table(ws.table(f"playlists/{t}")) for t in ingest.TABLES}
    ingest.run([folder], ws, workers=2)
    for t, table in first.items():
        assert read_table(ws.table(f"playlists/{t}")).equals(table), t
    assert not list(ws.table("playlists").glob(".*")), "no staging folders left behind"


def test_folder_natural_order(tmp_path):
    for name in ("mpd.slice.2000-2999.json", "mpd.slice.0-999.json", "mpd.slice.1000-1999.json",
                 "mpd.slice.10000-10999.json", "README.md"):
        (tmp_path / name).write_text("{}")
    assert [f.path.name for f in discover([tmp_path])] == [
        "mpd.slice.0-999.json", "mpd.slice.1000-1999.json", "mpd.slice.2000-2999.json", "mpd.slice.10000-10999.json"]
    with pytest.raises(ConfigError, match="twice"):
        discover([tmp_path / "mpd.slice.0-999.json", tmp_path])


# --- bad input -------------------------------------------------------------------------------

def write_slice(path: Path, playlists: list, info: bool = True) -> Path:
    doc = {"info": {"slice": path.stem, "version": "v1"}, "playlists": playlists} if info else {"playlists": playlists}
    path.write_bytes(orjson.dumps(doc))
    return path


def playlist(pid, n_tracks=2, **overrides):
    tracks = [{"pos": i, "track_uri": f"spotify:track:{pid}x{i}", "track_name": f"t{i}", "artist_name": "a",
               "artist_uri": "spotify:artist:a", "album_name": "b", "album_uri": "spotify:album:b",
               "duration_ms": 1000 + i} for i in range(n_tracks)]
    p = {"name": f"p{pid}", "collaborative": "false", "pid": pid, "modified_at": 1500000000,
         "num_tracks": n_tracks, "num_albums": 1, "num_followers": 1, "num_edits": 1, "duration_ms": 2001,
         "num_artists": 1, "tracks": tracks}
    p.update(overrides)
    return p


def test_record_rejects_are_counted_and_named(ws, tmp_path):
    bad_track = playlist(11)
    del bad_track["tracks"][1]["track_uri"]
    bad_pos = playlist(12)
    bad_pos["tracks"][0]["pos"] = "zero"
    no_pid = playlist(13)
    del no_pid["pid"]
    no_tracks = playlist(14)
    del no_tracks["tracks"]
    bad_flag = playlist(15, collaborative="maybe")
    a = write_slice(tmp_path / "mpd.slice.0-9.json", [playlist(10), bad_track, bad_pos, no_pid, no_tracks, bad_flag])
    b = write_slice(tmp_path / "mpd.slice.10-19.json", [playlist(10, n_tracks=3), playlist(16)])

    report = ingest.run([a, b], ws, workers=1)

    c = report.counts
    assert (c["playlists_read"], c["playlists"], c["playlists_rejected"]) == (8, 4, 4)
    assert c["entries_read"] == c["entries"] + c["entries_rejected"]
    assert (c["entries"], c["entries_rejected"]) == (2 + 1 + 1 + 2, 1 + 1 + 2 + 2 + 3)
    by_record = {(Path(r["file"]).name, r["record"]): r["reason"] for r in rejects(ws)}
    assert by_record == {
        ("mpd.slice.0-9.json", "playlist 11 tracks[1]"): "track entry without key (track_uri missing or empty)",
        ("mpd.slice.0-9.json", "playlist 12 tracks[0]"): "track pos is not an integer: 'zero'",
        ("mpd.slice.0-9.json", "playlists[3]"): "missing field 'pid'",
        ("mpd.slice.0-9.json", "playlist 14"): "missing field 'tracks'",
        ("mpd.slice.0-9.json", "playlist 15"): "field 'collaborative' is not \"true\" or \"false\": 'maybe'",
        ("mpd.slice.10-19.json", "playlist 10"): "duplicate playlist id '10' (already in mpd.slice.0-9.json)",
    }
    # The duplicate's entries and its tracks never reach the tables; the gap of a rejected entry stays.
    entries = rows(ws, "playlist_tracks")
    assert [(e["playlist_id"], e["pos"]) for e in entries] == [("10", 0), ("10", 1), ("11", 0), ("12", 1),
                                                              ("16", 0), ("16", 1)]
    assert "spotify:track:10x2" not in {t["track_key"] for t in rows(ws, "tracks")}
    assert {p["playlist_id"]: p["num_entries"] for p in rows(ws, "playlists")} == {"10": 2, "11": 1, "12": 1, "16": 2}


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b'{"info": {}, "playlists": [{"pid": 1, "tracks": [', "malformed JSON"),
    (b'{"info": {"slice": "0-0"}}', "not an MPD slice"),
])
def test_bad_files_rejected_or_fatal_when_strict(ws, tmp_path, content, reason):
    bad = tmp_path / "mpd.slice.5-5.json"
    bad.write_bytes(content)
    good = write_slice(tmp_path / "mpd.slice.0-4.json", [playlist(1)])

    report = ingest.run([good, bad], ws, workers=1)
    assert report.counts["files_rejected"] == 1 and report.counts["playlists"] == 1
    assert any(reason in w and "mpd.slice.5-5.json" in w for w in report.warnings)
    assert reason in rejects(ws)[0]["reason"]

    before = read_table(ws.table("playlists/playlists"))
    with pytest.raises(InputError, match=rf"mpd\.slice\.5-5\.json: {reason}"):
        ingest.run([good, bad], ws, workers=1, strict=True)
    assert read_table(ws.table("playlists/playlists")).equals(before), "a failed run leaves the old tables"


def test_strict_names_file_and_playlist(ws, tmp_path):
    bad = playlist(7)
    bad["tracks"][0]["track_uri"] = ""
    path = write_slice(tmp_path / "mpd.slice.0-0.json", [bad])
    with pytest.raises(InputError) as err:
        ingest.run([path], ws, workers=1, strict=True)
    assert str(err.value) == f"{path}: record playlist 7 tracks[0]: track entry without key (track_uri missing or empty)"
    assert not ws.table("playlists/playlists").exists()


def test_duplicate_pid_across_slices_in_parallel(ws, tmp_path):
    a = write_slice(tmp_path / "mpd.slice.0-1.json", [playlist(0), playlist(1)])
    b = write_slice(tmp_path / "mpd.slice.2-3.json", [playlist(2), playlist(1, n_tracks=1)])
    report = ingest.run([tmp_path], ws, workers=2)
    assert report.counts["playlists"] == 3 and report.counts["playlists_rejected"] == 1
    assert [r["record"] for r in rejects(ws)] == ["playlist 1"]
    with pytest.raises(InputError, match=r"mpd\.slice\.2-3\.json: record playlist 1: duplicate playlist id"):
        ingest.run([a, b], ws, workers=2, strict=True)


# --- tabular ---------------------------------------------------------------------------------

SETS_CSV = """set_id;idx;isrc;artist;title;length;set_name
dj1;2;ISRC3;Moodymann;Shades of Jae;7:05;Warehouse 1997
dj2;0;ISRC1;Larry Heard;Can You Feel It;300;Sunday
dj1;0;ISRC1;Larry Heard;Can You Feel It;300;
dj1;1;ISRC2;Theo Parrish;"Summertime; Is Here";612;
dj2;1;;Nobody;No key;100;
dj2;x;ISRC4;Someone;Bad pos;100;
dj2;2;ISRC5;Too;Many;1;2;3
"""


def sets_spec(**extra) -> ColumnSpec:
    return ColumnSpec(playlist="set_id", position="idx", track="isrc", artist="artist", title="title",
                      duration="length", name="set_name", duration_unit="s", **extra)


def test_csv_custom_columns_sorted_by_playlist_and_position(ws, tmp_path):
    path = tmp_path / "sets.csv"
    path.write_text(SETS_CSV)
    report = ingest.run([path], ws, columns=sets_spec(), delimiter=";")

    assert [(p["playlist_id"], p["name"], p["num_tracks"], p["num_entries"], p["source_format"])
            for p in rows(ws, "playlists")] == [("dj1", "Warehouse 1997", 3, 3, "csv"), ("dj2", "Sunday", 3, 1, "csv")]  # the malformed line belongs to no playlist
    assert [(e["playlist_id"], e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [
        ("dj1", 0, "ISRC1"), ("dj1", 1, "ISRC2"), ("dj1", 2, "ISRC3"), ("dj2", 0, "ISRC1")]
    tracks = {t["track_key"]: t for t in rows(ws, "tracks")}
    assert tracks["ISRC3"]["duration_ms"] == 425_000 and tracks["ISRC2"]["track_name"] == "Summertime; Is Here"
    assert tracks["ISRC1"]["artist_name"] == "Larry Heard" and tracks["ISRC1"]["album_name"] is None
    assert report.counts["entries_read"] == 7 and report.counts["entries_rejected"] == 3
    assert [(r["record"], r["reason"]) for r in rejects(ws)] == [
        ("line 6 (playlist dj2)", "track entry without key (empty track column)"),
        ("line 7 (playlist dj2)", "position is not a non-negative integer: 'x'"),
        ("line 8", "malformed row: expected 7 fields, got 8"),
    ]


def test_tsv_without_position_uses_row_order(ws, tmp_path):
    path = tmp_path / "sessions.tsv"
    path.write_text("user\tsong\tplayed_s\nu1\tk1\t61.5\nu2\tk9\t10\nu1\tk2\t\nu1\tk1\t61.5\n")
    spec = ColumnSpec(playlist="user", track="song", duration="played_s", duration_unit="s")
    ingest.run([path], ws, columns=spec, id_prefix="lastfm:")
    assert [(e["playlist_id"], e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [
        ("lastfm:u1", 0, "k1"), ("lastfm:u1", 1, "k2"), ("lastfm:u1", 2, "k1"), ("lastfm:u2", 0, "k9")]
    assert {t["track_key"]: t["duration_ms"] for t in rows(ws, "tracks")} == {"k1": 61_500, "k9": 10_000, "k2": None}


def test_jsonl_custom_keys_and_bad_lines(ws, tmp_path):
    path = tmp_path / "plays.jsonl"
    lines = [
        {"session": 5, "i": 1, "mbid": "m-b", "by": "Burial", "song": "Archangel", "ms": 238000},
        {"session": 5, "i": 0, "mbid": "m-a", "by": "Burial", "song": "Near Dark", "ms": 235000},
        "{not json",
        {"session": None, "i": 0, "mbid": "m-c"},
        {"session": 6, "i": 0, "mbid": "m-a", "by": "Burial", "song": "Near Dark", "ms": 235000},
    ]
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n\n")
    spec = ColumnSpec(playlist="session", position="i", track="mbid", artist="by", title="song", duration="ms",
                      required=("position", "artist", "title", "duration"))
    report = ingest.run([path], ws, columns=spec)
    assert [(e["playlist_id"], e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [
        ("5", 0, "m-a"), ("5", 1, "m-b"), ("6", 0, "m-a")]
    assert [(r["record"], r["reason"].split(":")[0]) for r in rejects(ws)] == [
        ("line 3", "malformed JSON"), ("line 4", "row without playlist id")]
    assert report.counts["entries_read"] == 5 == report.counts["entries"] + report.counts["entries_rejected"]


def test_tabular_missing_column_and_duplicate_ids(ws, tmp_path):
    path = tmp_path / "sets.csv"
    path.write_text(SETS_CSV)
    with pytest.raises(InputError, match=r"sets\.csv: no column 'bpm' for the duration field"):
        ingest.run([path], ws, columns=sets_spec().__class__(**{**sets_spec().__dict__, "duration": "bpm",
                                                                 "required": ("duration",)}),
                   delimiter=";", strict=True)
    # A tabular playlist whose id an MPD slice already used is rejected with all its rows.
    other = tmp_path / "more.csv"
    other.write_text("playlist_id,track_key\n0,k1\n0,k2\n99,k3\n")
    report = ingest.run([SLICES[0], other], ws, workers=1)
    assert report.counts["playlists_rejected"] == 1 and report.counts["entries_rejected"] == 2
    assert {r["reason"] for r in rejects(ws)} == {"duplicate playlist id '0' (already in mpd.slice.0-2.json)",
                                                  "row of a rejected duplicate playlist"}
    assert [p["playlist_id"] for p in rows(ws, "playlists")] == ["0", "1", "2", "99"]


def test_tabular_duplicate_positions_are_kept_and_warned(ws, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("playlist_id,pos,track_key\np,0,a\np,1,b\np,1,c\n")
    report = ingest.run([path], ws)
    assert [e["track_key"] for e in rows(ws, "playlist_tracks")] == ["a", "b", "c"]
    assert any("1 entries share a position" in w and "playlist p pos 1" in w for w in report.warnings)


def test_gzipped_slice_gives_same_tables(ws, tmp_path):
    import gzip

    ingest.run([SLICES[0]], ws, workers=1)
    plain = {t: read_table(ws.table(f"playlists/{t}")) for t in ingest.TABLES}
    packed = tmp_path / (SLICES[0].name + ".gz")
    packed.write_bytes(gzip.compress(SLICES[0].read_bytes()))
    ingest.run([packed], ws, workers=1)
    for t, table in plain.items():
        got = read_table(ws.table(f"playlists/{t}"))
        if t == "playlists":
            got = got.drop_columns(["source_file"])
            table = table.drop_columns(["source_file"])
        assert got.equals(table), t


def test_entries_sorted_by_pos_and_duplicate_pos_rejected(ws, tmp_path):
    shuffled = playlist(3, n_tracks=4)
    shuffled["tracks"] = [shuffled["tracks"][i] for i in (2, 0, 3, 1)]
    shuffled["tracks"].append({**shuffled["tracks"][0], "track_uri": "spotify:track:dup"})  # pos 2 again
    path = write_slice(tmp_path / "mpd.slice.0-0.json", [shuffled], info=False)
    report = ingest.run([path], ws, workers=1)
    assert [(e["pos"], e["track_key"]) for e in rows(ws, "playlist_tracks")] == [
        (0, "spotify:track:3x0"), (1, "spotify:track:3x1"), (2, "spotify:track:3x2"), (3, "spotify:track:3x3")]
    assert [r["reason"] for r in rejects(ws)] == ["duplicate track pos 2"]
    assert report.counts["entries_rejected"] == 1
