"""Every shipped pipeline (pipelines/*.toml) still matches the command line it drives.

Commands and options drift: a renamed option or a flag without a ``--no-`` form would only
fail hours into a real run. Here each stage's command line is resolved against the real click
command tree (the one ``discogs-tools`` runs) and parsed by that command's own parser, which
rejects unknown options, bad values and missing required arguments, without running anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from discogs_tools.cli import app
from discogs_tools.pipeline import load_pipeline, run_pipeline
from discogs_tools.resources import resource_dir

PIPELINE_FILES = sorted(resource_dir("pipelines").glob("*.toml"))
PAPER_PIPELINES = {"ismir2022_associations", "icassp2023_playlists", "discogs20"}


def _commands() -> dict[str, object]:
    """'ingest discogs' -> click command, for every leaf command of the CLI."""
    found: dict[str, object] = {}

    def walk(cmd, path):
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, path + [name])
        else:
            found[" ".join(path)] = cmd

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def _option_names(cmd) -> dict[str, object]:
    names = {}
    for param in cmd.params:
        if param.param_type_name == "option":
            for opt in [*param.opts, *param.secondary_opts]:
                names[opt] = param
    return names


@pytest.fixture(params=PIPELINE_FILES, ids=[p.stem for p in PIPELINE_FILES])
def pipeline(request, tmp_path):
    return load_pipeline(request.param, tmp_path / "ws")


def test_paper_pipelines_are_shipped():
    assert PAPER_PIPELINES <= {p.stem for p in PIPELINE_FILES}


def test_pipeline_metadata(pipeline):
    assert pipeline.name == pipeline.path.stem, "the runner keys its state on the name: keep it equal to the file name"
    assert pipeline.description
    assert len({s.name for s in pipeline.stages}) == len(pipeline.stages)


def test_every_stage_resolves_to_a_command_and_its_options(pipeline, tmp_path):
    ws = tmp_path / "ws"
    for stage in pipeline.stages:
        where = f"{pipeline.path.name} stage {stage.name!r}"
        assert stage.command in COMMANDS, f"{where}: no command `discogs-tools {stage.command}`"
        cmd = COMMANDS[stage.command]
        options = _option_names(cmd)
        for key, value in stage.options:
            flag = "--" + key.replace("_", "-")
            assert flag in options, f"{where}: `{stage.command}` has no option {flag}"
            param = options[flag]
            if isinstance(value, bool):
                assert param.is_flag, f"{where}: {flag} is not a flag, give it a value"
                if not value:
                    assert "--no-" + key.replace("_", "-") in param.secondary_opts, \
                        f"{where}: {flag} has no --no- form; leave the option out instead of setting false"
            else:
                assert not param.is_flag, f"{where}: {flag} is a flag; give true or false"
            if isinstance(value, list) and len(value) > 1:
                assert param.multiple, f"{where}: {flag} takes one value, not a list"
        if stage.workspace_option:
            assert "--workspace" in options, f"{where}: `{stage.command}` takes no --workspace (set workspace_option = false)"
        # The command's own parser: unknown options, bad values, missing required arguments.
        argv = stage.argv(ws)[len(stage.command.split()):]
        ctx = cmd.make_context(stage.command, argv)
        ctx.close()


@pytest.mark.parametrize("name", sorted(PAPER_PIPELINES))
def test_stage_inputs_in_the_workspace_come_from_earlier_stages(name, tmp_path):
    """A stage reading a workspace path must come after the stage that writes it (so the runner's
    up-to-date check sees every dependency)."""
    pipeline = load_pipeline(resource_dir("pipelines") / f"{name}.toml", tmp_path / "ws")
    ws = str(tmp_path / "ws")
    produced: list[str] = []
    for stage in pipeline.stages:
        for inp in stage.inputs:
            if inp.startswith(ws + "/"):
                assert any(inp == out or inp.startswith(out + "/") or out.startswith(inp + "/") for out in produced), \
                    f"{pipeline.path.name} stage {stage.name!r}: input {inp} is not written by an earlier stage"
        produced += stage.outputs
    assert all(stage.outputs for stage in pipeline.stages), "a stage without outputs can never be skipped"


def test_dry_run_lists_every_stage(pipeline, tmp_path):
    lines: list[str] = []
    report = run_pipeline(pipeline, tmp_path / "ws", dry_run=True, echo=lines.append,
                          invoke=lambda argv: pytest.fail(f"dry run invoked {argv}"))
    assert [d["stage"] for d in report.details] == [s.name for s in pipeline.stages]
    assert all(d["status"] == "would run" for d in report.details)


def test_a_broken_stage_is_caught(tmp_path):
    """The checks above fail on drift: an unknown option and a false flag without --no- form."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[pipeline]\nname = "bad"\n[[stage]]\nname = "a"\ncommand = "ingest discogs"\n'
                   'args = ["x"]\noptions = { strict = false, colour = "red" }\noutputs = ["y"]\n')
    stage = load_pipeline(bad, tmp_path / "ws").stages[0]
    cmd = COMMANDS[stage.command]
    options = _option_names(cmd)
    assert "--colour" not in options
    assert "--no-strict" not in options[("--strict")].secondary_opts
    with pytest.raises(Exception) as info:  # click's UsageError (vendored in typer >= 0.16)
        cmd.make_context(stage.command, stage.argv(tmp_path / "ws")[2:])
    assert "no such option" in str(info.value).lower()


def test_variables_can_be_overridden(tmp_path):
    path = resource_dir("pipelines") / "ismir2022_associations.toml"
    pipe = load_pipeline(path, tmp_path / "ws", {"discogs_dumps": "/dumps", "backbone": "small_cnn"})
    stages = {s.name: s for s in pipe.stages}
    assert stages["ingest-discogs"].args == ("/dumps",)
    assert ("backbone", "small_cnn") in stages["train-artist"].options
