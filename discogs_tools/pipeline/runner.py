"""Run a pipeline: each stage's command in order, skipping those whose outputs are up to date.

A stage is up to date when all its declared outputs exist and its fingerprint (command line
plus size and modification time of every declared input file) equals the one stored after its
last successful run. Fingerprints are kept per command line for the whole workspace, in
``workspace/pipelines/stages.json``, so a stage that several pipelines share (the paper pipelines
share their data stages) runs once. Once a stage runs, every later stage runs too (its inputs may
have changed). ``force`` reruns everything. (``<name>.state.json`` files of older versions, keyed
by stage name, are still read.)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import DiscogsToolsError, InputError
from ..io import write_json_atomic
from ..report import Report
from .config import Pipeline, Stage


class StageFailed(DiscogsToolsError):
    """A pipeline stage exited with a non-zero status."""


def _input_fingerprint(path: str) -> list[tuple[str, int, int]]:
    p = Path(path)
    if p.is_file():
        st = p.stat()
        return [(str(p), st.st_size, st.st_mtime_ns)]
    if p.is_dir():
        out = []
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if f.startswith("."):
                    continue
                st = os.stat(os.path.join(root, f))
                out.append((os.path.join(root, f), st.st_size, st.st_mtime_ns))
        return out
    return [(str(p), -1, -1)]


def stage_fingerprint(stage: Stage, workspace: Path) -> str:
    """Hash of the stage's command line and the state of its declared inputs."""
    h = hashlib.sha256(json.dumps(stage.argv(workspace)).encode())
    for inp in stage.inputs:
        h.update(json.dumps(_input_fingerprint(inp)).encode())
    return h.hexdigest()


def _state_key(stage: Stage, workspace: Path) -> str:
    """A stage's identity across pipelines: its command line."""
    return json.dumps(stage.argv(workspace))


def _read_state(path: Path) -> dict[str, str]:
    """The recorded stage state; a damaged file is a one-line error (it decides what is skipped)."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"pipeline state is not valid JSON ({exc}); restore it, or delete it to "
                               "rerun every stage (stages are safe to rerun)") from None
    if not isinstance(state, dict):
        raise InputError(path, "pipeline state is not a JSON object; restore it, or delete it to rerun every stage")
    return state


def _invoke(argv: list[str]) -> int:
    """Run one discogs-tools command in this process; returns its exit code."""
    import typer
    import typer.main

    try:  # typer >= 0.16 vendors click as typer._click; older typer uses the click package
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover
        from click import ClickException  # type: ignore[no-redef]

    from ..cli import app

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="discogs-tools", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except typer.Abort:
        return 130
    return result if isinstance(result, int) else 0


def run_pipeline(pipeline: Pipeline, workspace: Path, *, force: bool = False, only: list[str] | None = None,
                 dry_run: bool = False, echo: Callable[[str], None] = print,
                 invoke: Callable[[list[str]], int] = _invoke) -> Report:
    """Execute the pipeline's stages in order; returns a report of what ran and what was skipped."""
    names = [s.name for s in pipeline.stages]
    for n in only or []:
        if n not in names:
            raise DiscogsToolsError(f"pipeline {pipeline.name}: no stage named {n!r} (stages: {', '.join(names)})")
    old_path = workspace / "pipelines" / f"{pipeline.name}.state.json"
    old_state = _read_state(old_path)
    state_path = workspace / "pipelines" / "stages.json"
    state = _read_state(state_path)
    report = Report(stage=f"run {pipeline.name}")
    ran = skipped = 0
    upstream_ran = False
    for stage in pipeline.stages:
        if only and stage.name not in only:
            continue
        fp = stage_fingerprint(stage, workspace)
        outputs_exist = all(Path(o).exists() for o in stage.outputs)
        key = _state_key(stage, workspace)
        done = state.get(key) == fp or old_state.get(stage.name) == fp
        up_to_date = not force and not upstream_ran and bool(stage.outputs) and outputs_exist and done
        cmdline = "discogs-tools " + " ".join(stage.argv(workspace))
        if up_to_date:
            echo(f"[{pipeline.name}] {stage.name}: up to date, skipped")
            skipped += 1
            report.details.append({"stage": stage.name, "status": "skipped"})
            continue
        echo(f"[{pipeline.name}] {stage.name}: {cmdline}")
        if dry_run:
            report.details.append({"stage": stage.name, "status": "would run", "command": cmdline})
            continue
        start = time.perf_counter()
        code = invoke(stage.argv(workspace))
        seconds = time.perf_counter() - start
        if code != 0:
            raise StageFailed(f"pipeline {pipeline.name}: stage {stage.name} failed with exit code {code} "
                              f"(command: {cmdline})")
        missing = [o for o in stage.outputs if not Path(o).exists()]
        if missing:
            raise StageFailed(f"pipeline {pipeline.name}: stage {stage.name} did not produce {missing}")
        state = _read_state(state_path)  # another pipeline may have recorded stages meanwhile
        state[key] = stage_fingerprint(stage, workspace)
        write_json_atomic(state_path, state)
        upstream_ran = True
        ran += 1
        report.details.append({"stage": stage.name, "status": "ran", "seconds": round(seconds, 2)})
    report.counts.update(stages_run=ran, stages_skipped=skipped)
    return report
