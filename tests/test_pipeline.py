"""Pipeline files and the runner's up-to-date logic (stages invoked through a recording stub
command runner, so this tests the runner alone)."""

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
