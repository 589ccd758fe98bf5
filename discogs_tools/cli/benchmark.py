"""``discogs-tools benchmark list`` and ``benchmark prepare`` (see discogs_tools.benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import app, handle_errors, print_report

benchmark_app = typer.Typer(help="Standard downstream benchmarks from their official files.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("list")
@handle_errors
def benchmark_list() -> None:
    """Every benchmark: its task, the files it needs under --root, the audio and where it is published."""
    from ..benchmarks import BENCHMARKS

    for b in BENCHMARKS.values():
        typer.echo(f"{b.name}: {b.description} ({b.kind})")
        typer.echo(f"  needs under --root: {', '.join(b.needs)}")
        typer.echo(f"  audio: {b.audio}")
        typer.echo(f"  published: {b.published}")
        typer.echo(f"  checksums: {b.checksums}")
        if b.seed:
            sizes = [f"{b.seed['tracks']:,} {b.seed.get('unit', 'tracks')}"] if "tracks" in b.seed else []
            sizes += [f"{b.seed['classes']} classes"] if "classes" in b.seed else []
            typer.echo(f"  seeds: {', '.join(sizes)} ({b.seed['where']})")


@benchmark_app.command("prepare")
@handle_errors
def benchmark_prepare(
    name: Annotated[str, typer.Argument(help="Benchmark name (see `discogs-tools benchmark list`).")],
    root: Annotated[Path, typer.Option("--root", help="Folder holding the benchmark's files as distributed.")],
    audio_root: Annotated[Path | None, typer.Option("--audio-root", help="Folder of the benchmark's audio: each "
                                                       "track's file is checked and its absolute path written.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Manifest CSV to write "
                                                   "(default: ./NAME.csv).")] = None,
    max_missing_fraction: Annotated[float, typer.Option(help="Largest share of tracks whose audio may be missing or "
                                                        "unreadable (they are left out and listed) before the run "
                                                        "fails.")] = 0.01,
) -> None:
    """Write the benchmark's probe task manifest (for `probe`, and `ingest collection` for the audio)."""
    from ..benchmarks.prepare import prepare

    print_report(prepare(name, root, output=output, audio_root=audio_root, max_missing_fraction=max_missing_fraction))
