"""``index-embeddings``, ``similar`` and ``serve``: nearest neighbours over a run's embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .common import WorkspaceOption, app, handle_errors, print_report, workspace

RunOption = Annotated[Optional[str], typer.Option("--run", "-r", help="Training run whose embeddings are searched "
                                                  "(default: the only run with embeddings).")]
EmbeddingsOption = Annotated[Optional[str], typer.Option(
    "--embeddings", help="Embeddings table under runs/RUN/embeddings/ or a path (default: the one named after "
    "the run's feature set, as `embed -c RUN` writes it).")]


@app.command("index-embeddings")
@handle_errors
def index_embeddings_command(
    run: Annotated[str, typer.Argument(help="Training run (runs/RUN) whose embeddings are indexed.")],
    embeddings: EmbeddingsOption = None,
    force: Annotated[bool, typer.Option("--force/--no-force", help="Rebuild even when the index is up to date.")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", help="Threads that build the index "
                                                   "(default: every core).")] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Build the nearest-neighbour index (usearch HNSW, cosine) of a run's embeddings, stored in
    runs/RUN/similar/; rebuilt only when the embeddings changed."""
    from ..similar.index import build
    from .common import workers_or_default

    print_report(build(workspace(ws).ensure(), run, embeddings=embeddings, force=force,
                       threads=workers_or_default(workers)))


@app.command("similar")
@handle_errors
def similar_command(
    query: Annotated[str, typer.Argument(help="A track id, an audio file, or `artist - title` text.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Number of neighbours.")] = 10,
    run: RunOption = None,
    embeddings: EmbeddingsOption = None,
    style: Annotated[Optional[List[str]], typer.Option("--style", help="Keep neighbours with this style "
                                                       "(repeat for any of several).")] = None,
    years: Annotated[Optional[str], typer.Option("--years", help="Keep neighbours released in YEAR, FIRST-LAST, "
                                                 "FIRST- or -LAST.")] = None,
    label: Annotated[Optional[List[str]], typer.Option("--label", help="Keep neighbours on this label "
                                                       "(repeat for any of several).")] = None,
    exclude_same_artist: Annotated[bool, typer.Option("--exclude-same-artist/--no-exclude-same-artist",
                                                      help="Leave out tracks of the query's artist.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, json or csv.")] = "text",
    ws: WorkspaceOption = None,
) -> None:
    """The nearest tracks of the collection to a query by cosine distance over a run's embeddings,
    with artist, title, release, year, styles and label from the warehouse."""
    from ..errors import ConfigError
    from ..similar.filters import Filters, parse_years
    from ..similar.render import FORMATS, render
    from ..similar.search import find_similar

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    lo, hi = parse_years(years)
    filters = Filters(styles=tuple(style or ()), year_min=lo, year_max=hi, labels=tuple(label or ()),
                      exclude_same_artist=exclude_same_artist)
    found_query, found = find_similar(workspace(ws), query, run=run, embeddings=embeddings, k=k, filters=filters,
                                      echo=lambda line: typer.echo(line, err=True))
    typer.echo(render(found_query, found, fmt))


@app.command("serve")
@handle_errors
def serve_command(
    run: RunOption = None,
    embeddings: EmbeddingsOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8765,
    allow_remote: Annotated[bool, typer.Option("--allow-remote/--no-allow-remote",
                                               help="Allow a --host other machines can reach.")] = False,
    audio_root: Annotated[Optional[List[Path]], typer.Option(
        "--audio-root", help="Another folder audio may be played from (besides the collection's own).")] = None,
    ws: WorkspaceOption = None,
) -> None:
    """A local web page: search a track, see and play its neighbours from your own audio files,
    and browse a 2-D map of the collection coloured by style, label or artist. Ctrl-C stops it."""
    from ..similar.server import SimilarService, start
    from ..similar.source import default_run

    space = workspace(ws)
    name = run or default_run(space)
    echo = lambda line: typer.echo(line, err=True)  # noqa: E731
    service = SimilarService(space, name, embeddings=embeddings, audio_roots=audio_root or (), echo=echo)
    server = start(service, host, port, allow_remote=allow_remote)
    typer.echo(f"serving run {name} ({len(service.index):,} tracks) at http://{host}:{server.server_port}/ "
               f"(audio from {', '.join(map(str, service.roots)) or 'nowhere'}); Ctrl-C stops it")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        service.close()
