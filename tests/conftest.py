"""Shared fixtures: paths of the bundled real Discogs samples, a fresh workspace per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

SAMPLES = sample_data_dir() / "discogs"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No progress bars in tests."""
    monkeypatch.setenv("DISCOGS_TOOLS_QUIET", "1")


@pytest.fixture
def samples() -> Path:
    """Folder of the bundled Discogs dump samples (four eras)."""
    return SAMPLES


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """An empty workspace in a temporary folder."""
    return Workspace(tmp_path / "workspace").ensure()


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test (stable timings on a shared machine; results do
    not depend on it); the previous setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    """The demo pipeline run once per test session (a few minutes): (workspace folder, its output).
    The demo test checks it; the guide test starts its sandbox from a copy of it, where the demo's
    relocatable pipeline state then finds every stage up to date."""
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    root = tmp_path_factory.mktemp("demo") / "ws"
    result = CliRunner().invoke(app, ["demo", "--workspace", str(root)])
    assert result.exit_code == 0, result.output
    return root, result.output


#: The smoke pipeline the session runs first (conftest ``smoke_run``): its stages include every stage of
#: ismir2022_artist (whose smoke run the guide shows), so later smoke runs in its workspace skip them.
FIRST_SMOKE = "ismir2022_multitask"


def link_tree(source: Path, target: Path) -> None:
    """Copy a folder as hard links where the file system allows (instant, no space: stages replace
    files by renaming, so a rerun in the copy never changes the original), else as plain copies."""
    import os
    import shutil

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, str, Path]:
    """``discogs-tools run ismir2022_multitask --smoke`` run once per session, with one torch thread:
    (workspace folder, output, a linked copy of its ``smoke/`` folder as this run left it). The smoke
    pipelines of tests/test_pipelines_shipped.py run in the same workspace afterwards, so the stages
    they share with it (same command line, same inputs) run once; the guide test starts its ``ws/smoke``
    from the copy, where the guide's ``run ismir2022_artist --smoke`` finds every stage up to date."""
    import torch
    from typer.testing import CliRunner

    from discogs_tools.cli import app

    root = tmp_path_factory.mktemp("smoke") / "ws"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(app, ["run", FIRST_SMOKE, "--smoke", "--workspace", str(root)])
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    first = root.parent / "after-first-smoke"
    link_tree(root / "smoke", first)
    return root, result.output, first
