"""Every shipped pipeline (pipelines/*.toml) still matches the command line it drives, and the
paper pipelines' smoke versions run.

Commands and options drift: a renamed option or a flag without a ``--no-`` form would only
fail hours into a real run. Here each stage's command line (of the full and of the smoke version)
is resolved against the real click command tree (the one ``discogs-tools`` runs) and parsed by
that command's own parser, which rejects unknown options, bad values and missing required
arguments, without running anything.

The smoke versions (``discogs-tools run NAME --smoke``) run for real on the bundled demo data:
one pipeline per paper in the default suite (``SMOKE_DEFAULT``), all of them with
``DISCOGS_TOOLS_ALL_SMOKE=1``, in one workspace shared with the guide test (conftest ``smoke_run``),
so the data stages they share run once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.pipeline import load_pipeline, run_pipeline
from discogs_tools.resources import resource_dir

from conftest import FIRST_SMOKE, link_tree

PIPELINE_FILES = sorted(resource_dir("pipelines").glob("*.toml"))
# One pipeline per published model (docs/reproducing-papers.md).
PAPER_PIPELINES = {
    "ismir2022_track", "ismir2022_release", "ismir2022_artist", "ismir2022_label", "ismir2022_swa",
    "ismir2022_multitask", "ismir2022_styles",
    "icassp2023_co", "icassp2023_tco", "icassp2023_w2v", "icassp2023_ico", "icassp2023_simclr",
    "icassp2023_artist_co",
    "discogs20", "maest_discogs20",
}
# The smoke runs of the default suite, one per paper: the multi-task pipeline also trains the
# artist model it starts from; icassp2023_co trains both backbones with the SimCLR objective.
SMOKE_DEFAULT = ("ismir2022_multitask", "icassp2023_co", "discogs20", "maest_discogs20")
ALL_SMOKE = os.environ.get("DISCOGS_TOOLS_ALL_SMOKE") == "1"


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


SMOKE_FILES = [p for p in PIPELINE_FILES if p.stem in PAPER_PIPELINES]
VERSIONS = [(p, False) for p in PIPELINE_FILES] + [(p, True) for p in SMOKE_FILES]


@pytest.fixture(params=VERSIONS, ids=[p.stem + ("-smoke" if smoke else "") for p, smoke in VERSIONS])
def pipeline(request, tmp_path):
    path, smoke = request.param
    return load_pipeline(path, tmp_path / "ws", smoke=smoke)


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


@pytest.mark.parametrize("smoke", [False, True], ids=["full", "smoke"])
@pytest.mark.parametrize("name", sorted(PAPER_PIPELINES))
def test_stage_inputs_in_the_workspace_come_from_earlier_stages(name, smoke, tmp_path):
    """A stage reading a workspace path must come after the stage that writes it (so the runner's
    up-to-date check sees every dependency)."""
    pipeline = load_pipeline(resource_dir("pipelines") / f"{name}.toml", tmp_path / "ws", smoke=smoke)
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
    """The checks above fail on drift: an unknown option (a false boolean works: every boolean
    has its --no- form, docs/cli-vocabulary.md)."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[pipeline]\nname = "bad"\n[[stage]]\nname = "a"\ncommand = "ingest discogs"\n'
                   'args = ["x"]\noptions = { strict = false, colour = "red" }\noutputs = ["y"]\n')
    stage = load_pipeline(bad, tmp_path / "ws").stages[0]
    cmd = COMMANDS[stage.command]
    options = _option_names(cmd)
    assert "--colour" not in options
    assert "--no-strict" in options[("--strict")].secondary_opts
    with pytest.raises(Exception) as info:  # click's UsageError (vendored in typer >= 0.16)
        cmd.make_context(stage.command, stage.argv(tmp_path / "ws")[2:])
    assert "no such option" in str(info.value).lower()


def test_variables_can_be_overridden(tmp_path):
    path = resource_dir("pipelines") / "ismir2022_artist.toml"
    pipe = load_pipeline(path, tmp_path / "ws", {"discogs_dumps": "/dumps", "dataset": "mine"})
    stages = {s.name: s for s in pipe.stages}
    assert stages["ingest-discogs"].args == ("/dumps",)
    assert ("run", "mine-artist") in stages["train-artist"].options


def test_paper_pipelines_share_their_data_stages(tmp_path):
    """The pipelines of one paper write the same dataset and features with the same commands, so
    in one workspace those stages run once (the runner keys its state on the command line)."""
    ws = tmp_path / "ws"
    for prefix in ("ismir2022_", "icassp2023_"):
        names = sorted(n for n in PAPER_PIPELINES if n.startswith(prefix))
        shared = None
        for name in names:
            stages = {s.name: s.argv(ws) for s in load_pipeline(name, ws).stages}
            data = {k: stages[k] for k in ("ingest-discogs", "match-discogs", "build-dataset", "features")}
            assert shared is None or data == shared, f"{name}: its data stages differ from {names[0]}'s"
            shared = data


def test_smoke_runs_apart_from_the_workspace(tmp_path):
    """--smoke works in <workspace>/smoke/: the demo's sample data never replaces real tables."""
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["run", "discogs20", "--smoke", "--dry-run", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert f"--workspace {ws / 'smoke'}" in result.output and "demo-data" in result.output
    assert f"--workspace {ws} " not in result.output


# The shared smoke workspace (conftest ``smoke_run``) starts with FIRST_SMOKE's run; the others follow in
# this order, each skipping the stages an earlier one ran with the same command line and inputs. The
# ICASSP pipelines ingest the playlists before the collection, so they rerun the collection and matching
# (new files, so every later stage of a pipeline reading them reruns too): they come after the others.
SMOKE_ORDER = [FIRST_SMOKE, "discogs20", "maest_discogs20", "icassp2023_co"] + sorted(
    PAPER_PIPELINES - {FIRST_SMOKE, "discogs20", "maest_discogs20", "icassp2023_co"})


@pytest.mark.slow
@pytest.mark.parametrize("name", SMOKE_ORDER)
def test_smoke_version_runs(name, smoke_run, one_torch_thread):
    """Every stage of the pipeline, for real, on the bundled demo data at tiny scale. The smoke runs
    share one workspace: a stage that an earlier smoke run ran with the same command line and inputs
    is skipped (the runner's rule), every other stage runs here."""
    if name not in SMOKE_DEFAULT and not ALL_SMOKE:
        pytest.skip("one smoke pipeline per paper by default; DISCOGS_TOOLS_ALL_SMOKE=1 runs them all")
    ws, output, _ = smoke_run
    if name != FIRST_SMOKE:
        result = CliRunner().invoke(app, ["run", name, "--smoke", "--workspace", str(ws)])
        assert result.exit_code == 0, result.output
        output = result.output
    pipe = load_pipeline(name, ws / "smoke", smoke=True)
    for stage in pipe.stages:
        assert f"[{name}] {stage.name}: " in output, f"{name} smoke: stage {stage.name} neither ran nor was skipped"
        for out in stage.outputs:
            assert Path(out).exists(), f"{name} smoke: stage {stage.name} left no {out}"
    trained = [s for s in pipe.stages if s.command == "train"]
    assert trained
    for stage in trained:
        assert f"[{name}] {stage.name}: up to date" not in output, f"{name} smoke: {stage.name} did not train here"
        run = dict(stage.options)["run"]
        assert (ws / "smoke" / "runs" / run / "metrics.jsonl").exists()
    assert not (ws / "tables").exists(), "smoke wrote into the workspace itself"


@pytest.mark.slow
def test_the_guides_smoke_run_finds_every_stage_done_in_a_copy_of_the_first_smoke_run(smoke_run, tmp_path):
    """The guide test starts ws/smoke from the first smoke run (conftest ``smoke_run``): ismir2022_artist's
    stages are all among ismir2022_multitask's, so the guide's `run ismir2022_artist --smoke` runs nothing."""
    _, _, first = smoke_run
    ws = tmp_path / "ws"
    link_tree(first, ws / "smoke")
    result = CliRunner().invoke(app, ["run", "ismir2022_artist", "--smoke", "--dry-run", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    stages = load_pipeline("ismir2022_artist", ws / "smoke", smoke=True).stages
    assert result.output.count("up to date, skipped") == len(stages), result.output
