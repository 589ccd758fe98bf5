"""Shared fixtures: paths of the bundled real Discogs samples, a fresh workspace per test, the demo
and smoke runs built once per test run; and how `make test` spreads the suite over two processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

# OpenMP threads that wait for work sleep instead of spinning. Torch's intra-op threads spin by
# default; when every core is busy (the suite's two worker processes, or anyone else) a spinning
# thread takes the core from the thread it waits for. On this 2-core machine at load average ~3,
# 20 small_cnn training steps with 2 threads took 15 s spinning and 4.6-4.9 s sleeping (5-7 s with
# 1 thread), with bitwise the same weights. Set when pytest loads this file, before any test module
# imports torch, so the worker processes and the commands tests start inherit it; a value the
# caller set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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


def once_per_run(tmp_path_factory, name: str, build) -> tuple[Path, str]:
    """``build(folder)`` run once per test run: (folder, the text ``build`` returned).

    In one process this is a fresh temporary folder. Under pytest-xdist (``make test`` runs two
    worker processes) every worker that needs it asks: the first builds it in the run's shared
    temporary folder under a file lock, the others wait for that lock and reuse the folder and its
    text (the pattern pytest-xdist's documentation gives for session fixtures). A failed build is
    not retried by the next worker: it fails with the first one's message."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        return folder, build(folder)
    folder = tmp_path_factory.getbasetemp().parent / f"once-{name}"
    done, failed = folder.with_name(folder.name + ".output"), folder.with_name(folder.name + ".failed")
    with FileLock(f"{folder}.lock"):
        if failed.exists():
            pytest.fail(f"{name} failed in another worker: {failed.read_text()}")
        if not done.exists():
            folder.mkdir()
            try:
                text = build(folder)
            except BaseException as exc:
                failed.write_text(f"{type(exc).__name__}: {str(exc)[-3000:]}")
                raise
            done.write_text(text)
        return folder, done.read_text()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    """The demo pipeline run once per test run (a few minutes; once across xdist workers, see
    ``once_per_run``): (workspace folder, its output). The demo test checks it; the guide test starts
    its sandbox from a copy of it, where the demo's relocatable pipeline state then finds every stage
    up to date."""

    def build(folder: Path) -> str:
        from typer.testing import CliRunner

        from discogs_tools.cli import app

        result = CliRunner().invoke(app, ["demo", "--workspace", str(folder / "ws")])
        assert result.exit_code == 0, result.output
        return result.output

    folder, output = once_per_run(tmp_path_factory, "demo", build)
    return folder / "ws", output


#: The smoke pipeline the session runs first (conftest ``smoke_run``): its stages include every stage of
#: ismir2022_artist (whose smoke run the guide shows), so later smoke runs in its workspace skip them.
FIRST_SMOKE = "ismir2022_multitask"


def link_tree(source: Path, target: Path) -> None:
    """Copy a folder as hard links where the file system allows (instant, no space: stages replace
    files by renaming, so a rerun in the copy never changes the original), else as plain copies."""
    import shutil

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, str, Path]:
    """``discogs-tools run ismir2022_multitask --smoke`` run once per test run (once across xdist
    workers, see ``once_per_run``), with one torch thread: (workspace folder, output, a linked copy of
    its ``smoke/`` folder as this run left it). The smoke pipelines of tests/test_pipelines_shipped.py
    run in the same workspace afterwards (under xdist one worker runs that whole module, see below), so the
    stages they share with it (same command line, same inputs) run once; the guide test starts its
    ``ws/smoke`` from the copy, where the guide's ``run ismir2022_artist --smoke`` finds every stage up
    to date."""

    def build(folder: Path) -> str:
        import torch
        from typer.testing import CliRunner

        from discogs_tools.cli import app

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            result = CliRunner().invoke(app, ["run", FIRST_SMOKE, "--smoke", "--workspace", str(folder / "ws")])
        finally:
            torch.set_num_threads(before)
        assert result.exit_code == 0, result.output
        link_tree(folder / "ws" / "smoke", folder / "after-first-smoke")
        return result.output

    folder, output = once_per_run(tmp_path_factory, "smoke", build)
    return folder / "ws", output, folder / "after-first-smoke"


# --------------------------------------------------------------------------- running on two cores
#
# ``make test`` runs the suite in two pytest-xdist worker processes. xdist's ``--dist loadgroup``
# cannot be used: with pytest 9.2 its group marks are lost (xdist 3.8 renames the test's node id by
# writing an attribute pytest no longer reads), so grouped tests land on both workers. The work
# units are therefore chosen here, by test id, through xdist's scheduler hook: one unit per test
# module (its module and session fixtures then stay in one process), except the long chain below.

#: Test ids (prefixes) of the long chain: the demo's end-to-end test and the guide walkthrough, which
#: starts from the demo's workspace. They form one work unit, sent first, so that one worker builds
#: the demo at once and runs the walkthrough right after it while the other runs everything else.
CHAIN = (
    "tests/test_demo.py::test_demo_runs_end_to_end_and_the_artist_model_beats_random_weights",
    "tests/test_guide.py::test_every_bash_block_runs_as_written",
)
#: Modules sent right after the chain: the smoke runs, whose first run the walkthrough also needs.
EARLY = ("tests/test_pipelines_shipped.py",)


def _rank(nodeid: str) -> int:
    """0 for the chain, 1 for the early modules, 2 for the rest."""
    if nodeid.startswith(CHAIN):
        return 0
    return 1 if nodeid.startswith(EARLY) else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: the chain first, then the early modules, then the rest in their usual
    order (a stable sort; every worker orders alike, so the collections stay identical)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: _rank(item.nodeid))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``-n N`` (xdist's default ``--dist load``): work units as described above, handed out
    in collection order. Other ``--dist`` modes are xdist's own."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ChainScheduling(LoadScopeScheduling):
        """xdist's per-module scheduling, with the chain as one unit."""

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(CHAIN):
                return "the demo and the guide walkthrough"
            return nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False   # keep the collection order: the chain first
    return ChainScheduling(config, log)
