"""Pipeline stages run their command's library function (discogs_tools.pipeline.steps), not the
command line layer: each step's parameters are held against its CLI command here, the command
line's option rules are applied to the TOML values, and running a pipeline never imports
discogs_tools.cli (the import cycle pipeline -> cli -> demo -> pipeline is gone)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer.main

from discogs_tools.errors import ConfigError
from discogs_tools.pipeline import load_pipeline, run_pipeline
from discogs_tools.pipeline.options import bind, is_flag, is_multiple
from discogs_tools.pipeline.runner import StageFailed
from discogs_tools.pipeline.steps import STEPS


def _cli_commands() -> dict[str, object]:
    from discogs_tools.cli import app

    found: dict[str, object] = {}

    def walk(cmd, path):
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, path + [name])
        if not getattr(cmd, "commands", None):
            found[" ".join(path)] = cmd

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("command", sorted(STEPS))
def test_each_step_takes_its_commands_arguments_and_options(command):
    """Same options (named after the long option), same defaults, same flags (true/false), same
    repeatable options, same arguments: a stage is checked by the command line's own rules."""
    cli = _cli_commands()[command]
    step = STEPS[command]
    params = list(inspect.signature(step).parameters.values())[1:]
    hints = typing.get_type_hints(step)
    steps_options = {p.name: p for p in params if p.kind is p.KEYWORD_ONLY}
    steps_args = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    cli_options = {}
    for param in cli.params:
        if param.param_type_name != "option":
            continue
        long = next(o for o in param.opts if o.startswith("--"))[2:].replace("-", "_")
        if long != "workspace":
            cli_options[long] = param
    assert set(steps_options) == set(cli_options), f"{command}: options differ from the CLI's"
    for name, param in cli_options.items():
        mine = steps_options[name]
        assert (mine.default is mine.empty) == param.required, f"{command} --{name}: required differs"
        if not param.required:
            assert mine.default == param.default, f"{command} --{name}: default {mine.default!r} != {param.default!r}"
        assert is_flag(hints[name]) == bool(param.is_flag), f"{command} --{name}: flag differs"
        assert is_multiple(hints[name]) == param.multiple, f"{command} --{name}: repeatable differs"
    cli_args = [p for p in cli.params if p.param_type_name == "argument"]
    assert [p.name for p in steps_args] == [p.name for p in cli_args], f"{command}: arguments differ"
    for mine, theirs in zip(steps_args, cli_args):
        assert is_multiple(hints[mine.name]) == (theirs.nargs == -1), f"{command} {mine.name}: variadic differs"


def _bind(command, args=(), **options):
    return bind(STEPS[command], command, list(args), options, "pipeline p, stage s")


def test_options_are_converted_as_the_command_line_converts_them():
    _, kw = _bind("ingest discogs", ["x"], strict=False, workers="2", chunk_mb="1.5")
    assert kw == {"strict": False, "workers": 2, "chunk_mb": 1.5}  # false is --no-strict; text from a {var}
    args, kw = _bind("probe", ["task.csv"], model="run-a", baseline=False)
    assert args == [Path("task.csv")] and kw == {"model": ["run-a"], "baseline": False}
    _, kw = _bind("train", run="r", association=["track", "artist"], epochs="3")
    assert kw == {"run": "r", "association": ["track", "artist"], "epochs": 3}
    args, _ = _bind("ingest discogs", ["a.xml", "b.xml"])
    assert args == [[Path("a.xml"), Path("b.xml")]]


@pytest.mark.parametrize("command, args, options, message", [
    ("ingest discogs", ["x"], {"colour": "red"}, "stage s: `ingest discogs` has no option --colour"),
    ("ingest discogs", ["x"], {"strict": "no"}, "stage s: --strict is a flag: give true or false"),
    ("train", [], {"run": "r", "epochs": True}, "stage s: --epochs takes a value, not true"),
    ("train", [], {"run": "r", "epochs": "two"}, "stage s: --epochs takes a whole number, got 'two'"),
    ("train", [], {"run": "r", "epochs": 2.5}, "stage s: --epochs takes a whole number"),
    ("train", [], {"run": "r", "lr": [0.1, 0.2]}, "stage s: --lr takes one value, not a list of 2"),
    ("train", [], {}, "stage s: `train` needs --run"),
    ("ingest collection", [], {}, "stage s: `ingest collection` argument PATH is missing"),
    ("ingest collection", ["a", "b"], {}, "stage s: `ingest collection` takes 1 argument"),
])
def test_what_the_command_line_rejects_is_one_line_naming_stage_and_option(command, args, options, message):
    with pytest.raises(ConfigError) as info:
        _bind(command, args, **options)
    assert message in str(info.value) and "\n" not in str(info.value)


BAD = """
[pipeline]
name = "bad"
[[stage]]
name = "ingest"
command = "ingest discogs"
args = ["{samples}/discogs/xml2db_dotnet_single"]
outputs = ["{workspace}/tables/discogs/releases"]
[[stage]]
name = "dataset"
command = "build-dataset"
options = { name = "x", top_style = 3 }
outputs = ["{workspace}/datasets/x/tracks"]
"""


def test_a_bad_option_in_a_late_stage_fails_before_the_first_stage_runs(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    ws = tmp_path / "ws"
    with pytest.raises(ConfigError, match="pipeline bad, stage dataset: `build-dataset` has no option --top-style"):
        run_pipeline(load_pipeline(path, ws), ws, echo=lambda s: None)
    assert not (ws / "tables").exists()


def test_a_stages_own_error_names_the_stage(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD.replace("top_style = 3", "top_styles = 3").replace(
        '"{samples}/discogs/xml2db_dotnet_single"', '"{workspace}/no-such-dump.xml"'))
    ws = tmp_path / "ws"
    with pytest.raises(StageFailed) as info:
        run_pipeline(load_pipeline(path, ws), ws, echo=lambda s: None)
    assert str(info.value).startswith("pipeline bad, stage ingest: ") and "no-such-dump.xml" in str(info.value)


def test_the_cli_reports_a_bad_stage_option_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = CliRunner().invoke(app, ["run", str(path), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: pipeline bad, stage dataset: `build-dataset` has no option --top-style (its options: --name, "
        "--top-styles, --max-styles, --min-duration, --validation, --test, --min-releases, --seed)"]


RUNS_WITHOUT_CLI = """
import json, sys
from pathlib import Path
from discogs_tools.pipeline import load_pipeline, run_pipeline
ws = Path(sys.argv[2])
lines = []
report = run_pipeline(load_pipeline(sys.argv[1], ws), ws, echo=lines.append)
print(json.dumps({"counts": report.counts, "lines": lines,
                  "loaded": sorted(m for m in sys.modules if m.startswith(("discogs_tools.cli", "typer")))}))
"""


def test_a_pipeline_runs_its_stages_without_the_command_line_layer(tmp_path):
    """In a fresh interpreter: a real pipeline (ingest with `strict = false`, then the warehouse)
    runs, and neither discogs_tools.cli nor typer was ever imported."""
    path = tmp_path / "two.toml"
    path.write_text('[pipeline]\nname = "two"\n[[stage]]\nname = "ingest"\ncommand = "ingest discogs"\n'
                    'args = ["{samples}/discogs/xml2db_dotnet_single"]\noptions = { strict = false, workers = 0 }\n'
                    'outputs = ["{workspace}/tables/discogs/releases"]\n'
                    '[[stage]]\nname = "warehouse"\ncommand = "warehouse"\noutputs = ["{workspace}/warehouse.duckdb"]\n')
    ws = tmp_path / "ws"
    done = subprocess.run([sys.executable, "-c", RUNS_WITHOUT_CLI, str(path), str(ws)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["counts"] == {"stages_run": 2, "stages_skipped": 0}
    assert out["loaded"] == []
    assert any("stage: ingest discogs" in line or "ingest" in line for line in out["lines"][1:])
    assert (ws / "tables" / "discogs" / "releases").exists() and (ws / "warehouse.duckdb").exists()
