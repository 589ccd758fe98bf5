"""Shared pieces of the command line: the typer apps, the workspace option, error handling
and report printing. Command modules (one per stage) import ``app`` or ``ingest_app`` from
here and register their commands; they only parse arguments and call library functions.
"""

from __future__ import annotations

import errno
import functools
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..errors import DiscogsToolsError, disk_problem
from ..processes import Terminated, handle_sigterm
from ..report import Report
from ..workspace import ENV_VAR, Workspace

app = typer.Typer(
    name="discogs-tools",
    help="Build training data for music representation learning from Discogs dumps and playlists; "
    "train contrastive models on it and probe them.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"discogs-tools {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Build training data for music representation learning from Discogs dumps and playlists;
    train contrastive models on it and probe them."""


ingest_app = typer.Typer(help="Bring raw inputs into the workspace as Parquet tables.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", envvar=ENV_VAR,
                 help="Workspace folder holding all tables and outputs (default: ./workspace)."),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every random choice.")]
WorkersOption = Annotated[
    Optional[int],
    typer.Option("--workers", "-j", show_default=False,
                 help="Processes working in parallel (default: every core available to this process)."),
]


def workers_or_default(workers: Optional[int]) -> int:
    """``--workers`` as given, or every core this process may use (the vocabulary's one default)."""
    from ..cores import workers_or_all

    return workers_or_all(workers)


def workspace(path: Optional[Path]) -> Workspace:
    """Resolve the workspace from the option (or environment / default); a path that exists
    and is not a folder is a one-line error, not a traceback deep in a stage."""
    ws = Workspace.resolve(path)
    ws.check()
    return ws


def print_report(report: Report) -> None:
    """Print a stage report to stdout."""
    typer.echo(str(report))


# OS errors a user causes (full disk, read-only or wrong workspace, permissions): one line, exit 2.
_USER_OS_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
}


def os_error_line(exc: OSError) -> str | None:
    """One-line description of a user-caused OS error, or None for anything else (a bug)."""
    # Arrow raises OSError without an errno for disk problems: then the text tells.
    reason = _USER_OS_ERRORS.get(exc.errno or -1) or disk_problem(exc)
    if reason is None:
        return None
    where = exc.filename if getattr(exc, "filename", None) else None
    line = f"{where}: {reason}" if where else reason
    return line + "; nothing was replaced (the previous output, if any, is kept)"


def _duckdb_io_line(exc: Exception) -> str | None:
    """DuckDB and Arrow raise their own exception types for disk problems; recognise them by text."""
    reason = disk_problem(exc)
    if reason is None:
        return None
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{reason} ({type(exc).__name__}: {text[:200]}); nothing was replaced"


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-facing errors into one line on stderr and exit code 2 (no traceback).

    Also: SIGTERM unwinds like Ctrl-C (cleanup runs, exit 143), and disk problems
    (ENOSPC, read-only file system, a workspace that is a file) are one line, exit 2.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        handle_sigterm()
        try:
            return fn(*args, **kwargs)
        except DiscogsToolsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except Terminated:
            typer.echo("terminated; no partial output was kept", err=True)
            raise typer.Exit(code=143) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; no partial output was kept", err=True)
            raise typer.Exit(code=130) from None
        except OSError as exc:
            line = os_error_line(exc)
            if line is None:
                raise
            typer.echo(f"error: {line}", err=True)
            raise typer.Exit(code=2) from None
        except Exception as exc:  # DuckDB / Arrow wrap disk errors in their own types
            line = _duckdb_io_line(exc)
            if line is None:
                raise
            typer.echo(f"error: {line}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
