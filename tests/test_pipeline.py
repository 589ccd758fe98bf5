"""Pipeline files and the runner's up-to-date logic (stages invoked through a recording stub
command runner, so this tests the runner alone; the real steps: tests/test_pipeline_steps.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from discogs_tools.errors import ConfigError, InputError
from discogs_tools.pipeline import load_pipeline, run_pipeline
from discogs_tools.pipeline.runner import StageFailed

PIPE = """
[pipeline]
name = "toy"
[vars]
src = "{pipeline_dir}/in.txt"
[[stage]]
name = "first"
command = "copy"
args = ["{src}"]
options = { fast = true, slow = false, n = 3, tag = ["a", "b"] }
inputs = ["{src}"]
outputs = ["{workspace}/out1"]
[[stage]]
name = "second"
command = "copy again"
inputs = ["{workspace}/out1"]
outputs = ["{workspace}/out2"]
"""


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in.txt").write_text("x")
    path = tmp_path / "toy.toml"
    path.write_text(PIPE)
    return path, tmp_path / "ws"


def fake_invoker(ws: Path, calls: list[list[str]]):
    def invoke(argv: list[str]) -> int:
        calls.append(argv)
        out = "out1" if argv[0] == "copy" and argv[1] != "again" else "out2"
        (ws / out).write_text("done")
        return 0
    return invoke


def test_argv_from_options(toy):
    path, ws = toy
    pipe = load_pipeline(path, ws)
    assert pipe.stages[0].argv(ws) == [
        "copy", str(path.parent.resolve() / "in.txt"), "--fast", "--no-slow", "--n", "3",
        "--tag", "a", "--tag", "b", "--workspace", str(ws)]


def test_skips_up_to_date_and_reruns_after_input_change(toy):
    path, ws = toy
    ws.mkdir()
    calls: list[list[str]] = []
    pipe = load_pipeline(path, ws)
    rep = run_pipeline(pipe, ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    assert rep.counts == {"stages_run": 2, "stages_skipped": 0}
    rep = run_pipeline(pipe, ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    assert rep.counts == {"stages_run": 0, "stages_skipped": 2} and len(calls) == 2
    # Changing the first stage's input reruns it and everything after it.
    (path.parent / "in.txt").write_text("changed")
    rep = run_pipeline(pipe, ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    assert rep.counts == {"stages_run": 2, "stages_skipped": 0}
    # A missing output reruns only from that stage.
    (ws / "out2").unlink()
    rep = run_pipeline(pipe, ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    assert [d["status"] for d in rep.details] == ["skipped", "ran"]


def test_failing_stage_stops_the_run(toy):
    path, ws = toy
    pipe = load_pipeline(path, ws)
    with pytest.raises(StageFailed, match="stage first failed with exit code 2"):
        run_pipeline(pipe, ws, invoke=lambda argv: 2, echo=lambda s: None)


def test_bad_pipeline_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[stage]]\nname = 'a'\ncommand = 'x'\nargs = ['{nope}']\n")
    with pytest.raises(ConfigError, match="unknown variable"):
        load_pipeline(bad, tmp_path)
    bad.write_text("[[stage]\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_pipeline(bad, tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline("no-such-pipeline", tmp_path)


SMOKE = PIPE + """
[smoke]
vars = { src = "{pipeline_dir}/tiny.txt" }
options = { first = { n = 1 }, "copy again" = { quick = true } }
[[smoke.stage]]
name = "make-tiny"
command = "make tiny"
before = "first"
outputs = ["{workspace}/tiny-made"]
"""


def test_smoke_applies_vars_options_and_extra_stages(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(SMOKE)
    ws = tmp_path / "ws"
    plain = load_pipeline(path, ws)
    assert [s.name for s in plain.stages] == ["first", "second"]
    pipe = load_pipeline(path, ws, smoke=True)
    assert [s.name for s in pipe.stages] == ["make-tiny", "first", "second"]
    first, second = pipe.stages[1], pipe.stages[2]
    assert first.args == (str(tmp_path.resolve() / "tiny.txt"),)
    assert dict(first.options)["n"] == 1 and dict(first.options)["fast"] is True
    assert dict(second.options) == {"quick": True}  # keyed by command
    # --var still wins over the smoke table.
    pipe = load_pipeline(path, ws, {"src": "/given"}, smoke=True)
    assert pipe.stages[1].args == ("/given",)


def test_smoke_table_errors(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(PIPE)
    with pytest.raises(ConfigError, match="no \\[smoke\\] table"):
        load_pipeline(path, tmp_path / "ws", smoke=True)
    path.write_text(PIPE + "[smoke]\noptions = { third = { n = 1 } }\n")
    with pytest.raises(InputError, match="'third' is neither a stage nor a command"):
        load_pipeline(path, tmp_path / "ws", smoke=True)
    path.write_text(PIPE + "[smoke]\n[[smoke.stage]]\nname = 'x'\ncommand = 'y'\nbefore = 'nope'\n")
    with pytest.raises(InputError, match="before 'nope': no such stage"):
        load_pipeline(path, tmp_path / "ws", smoke=True)
    path.write_text(PIPE + "[smoke]\ncolour = 1\n")
    with pytest.raises(InputError, match="unknown keys \\['colour'\\] in \\[smoke\\]"):
        load_pipeline(path, tmp_path / "ws", smoke=True)


def test_a_stage_done_by_another_pipeline_is_skipped(toy):
    """Two pipelines that share a stage (same command line, same inputs) in one workspace run it
    once: the paper pipelines share their data stages."""
    path, ws = toy
    ws.mkdir()
    other = path.parent / "other.toml"
    other.write_text(PIPE.replace('name = "toy"', 'name = "other"').replace('"second"', '"third"'))
    calls: list[list[str]] = []
    run_pipeline(load_pipeline(path, ws), ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    rep = run_pipeline(load_pipeline(other, ws), ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    assert [d["status"] for d in rep.details] == ["skipped", "skipped"] and len(calls) == 2


def test_a_stage_with_an_option_its_command_lacks_fails_in_one_line(tmp_path):
    """The real steps: the command line's rules reject the option before anything runs, in one
    line naming the stage and the option (tests/test_pipeline_steps.py has every rule)."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[pipeline]\nname = "bad"\n[[stage]]\nname = "a"\ncommand = "ingest discogs"\nargs = ["x"]\n'
                   'options = { colour = "red" }\noutputs = ["y"]\n')
    with pytest.raises(ConfigError, match="pipeline bad, stage a: `ingest discogs` has no option --colour"):
        run_pipeline(load_pipeline(bad, tmp_path / "ws"), tmp_path / "ws", echo=lambda s: None)


def test_a_stage_whose_output_another_command_rewrote_runs_again(toy):
    """Two pipelines in one workspace write the same output with different command lines: the
    first one's stage is not up to date after the second one rewrote its output."""
    path, ws = toy
    ws.mkdir()
    other = path.parent / "other.toml"
    other.write_text(PIPE.replace('name = "toy"', 'name = "other"').replace("n = 3", "n = 4"))
    calls: list[list[str]] = []
    run_pipeline(load_pipeline(path, ws), ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    run_pipeline(load_pipeline(other, ws), ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    assert len(calls) == 4  # other's first stage differs (n = 4), so it and the one after it ran
    rep = run_pipeline(load_pipeline(path, ws), ws, dry_run=True, echo=lambda s: None)
    first = rep.details[0]
    assert first["status"] == "would run" and "last written by" in first["why"] and "--n 4" in first["why"]
    run_pipeline(load_pipeline(path, ws), ws, invoke=fake_invoker(ws, calls), echo=lambda s: None)
    rep = run_pipeline(load_pipeline(path, ws), ws, dry_run=True, echo=lambda s: None)
    assert [d["status"] for d in rep.details] == ["skipped", "skipped"]
