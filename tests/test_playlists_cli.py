"""The playlist commands through the real CLI: ingest playlists, cooccurrence, word2vec."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.io import read_table

DATA = Path(__file__).parent / "data" / "playlists"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_end_to_end(ws, tmp_path):
    result = invoke("ingest", "playlists", DATA / "mpd.slice.0-2.json", DATA / "mpd.slice.3-4.json", "-w", ws.root,
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "playlists: 5" in result.output and "length_histogram" in result.output

    result = invoke("cooccurrence", "-w", ws.root, "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert read_table(ws.table("playlists/cooccurrence")).column("rank").to_pylist().count(1) == 4

    result = invoke("word2vec", "-w", ws.root, "--name", "demo", "--vector-size", "4", "--epochs", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert (ws.dataset("demo") / "word2vec" / "vectors.kv").exists()


def test_cli_tabular_columns_and_errors(ws, tmp_path):
    sets = tmp_path / "sets.tsv"
    sets.write_text("set\ttrack\tmins\nA\tk1\t3:10\nA\tk2\t4:00\n")
    result = invoke("ingest", "playlists", sets, "-w", ws.root, "--playlist-column", "set", "--track-column",
                    "track", "--duration-column", "mins")
    assert result.exit_code == 0, result.output
    assert read_table(ws.table("playlists/tracks")).column("duration_ms").to_pylist() == [190_000, 240_000]

    result = invoke("ingest", "playlists", sets, "-w", ws.root, "--playlist-column", "set", "--track-column", "isrc")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == \
        f"error: {sets}: no column 'isrc' for the track field (columns: set, track, mins)"

    empty = tmp_path / "mpd.slice.0-0.json"
    empty.write_text("")
    result = invoke("ingest", "playlists", empty, "-w", ws.root, "--strict")
    assert result.exit_code == 2
    assert f"error: {empty}: empty file" in result.output
