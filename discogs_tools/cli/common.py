"""Shared pieces of the command line: the typer apps, the workspace option, error handling
and report printing. Command modules (one per stage) import ``app`` or ``ingest_app`` from
here and register their commands; they only parse arguments and call library functions.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..errors import DiscogsToolsError
from ..report import Report
from ..workspace import ENV_VAR, Workspace

app = typer.Typer(
    name="discogs-tools",
    help="Build training data for music representation learning from Discogs dumps and playlists; "
    "train contrastive models on it and probe them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Bring raw inputs into the workspace as Parquet tables.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", envvar=ENV_VAR,
                 help="Workspace folder holding all tables and outputs [default: ./workspace]."),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every random choice.")]


def workspace(path: Optional[Path]) -> Workspace:
    """Resolve the workspace from the option (or environment / default)."""
    return Workspace.resolve(path)


def print_report(report: Report) -> None:
    """Print a stage report to stdout."""
    typer.echo(str(report))


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-facing errors into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DiscogsToolsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; no partial output was kept", err=True)
            raise typer.Exit(code=130) from None

    return wrapper


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
