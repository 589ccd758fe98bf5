"""The documentation is executable: every ```bash block of README.md and docs/*.md runs as written,
and every `discogs-tools` command shown anywhere in them (templates and synopses included) names a
real command and real options.

Rules (docs/cli-vocabulary.md, "Documentation"): a ```bash block is run, in a scratch folder
whose ``workspace/`` is the demo workspace (so commands without ``-w`` work on it) and where
``discogs_tools/`` and ``sql/`` point at the repository's, in file order, each block with
``set -e``. (``DISCOGS_TOOLS_GUIDE_DEMO_WS=DIR`` starts from a copy of a demo workspace built
before, which the demo then finds up to date.) A block that cannot run here (it installs, or
needs data you download) is preceded by the line ``<!-- not run: REASON -->``; its commands are
still checked against the CLI.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import link_tree

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->\s*$")
SEPARATORS = {"&&", "||", ";", "|", "&"}

# Pages whose failures are expected (none: every page's blocks must run or carry a not-run reason).
OTHERS: set[str] = set()


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    body: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.lang == "bash" and self.not_run is None


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").splitlines()
        marker = NOT_RUN.search(before[-1]) if before else None
        out.append(Block(path, line, m.group(1), m.group(2), marker.group(1) if marker else None))
    return out


def logical_lines(body: str) -> list[str]:
    """Lines with backslash continuations joined and quoted strings spanning lines kept whole."""
    out: list[str] = []
    pending = ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if line.startswith("$ "):
            line = line[2:]
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the string goes on on the next line
            continue
        out.append(pending)
        pending = ""
    if pending:
        out.append(pending)
    return out


def commands(body: str) -> list[list[str]]:
    """Every `discogs-tools ...` invocation of a block, as argument lists (without the program)."""
    found = []
    for line in logical_lines(body):
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError:
            continue
        segment: list[str] = []
        for tok in tokens + [";"]:
            if tok in SEPARATORS:
                if segment and segment[0] == "discogs-tools":
                    found.append(segment[1:])
                segment = []
            else:
                segment.append(tok)
    return found


@functools.cache
def _click_root():
    import typer.main

    from discogs_tools.cli import app

    return typer.main.get_command(app)


def check_command(argv: list[str]) -> str | None:
    """None if ``argv`` names a command and only options it has, else what is wrong."""
    cmd = _click_root()
    args = [a.strip("[]") for a in argv]
    args = [a for a in args if a]
    i = 0
    path = []
    while hasattr(cmd, "commands") and i < len(args) and not args[i].startswith("-"):
        sub = cmd.commands.get(args[i])
        if sub is None:
            return f"no command `{' '.join(path + [args[i]])}`"
        path.append(args[i])
        cmd = sub
        i += 1
    if hasattr(cmd, "commands") and not path:
        return None  # `discogs-tools --help`, `--version`
    names = {n for p in cmd.params for n in (*p.opts, *p.secondary_opts)} | {"--help"}
    bad = [a.split("=", 1)[0] for a in args[i:] if a.startswith("-") and a != "-" and not a[1:2].isdigit()
           and a.split("=", 1)[0] not in names]
    bad = [b for b in bad if not (b.startswith("-") and not b.startswith("--") and len(b) > 2 and b[:2] in names)]
    return f"`{' '.join(path)}` has no option {', '.join(bad)}" if bad else None


ALL_BLOCKS = [b for p in DOCS for b in blocks(p)]


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if commands(b.body)], ids=lambda b: b.where)
def test_every_documented_command_exists_with_its_options(block):
    problems = [f"discogs-tools {' '.join(argv)}: {why}" for argv in commands(block.body)
                if (why := check_command(argv))]
    if problems and block.path.name in OTHERS:
        pytest.xfail(f"{block.where} (owned by another change): " + "; ".join(problems))
    assert not problems, f"{block.where}: " + "; ".join(problems)


def test_the_block_reader_sees_continuations_quotes_and_chains():
    body = ('discogs-tools sql -w ws "SELECT 1\n   FROM x"   # two lines, one string\n'
            "discogs-tools train -w ws \\\n    --run r && discogs-tools probe t.csv -m r\n"
            "# discogs-tools not-a-command (a comment)\n"
            "$ discogs-tools build-dataset [--name discogs20] [--seed 0]\n")
    assert commands(body) == [["sql", "-w", "ws", "SELECT 1\n   FROM x"], ["train", "-w", "ws", "--run", "r"],
                              ["probe", "t.csv", "-m", "r"], ["build-dataset", "[--name", "discogs20]", "[--seed", "0]"]]
    assert check_command(["build-dataset", "[--name", "discogs20]"]) is None
    assert "no option --nope" in check_command(["build-dataset", "--nope"])
    assert "no command" in check_command(["no-such-command"])


# --------------------------------------------------------------------------- running the blocks


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, request, smoke_run) -> Path:
    """A scratch folder with the demo workspace as ./workspace and the repository's
    discogs_tools/ and sql/ reachable by the relative paths the docs use. It starts from a copy of
    the session's demo workspace (conftest ``demo_run``), or of ``DISCOGS_TOOLS_GUIDE_DEMO_WS``,
    and runs the demo there as the guide says: the relocatable pipeline state finds it up to date.
    Likewise ``ws/smoke`` starts as a linked copy of the session's first smoke run (conftest
    ``smoke_run``: ismir2022_multitask, whose stages include every stage of ismir2022_artist), where
    the guide's ``run ismir2022_artist -w ws --smoke`` finds every stage up to date (the smoke tests
    run them; tests/test_pipelines_shipped.py checks that it does)."""
    root = tmp_path_factory.mktemp("guide")
    for name in ("discogs_tools", "sql", "pipelines"):
        (root / name).symlink_to(REPO / name)
    # The session's demo is run only when no built demo workspace is given.
    built = os.environ.get("DISCOGS_TOOLS_GUIDE_DEMO_WS") or str(request.getfixturevalue("demo_run")[0])
    shutil.copytree(built, root / "workspace", symlinks=True)
    link_tree(smoke_run[2], root / "ws" / "smoke")
    result = subprocess.run(["discogs-tools", "demo"], cwd=root, env=_env(root), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCOGS_TOOLS_WORKSPACE"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


RUNNABLE = [p for p in DOCS if any(b.runs for b in blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("doc", RUNNABLE, ids=lambda p: p.name)
def test_every_bash_block_runs_as_written(doc, sandbox):
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    failures = []
    for block in (b for b in blocks(doc) if b.runs):
        script = "set -eo pipefail\n" + block.body
        result = subprocess.run(["bash", "-c", script], cwd=sandbox, env=_env(sandbox), capture_output=True,
                                text=True)
        if result.returncode != 0:
            failures.append(f"{block.where} exited {result.returncode}: {(result.stderr or result.stdout)[-600:]}")
    if failures and doc.name in OTHERS:
        pytest.xfail("owned by another change: " + " | ".join(failures))
    assert not failures, "\n".join(failures)


def test_the_long_chain_that_make_test_schedules_first_names_real_tests():
    """conftest's CHAIN and EARLY pick tests by id for the two-process run of `make test`: a renamed
    test would silently leave the chain (the demo would then be built while the other worker waits)."""
    import importlib

    import conftest

    for prefix in (*conftest.CHAIN, *conftest.EARLY):
        path, _, name = prefix.partition("::")
        assert (REPO / path).is_file(), f"conftest names {path}, which does not exist"
        if name:
            module = importlib.import_module(Path(path).stem)
            assert callable(getattr(module, name, None)), f"conftest names {prefix}, which is no test"
    assert conftest._rank(conftest.CHAIN[1] + "[guide.md]") == 0
    assert conftest._rank(conftest.EARLY[0] + "::test_smoke_version_runs[discogs20]") == 1
    assert conftest._rank("tests/test_core.py::test_x") == 2
