"""`discogs-tools warehouse` and `discogs-tools sql`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import WorkspaceOption, app, handle_errors, print_report, stdout_is_terminal, workspace


def _echo_err(line: str) -> None:
    typer.echo(line, err=True)


@app.command("warehouse")
@handle_errors
def warehouse_command(workspace_dir: WorkspaceOption = None) -> None:
    """(Re)create workspace/warehouse.duckdb: a view per Parquet table, then the flat SQL views."""
    from ..warehouse import build

    ws = workspace(workspace_dir)
    report = build.run(ws)
    tables = [d for d in report.details if d["kind"] == "table"]
    views = [d for d in report.details if d["kind"] == "view"]
    width = max((len(d["view"]) for d in report.details), default=0)
    typer.echo("tables:")
    for d in tables:
        typer.echo(f"  {d['view']:<{width}}  <- {d['source']} ({d['files']} file{'s' if d['files'] != 1 else ''})")
    for status in ("created", "skipped", "failed"):
        chosen = [d for d in views if d["status"] == status]
        if chosen:
            typer.echo(f"views {status}:")
            for d in chosen:
                typer.echo(f"  {d['view']:<{width}}  {d['note']}".rstrip())
    print_report(report)


@app.command("sql")
@handle_errors
def sql_command(
    query: Annotated[Optional[str], typer.Argument(help="SQL to run, e.g. \"SELECT * FROM release_styles LIMIT 5\".")] = None,
    file: Annotated[Optional[str], typer.Option(
        "--file", "-f", help="Run the SQL in this file, or a ready query of sql/queries/ by name "
        "(e.g. styles_by_release_count).")] = None,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help="table | csv | json | jsonl | parquet (default: table on a terminal, CSV in a pipe, "
        "or from the --output extension).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to this file "
                                                   "(atomically) instead of stdout.")] = None,
    limit: Annotated[Optional[int], typer.Option(
        help="Rows to write, in any format (0: all) (default: 50 rows shown by the table format, "
        "every row in the other formats).", show_default=False)] = None,
    list_queries: Annotated[bool, typer.Option("--list/--no-list", help="List the ready queries and exit.")] = False,
    allow_writes: Annotated[bool, typer.Option(
        "--allow-writes/--no-allow-writes", help="Let the SQL write files (COPY ... TO, EXPORT DATABASE, ATTACH) and install or "
        "load extensions; never inside the workspace's tables, datasets, features, runs, rejects, warehouse "
        "or manifest. Without it the SQL only reads (use --output to save a result).")] = False,
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Query the warehouse (built first when missing or out of date; opened read-only; the SQL
    cannot write files unless --allow-writes)."""
    from ..warehouse import query as q

    if list_queries:
        for path in q.ready_queries():
            typer.echo(f"{path.stem:<32} {q.query_summary(path)}")
        return
    ws = workspace(workspace_dir)
    report = q.run(ws, query, file=file, fmt=fmt, output=output, limit=limit,
                   terminal=stdout_is_terminal() if output is None else False, echo=_echo_err,
                   allow_writes=allow_writes)
    if output is not None:
        typer.echo(f"{report.counts.get('rows', 0):,} rows -> {output}", err=True)
