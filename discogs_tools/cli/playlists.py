"""Commands ``ingest playlists``, ``cooccurrence`` and ``word2vec`` (thin wrappers over
discogs_tools.playlists.{ingest, cooccurrence, word2vec}.run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..playlists import command as steps
from .common import (SeedOption, WorkersOption, WorkspaceOption, app, handle_errors, ingest_app, print_report,
                     workspace)

def _column(what: str, default: str, optional: bool = True) -> Any:
    text = f"Tabular inputs: column holding the {what} (default: '{default}'"
    text += ", used when present; 'none' ignores it)." if optional else ")."
    return typer.Option(help=text, show_default=False)


@ingest_app.command("playlists")
@handle_errors
def ingest_playlists(
    inputs: Annotated[list[Path], typer.Argument(help="MPD slices (mpd.slice.*.json, challenge_set.json), "
                                                 "CSV/TSV/JSONL files, or folders of them.")],
    ws: WorkspaceOption = None,
    format: Annotated[str, typer.Option("--format", help="auto (from file names), mpd, csv, tsv or jsonl.")] = "auto",  # noqa: A002
    playlist_column: Annotated[Optional[str], _column("playlist id", "playlist_id", False)] = None,
    track_column: Annotated[Optional[str], _column("track key", "track_key", False)] = None,
    position_column: Annotated[Optional[str], _column("position in the playlist (else: row order)", "pos")] = None,
    title_column: Annotated[Optional[str], _column("track title", "track_name")] = None,
    artist_column: Annotated[Optional[str], _column("artist name", "artist_name")] = None,
    artist_key_column: Annotated[Optional[str], _column("artist key", "artist_key")] = None,
    album_column: Annotated[Optional[str], _column("album name", "album_name")] = None,
    album_key_column: Annotated[Optional[str], _column("album key", "album_key")] = None,
    duration_column: Annotated[Optional[str], _column("track duration", "duration_ms")] = None,
    name_column: Annotated[Optional[str], _column("playlist name", "name")] = None,
    duration_unit: Annotated[str, typer.Option(help="Unit of numeric durations in tabular inputs: ms or s "
                                                    "([h:]m:ss strings are always understood).")] = "ms",
    delimiter: Annotated[Optional[str], typer.Option(help="Field delimiter of CSV/TSV inputs "
                                                         "(default: ',' for .csv, tab for .tsv).")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/TSV/JSONL inputs (e.g. latin-1, cp1252); "
                                               "a UTF-8 byte-order mark is skipped, and a byte that does not "
                                               "decode is an error naming file, line and byte offset.")] = "utf-8",
    id_prefix: Annotated[str, typer.Option(help="Text put before every playlist id (to combine datasets).")] = "",
    workers: WorkersOption = None,
    strict: Annotated[bool, typer.Option("--strict/--no-strict", help="Stop at the first bad record or file instead of "
                                                          "rejecting it into rejects/playlists/ingest.jsonl.")] = False,
    checksum: Annotated[bool, typer.Option(help="Record sha256 checksums of inputs in the manifest.")] = True,
) -> None:
    """Ingest playlist datasets into tables playlists/{playlists, playlist_tracks, tracks} and print statistics."""
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    print_report(steps.ingest_playlists(workspace(options.pop("ws")), **options))


@app.command("cooccurrence")
@handle_errors
def cooccurrence(
    ws: WorkspaceOption = None,
    top_k: Annotated[int, typer.Option(help="Neighbours kept per track.")] = 10,
    min_count: Annotated[int, typer.Option(help="Least number of shared playlists for a neighbour.")] = 1,
    workers: WorkersOption = None,
    block_budget: Annotated[int, typer.Option(help="Work units (≈ non-zeros) per block; memory per worker is "
                                                   "about 50 bytes per unit.")] = 25_000_000,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit while indexing.")] = "4GB",
) -> None:
    """Top-k co-occurring tracks of every track (counts = shared playlists) -> table playlists/cooccurrence."""
    from ..playlists import cooccurrence as stage

    print_report(stage.run(workspace(ws), top_k=top_k, min_count=min_count, workers=workers,
                           block_budget=block_budget, memory_limit=memory_limit))


@app.command("word2vec")
@handle_errors
def word2vec(
    ws: WorkspaceOption = None,
    name: Annotated[str, typer.Option(help="Dataset name: output goes to <workspace>/datasets/NAME/word2vec.")]
    = "playlists",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output folder instead of the dataset folder.")] = None,
    vector_size: Annotated[int, typer.Option(help="Dimensions of the track vectors.")] = 100,
    window: Annotated[Optional[int], typer.Option(help="Context window (default: the longest playlist, i.e. "
                                                       "the whole playlist).")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 20,
    alpha: Annotated[float, typer.Option(help="Initial learning rate.")] = 0.02,
    min_count: Annotated[int, typer.Option(help="Ignore tracks with fewer occurrences.")] = 1,
    negative: Annotated[int, typer.Option(help="Negative samples per positive.")] = 5,
    sample: Annotated[float, typer.Option(help="Down-sampling threshold of frequent tracks.")] = 0.001,
    skip_gram: Annotated[bool, typer.Option("--skip-gram/--no-skip-gram", help="Skip-gram instead of CBOW.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Training threads; 1 (the default here, unlike "
                                                                  "other commands) gives bit-identical vectors "
                                                                  "per seed.")] = 1,
    seed: SeedOption = 0,
) -> None:
    """Train Word2Vec track vectors on playlists (CBOW, whole-playlist window); save KeyedVectors + Parquet."""
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    print_report(steps.word2vec(workspace(options.pop("ws")), **options))
