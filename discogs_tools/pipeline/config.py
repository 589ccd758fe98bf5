"""Pipeline files: a TOML description of an end-to-end run as an ordered list of stages.

    [pipeline]
    name = "demo"
    description = "..."

    [vars]                       # substituted as {name} in every string below
    dataset = "demo"

    [[stage]]
    name = "ingest-discogs"      # unique within the pipeline
    command = "ingest discogs"   # a discogs-tools command
    args = ["{samples}/discogs/xml2db_20200806"]
    options = { workers = 2, strict = false }   # --workers 2 --no-strict
    inputs = ["{samples}/discogs/xml2db_20200806"]   # files/folders whose change reruns the stage
    outputs = ["{workspace}/tables/discogs/releases"]  # all must exist for the stage to be skipped

Built-in variables: ``{workspace}`` (the run's workspace), ``{samples}`` (bundled sample data),
``{pipeline_dir}`` (folder of the TOML file), ``{repo}`` (the pipelines' parent folder).
Variables given on the command line (``--var name=value``) override ``[vars]``.

A ``[smoke]`` table makes the same pipeline runnable at tiny scale on bundled data
(``discogs-tools run NAME --smoke``): the same stages and commands, with

    [smoke]
    vars = { audio = "{workspace}/demo_inputs/collection/manifest.csv" }   # over [vars]
    options = { train = { epochs = 2 }, "train-artist" = { batch_size = 8 } }
    [[smoke.stage]]              # stages added in smoke mode only, e.g. the demo's data generator
    name = "demo-data"
    command = "demo-data"
    before = "ingest-collection" # or after = "..."
    outputs = ["{workspace}/demo_inputs/collection/manifest.csv"]

``options`` is keyed by a stage name or a command (then it applies to every stage running that
command; a stage-name entry is applied after the command entry); its values replace the stage's.
``--var`` still overrides everything.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..resources import resource_dir

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Stage:
    """One step: a discogs-tools command with its arguments and declared inputs/outputs."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    workspace_option: bool = True

    def argv(self, workspace: Path) -> list[str]:
        """Command-line arguments equivalent to this stage (without the program name)."""
        argv = self.command.split() + list(self.args)
        for key, value in self.options:
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else "--no-" + key.replace("_", "-"))
            elif isinstance(value, list):
                for item in value:
                    argv += [flag, str(item)]
            else:
                argv += [flag, str(value)]
        if self.workspace_option:
            argv += ["--workspace", str(workspace)]
        return argv


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    path: Path
    stages: tuple[Stage, ...] = field(default_factory=tuple)


def pipeline_path(name_or_path: str | Path) -> Path:
    """A pipeline file from a path, or a shipped pipeline's name (e.g. ``demo``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = resource_dir("pipelines") / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(x.stem for x in resource_dir("pipelines").glob("*.toml"))
    raise ConfigError(f"pipeline {name_or_path!r} not found (a file path, or one of: {', '.join(names)})")


def _substitute(value: Any, variables: dict[str, str], where: str) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise ConfigError(f"{where}: unknown variable {{{m.group(1)}}}")
            return variables[m.group(1)]
        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [_substitute(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables, where) for k, v in value.items()}
    return value


_STAGE_KEYS = {"name", "command", "args", "options", "inputs", "outputs", "workspace_option"}
_SMOKE_KEYS = {"vars", "options", "stage"}


def _apply_smoke(spec: dict[str, Any], path: Path) -> dict[str, Any]:
    """The spec with its ``[smoke]`` table applied: extra stages placed, options and vars replaced."""
    smoke = spec.get("smoke")
    if not isinstance(smoke, dict):
        raise ConfigError(f"pipeline {path.stem}: no [smoke] table, so it has no smoke version "
                          "(see the format in discogs_tools/pipeline/config.py)")
    unknown = set(smoke) - _SMOKE_KEYS
    if unknown:
        raise InputError(path, f"unknown keys {sorted(unknown)} in [smoke] (valid: {', '.join(sorted(_SMOKE_KEYS))})")
    stages = [dict(st) for st in spec.get("stage", [])]
    for i, extra in enumerate(smoke.get("stage", [])):
        extra = dict(extra)
        where = [k for k in ("before", "after") if k in extra]
        if len(where) != 1:
            raise InputError(path, "every [[smoke.stage]] needs exactly one of before / after (a stage name)",
                             record=i + 1)
        target = extra.pop(where[0])
        names = [st.get("name") for st in stages]
        if target not in names:
            raise InputError(path, f"[[smoke.stage]] {extra.get('name')!r}: {where[0]} {target!r}: no such stage",
                             record=i + 1)
        stages.insert(names.index(target) + (where[0] == "after"), extra)
    names = {st.get("name") for st in stages}
    commands = {st.get("command") for st in stages}
    overrides = smoke.get("options", {})
    for key in overrides:
        if key not in names and key not in commands:
            raise InputError(path, f"[smoke] options: {key!r} is neither a stage nor a command of the pipeline")
    for st in stages:
        opts = dict(st.get("options", {}))
        opts.update(overrides.get(st.get("command"), {}))
        if st.get("name") != st.get("command"):
            opts.update(overrides.get(st.get("name"), {}))
        st["options"] = opts
    out = dict(spec)
    out["stage"] = stages
    out["vars"] = {**spec.get("vars", {}), **smoke.get("vars", {})}
    return out


def load_pipeline(name_or_path: str | Path, workspace: Path, overrides: dict[str, str] | None = None,
                  builtins: dict[str, str] | None = None, *, smoke: bool = False) -> Pipeline:
    """Parse and validate a pipeline file, substituting variables; ``smoke`` applies its [smoke] table."""
    path = pipeline_path(name_or_path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML: {exc}") from exc
    if smoke:
        spec = _apply_smoke(spec, path)
    from ..resources import sample_data_dir

    variables = {
        "workspace": str(workspace),
        "samples": str(sample_data_dir()),
        "pipeline_dir": str(path.parent.resolve()),
        "repo": str(path.parent.resolve().parent),
        **(builtins or {}),
    }
    raw_vars = {k: str(v) for k, v in spec.get("vars", {}).items()}
    raw_vars.update(overrides or {})
    for k, v in raw_vars.items():
        variables[k] = _substitute(v, variables, f"{path} [vars] {k}")
    meta = spec.get("pipeline", {})
    stages = []
    seen = set()
    for i, st in enumerate(spec.get("stage", [])):
        where = f"{path} stage {i + 1}"
        if "name" not in st or "command" not in st:
            raise InputError(path, "every [[stage]] needs a name and a command", record=i + 1)
        if st["name"] in seen:
            raise InputError(path, f"duplicate stage name {st['name']!r}", record=i + 1)
        unknown = set(st) - _STAGE_KEYS
        if unknown:
            raise InputError(path, f"unknown keys {sorted(unknown)} in stage {st['name']!r}", record=i + 1)
        seen.add(st["name"])
        st = _substitute(st, variables, where)
        stages.append(Stage(
            name=st["name"], command=st["command"], args=tuple(str(a) for a in st.get("args", [])),
            options=tuple(st.get("options", {}).items()), inputs=tuple(st.get("inputs", [])),
            outputs=tuple(st.get("outputs", [])), workspace_option=bool(st.get("workspace_option", True)),
        ))
    if not stages:
        raise InputError(path, "pipeline has no [[stage]] entries")
    return Pipeline(name=meta.get("name", path.stem), description=meta.get("description", ""), path=path,
                    stages=tuple(stages))
