"""`discogs-tools run PIPELINE` and `discogs-tools pipelines`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import WorkspaceOption, app, handle_errors, print_report, workspace


def _parse_vars(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"--var expects name=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


@app.command("run")
@handle_errors
def run_command(
    pipeline: Annotated[str, typer.Argument(help="A pipeline file, or the name of a shipped one (see `pipelines`).")],
    workspace_dir: WorkspaceOption = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="Override a variable: name=value.")] = None,
    force: Annotated[bool, typer.Option(help="Rerun every stage even if up to date.")] = False,
    only: Annotated[list[str] | None, typer.Option(help="Run only these stages (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print what would run.")] = False,
    smoke: Annotated[bool, typer.Option(
        "--smoke/--no-smoke", help="Every stage at tiny scale on the bundled demo data (the file's [smoke] table), "
                        "in <workspace>/smoke/ so it never touches the workspace's own data.")] = False,
) -> None:
    """Execute a declarative pipeline, skipping stages whose outputs are up to date."""
    from ..pipeline import load_pipeline, run_pipeline
    from ..workspace import Workspace

    ws = workspace(workspace_dir).ensure()
    if smoke:
        ws = Workspace(ws.root / "smoke").ensure()
    pipe = load_pipeline(pipeline, ws.root, _parse_vars(var or []), smoke=smoke)
    print_report(run_pipeline(pipe, ws.root, force=force, only=only, dry_run=dry_run, echo=typer.echo))


@app.command("pipelines")
@handle_errors
def list_pipelines() -> None:
    """List the shipped pipelines."""
    import tomllib

    from ..resources import resource_dir

    for path in sorted(resource_dir("pipelines").glob("*.toml")):
        spec = tomllib.loads(path.read_text())
        smoke = " [--smoke]" if "smoke" in spec else ""
        typer.echo(f"{path.stem:24s} {spec.get('pipeline', {}).get('description', '')}{smoke}")
