"""Run a pipeline: each stage's command in order, skipping those whose outputs are up to date.

A stage runs in this process as the library function its command calls (:mod:`.steps`), with its
arguments and options checked by the command line's rules first (:mod:`.options`): every stage to
run is checked before the first one starts, so a mistyped option in the last stage fails at once,
in one line naming the stage and the option. The pipeline does not go through the CLI layer.

A stage is up to date when all its declared outputs exist and a run of the same command line is
recorded with the same inputs: every declared input file has the size it had then, and either the
same modification time or the same content fingerprint (so a copy made with new modification
times is still up to date). State lives in ``workspace/pipelines/stages.json``, keyed by the
command line with the workspace and the bundled sample folder written as ``{workspace}`` and
``{samples}``, input paths likewise: a copied or moved workspace keeps it. A stage that several
pipelines share (the paper pipelines share their data stages) runs once. Once a stage runs,
every later stage runs too (its inputs may have changed), and so does a stage whose declared output
another command line (of another pipeline sharing the workspace) wrote since. ``force`` reruns
everything; a dry run lists every stage that would run and why. (Records of older versions, a fingerprint string per
absolute command line or per stage name in ``<name>.state.json``, are still read.)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DiscogsToolsError, InputError
from ..io import write_json_atomic
from ..report import Report
from .config import Pipeline, Stage

#: State entry mapping each declared output (portable path) to the command line that last wrote it:
#: a stage whose output another command line rewrote since is not up to date.
WRITERS_KEY = "outputs_written_by"

#: Files up to this size are hashed whole; larger ones by size plus three samples of this size.
WHOLE_HASH_BYTES = 16 << 20


class StageFailed(DiscogsToolsError):
    """A pipeline stage failed (a user error in the stage or its options), or did not write its outputs."""


def _input_fingerprint(path: str) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every file of an input (older state format, still read)."""
    p = Path(path)
    if p.is_file():
        st = p.stat()
        return [(str(p), st.st_size, st.st_mtime_ns)]
    if p.is_dir():
        return [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _files(p)]
    return [(str(p), -1, -1)]


def _files(folder: Path) -> list[Path]:
    """Every visible file under ``folder``, in a stable order."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return out


def stage_fingerprint(stage: Stage, workspace: Path) -> str:
    """Hash of the stage's command line and the state of its declared inputs (older format)."""
    h = hashlib.sha256(json.dumps(stage.argv(workspace)).encode())
    for inp in stage.inputs:
        h.update(json.dumps(_input_fingerprint(inp)).encode())
    return h.hexdigest()


def content_fingerprint(path: Path) -> str:
    """SHA-256 of a file's content: the whole file up to :data:`WHOLE_HASH_BYTES`, else its size
    plus its first, middle and last :data:`WHOLE_HASH_BYTES` (a fingerprint, not a checksum:
    cheap on multi-GB dumps, and a change in size is caught anyway)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size <= WHOLE_HASH_BYTES:
            while block := fh.read(1 << 20):
                h.update(block)
            return h.hexdigest()
        h.update(str(size).encode())
        for offset in (0, size // 2, size - WHOLE_HASH_BYTES):
            fh.seek(offset)
            h.update(fh.read(WHOLE_HASH_BYTES))
    return "sampled:" + h.hexdigest()


class _Places:
    """Writes paths of one workspace as ``{workspace}/...`` and bundled samples as ``{samples}/...``."""

    def __init__(self, workspace: Path) -> None:
        from ..resources import sample_data_dir

        self.roots = [(str(workspace), "{workspace}"), (str(Path(workspace).resolve()), "{workspace}"),
                      (str(sample_data_dir()), "{samples}")]

    def portable(self, text: str) -> str:
        for root, name in self.roots:
            if text == root or text.startswith(root.rstrip("/") + "/"):
                return name + text[len(root.rstrip("/")):]
        return text


def state_key(stage: Stage, workspace: Path) -> str:
    """A stage's identity across pipelines and copies of the workspace: its portable command line."""
    places = _Places(workspace)
    return json.dumps([places.portable(a) for a in stage.argv(workspace)])


def _legacy_key(stage: Stage, workspace: Path) -> str:
    return json.dumps(stage.argv(workspace))


def input_files(stage: Stage, workspace: Path) -> dict[str, tuple[Path, int, int]]:
    """Portable path -> (path, size, mtime) of every file of the stage's declared inputs
    (size -1 for an input that does not exist)."""
    places = _Places(workspace)
    out: dict[str, tuple[Path, int, int]] = {}
    for inp in stage.inputs:
        p = Path(inp)
        files = [p] if p.is_file() else _files(p) if p.is_dir() else []
        if not files:
            out[places.portable(str(p))] = (p, -1, -1)
        for f in files:
            st = f.stat()
            out[places.portable(str(f))] = (f, st.st_size, st.st_mtime_ns)
    return out


def record_inputs(stage: Stage, workspace: Path) -> dict[str, list[Any]]:
    """What the state keeps of a stage's inputs after it ran: [size, mtime, content fingerprint]."""
    return {key: [size, mtime, content_fingerprint(path) if size >= 0 else None]
            for key, (path, size, mtime) in input_files(stage, workspace).items()}


def inputs_changed(stage: Stage, workspace: Path, recorded: dict[str, list[Any]]) -> list[str]:
    """Portable paths of the inputs that differ from ``recorded`` (new, gone, or other content)."""
    now = input_files(stage, workspace)
    changed = sorted(set(recorded) ^ set(now))
    for key in sorted(set(recorded) & set(now)):
        size, mtime, digest = recorded[key]
        path, size_now, mtime_now = now[key]
        if size != size_now:
            changed.append(key)
        elif size_now >= 0 and mtime != mtime_now and digest != content_fingerprint(path):
            changed.append(key)
    return changed


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


def check_stages(pipeline: Pipeline, stages: list[Stage]) -> None:
    """Check every stage's command, arguments and options against its step, running nothing."""
    from .options import bind
    from .steps import step_for

    for stage in stages:
        where = f"pipeline {pipeline.name}, stage {stage.name}"
        bind(step_for(stage.command, where), stage.command, list(stage.args), dict(stage.options), where)


def run_stage(pipeline: Pipeline, stage: Stage, workspace: Path, echo: Callable[[str], None]) -> None:
    """Run one stage in this process: its command's library function (:mod:`.steps`), given the
    stage's arguments and options as the command line would parse them; its report is echoed.
    A user error (the stage's own, or a bad option) is one line naming the pipeline and stage."""
    from ..workspace import Workspace
    from .steps import call

    where = f"pipeline {pipeline.name}, stage {stage.name}"
    try:
        report = call(stage.command, Workspace(workspace), list(stage.args), dict(stage.options), where)
    except StageFailed:
        raise
    except DiscogsToolsError as exc:
        message = str(exc)
        raise StageFailed(message if message.startswith(where) else f"{where}: {message}") from exc
    echo(str(report))


def run_pipeline(pipeline: Pipeline, workspace: Path, *, force: bool = False, only: list[str] | None = None,
                 dry_run: bool = False, echo: Callable[[str], None] = print,
                 invoke: Callable[[list[str]], int] | None = None) -> Report:
    """Execute the pipeline's stages in order; returns a report of what ran (or, in a dry run,
    would run, with the reason in each detail's ``why``) and what was skipped.

    Each stage runs its command's library function (:func:`run_stage`); ``invoke``, given, runs a
    stage's command line instead and returns its exit code (tests stand in for the commands with it)."""
    names = [s.name for s in pipeline.stages]
    for n in only or []:
        if n not in names:
            raise DiscogsToolsError(f"pipeline {pipeline.name}: no stage named {n!r} (stages: {', '.join(names)})")
    if invoke is None and not dry_run:
        check_stages(pipeline, [s for s in pipeline.stages if not only or s.name in only])
    old_state = _read_state(workspace / "pipelines" / f"{pipeline.name}.state.json")
    state_path = workspace / "pipelines" / "stages.json"
    state = _read_state(state_path)
    report = Report(stage=f"run {pipeline.name}")
    ran = skipped = would_run = 0
    upstream: str | None = None  # the first stage that ran (or would run)
    places = _Places(workspace)
    for stage in pipeline.stages:
        if only and stage.name not in only:
            continue
        why = _why_run(stage, workspace, state, old_state, places, force=force, upstream=upstream)
        cmdline = "discogs-tools " + " ".join(stage.argv(workspace))
        if why is None:
            echo(f"[{pipeline.name}] {stage.name}: up to date, skipped")
            skipped += 1
            report.details.append({"stage": stage.name, "status": "skipped"})
            continue
        upstream = upstream or stage.name
        if dry_run:
            echo(f"[{pipeline.name}] {stage.name}: would run ({why}): {cmdline}")
            would_run += 1
            report.details.append({"stage": stage.name, "status": "would run", "why": why, "command": cmdline})
            continue
        echo(f"[{pipeline.name}] {stage.name}: {cmdline}")
        start = time.perf_counter()
        if invoke is None:
            run_stage(pipeline, stage, workspace, echo)
        else:
            code = invoke(stage.argv(workspace))
            if code != 0:
                raise StageFailed(f"pipeline {pipeline.name}: stage {stage.name} failed with exit code {code} "
                                  f"(command: {cmdline})")
        seconds = time.perf_counter() - start
        missing = [o for o in stage.outputs if not Path(o).exists()]
        if missing:
            raise StageFailed(f"pipeline {pipeline.name}: stage {stage.name} did not produce {missing}")
        state = _read_state(state_path)  # another pipeline may have recorded stages meanwhile
        key = state_key(stage, workspace)
        state[key] = {"inputs": record_inputs(stage, workspace)}
        writers = _writers(state)
        writers.update({places.portable(o): key for o in stage.outputs})
        state[WRITERS_KEY] = writers
        write_json_atomic(state_path, state)
        ran += 1
        report.details.append({"stage": stage.name, "status": "ran", "why": why, "seconds": seconds})
    report.counts.update(stages_run=ran, stages_skipped=skipped)
    if dry_run:
        report.counts["stages_would_run"] = would_run
    return report


def _writers(state: dict[str, Any]) -> dict[str, str]:
    """The state's record of which command line last wrote each output (empty if absent or damaged)."""
    writers = state.get(WRITERS_KEY)
    return dict(writers) if isinstance(writers, dict) else {}


def _why_run(stage: Stage, workspace: Path, state: dict[str, Any], old_state: dict[str, Any], places: _Places,
             *, force: bool, upstream: str | None) -> str | None:
    """Why the stage must run, or None when it is up to date."""
    if force:
        return "--force"
    if upstream is not None:
        return f"after {upstream}, whose outputs it may read"
    if not stage.outputs:
        return "declares no outputs, so it always runs"
    missing = [places.portable(o) for o in stage.outputs if not Path(o).exists()]
    if missing:
        return "output missing: " + ", ".join(missing)
    key = state_key(stage, workspace)
    writers = _writers(state)
    rewritten = [o for o in map(places.portable, stage.outputs) if writers.get(o, key) != key]
    if rewritten:
        try:
            other = "discogs-tools " + " ".join(json.loads(writers[rewritten[0]]))
        except (TypeError, ValueError):
            other = "a command line of another version"
        return f"output last written by another command line: {', '.join(rewritten)} (by {other})"
    recorded = state.get(key)
    if isinstance(recorded, dict):
        changed = inputs_changed(stage, workspace, recorded.get("inputs", {}))
        return ("input changed since its last run: " + ", ".join(changed)) if changed else None
    fp = stage_fingerprint(stage, workspace)  # older records: a fingerprint per absolute command line
    if state.get(_legacy_key(stage, workspace)) == fp or old_state.get(stage.name) == fp:
        return None
    if recorded is not None or _legacy_key(stage, workspace) in state or stage.name in old_state:
        return "input changed since its last run"
    return "no run of this command line is recorded in this workspace"
