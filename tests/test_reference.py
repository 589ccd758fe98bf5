"""The generated reference (docs/reference/) is current and complete.

If the first test fails, a command, option or schema changed: regenerate with
``python -m discogs_tools.reference docs/reference`` and commit the result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from discogs_tools import reference
from discogs_tools.resources import resource_dir

REPO = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO / "docs" / "reference"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return reference.render_all()


def test_committed_reference_is_current(pages):
    for name, text in pages.items():
        path = REFERENCE_DIR / name
        assert path.is_file(), f"{path} is missing: run `{reference.REGENERATE}`"
        assert path.read_text(encoding="utf-8") == text, \
            f"{path} is stale (a command, option or schema changed): run `{reference.REGENERATE}`"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {p.split("\n", 1)[0]: p for p in parts}


def test_cli_page_documents_every_command_and_option(pages):
    import typer.main

    from discogs_tools.cli import app

    sections = _sections(pages[reference.CLI_FILE])
    seen = 0

    def walk(cmd, path):
        nonlocal seen
        if getattr(cmd, "commands", None):
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])
            return
        title = "discogs-tools " + " ".join(path)
        assert title in sections, f"no section for {title}"
        body = sections[title]
        assert f"discogs-tools {' '.join(path)} [OPTIONS]" in body
        for param in cmd.params:
            if param.param_type_name == "option":
                for opt in [*param.opts, *param.secondary_opts]:
                    assert f"`{opt}`" in body, f"{title}: option {opt} missing"
            else:
                assert f"`{param.name.upper()}" in body, f"{title}: argument {param.name} missing"
        seen += 1

    walk(typer.main.get_command(app), [])
    assert seen == len(sections) and seen >= 15


def test_cli_page_shows_types_defaults_and_flags(pages):
    probe = _sections(pages[reference.CLI_FILE])["discogs-tools probe"]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in probe.splitlines() if line.startswith("| `")}
    assert "| int | `3` |" in rows["`--seeds`"]                        # type and default
    assert "| str | required |" in rows["`--model` / `-m`"]            # required option
    assert "(repeatable)" in rows["`--model` / `-m`"]
    assert "| flag | `--baseline` |" in rows["`--baseline` / `--no-baseline`"]  # flag pair, default on
    assert "`DATASET`" in probe and "discogs-tools probe [OPTIONS] DATASET" in probe


def test_tables_page_lists_every_schema_with_nested_fields(pages):
    text = pages[reference.TABLES_FILE]
    sections = _sections(text)
    root = resource_dir("schemas")
    files = sorted(root.rglob("*.json"))
    assert len(sections) == len(files)
    for path in files:
        spec = json.loads(path.read_text(encoding="utf-8"))
        body = sections[spec["table"]]
        assert f"`schemas/{path.relative_to(root).as_posix()}`" in body

        def check(fields, depth):
            for f in fields:
                line = f"{'  ' * depth}- `{f['name']}` ("
                assert any(ln.startswith(line) for ln in body.splitlines()), f"{spec['table']}: {line!r} missing"
                inner = f["type"]
                while isinstance(inner, dict) and "struct" not in inner:
                    inner = next(iter(inner.values()))
                if isinstance(inner, dict):
                    check(inner["struct"], depth + 1)

        check(spec["fields"], 0)


def test_nested_struct_members_are_indented_under_their_parent(pages):
    body = _sections(pages[reference.TABLES_FILE])["discogs/releases"].splitlines()
    i = next(i for i, ln in enumerate(body) if ln.startswith("- `tracklist` (`list<struct>`"))
    members = []
    for ln in body[i + 1:]:
        if not ln.startswith("  "):
            break
        members.append(ln)
    assert any(m.startswith("  - `position` (") for m in members)
    assert any(m.startswith("  - `sub_tracks` (`list<struct>`") for m in members)
    assert any(m.startswith("    - `title` (") for m in members)  # sub-track member, two levels down


def test_markdown_escaping_keeps_code_spans():
    assert reference._escape("datasets/<name>/ and `runs/<run>/`") == "datasets/\\<name>/ and `runs/<run>/`"
    assert reference._cell("a | b\n  c") == "a \\| b c"
    assert reference.type_label({"list": {"list": "string"}}) == "list<list<string>>"
    assert reference.type_label({"fixed_list": "float32", "size": 96}) == "fixed_list<float32, 96>"


def test_output_does_not_depend_on_terminal_or_environment(pages, tmp_path):
    """A fresh process with a narrow terminal and a workspace variable renders the same bytes."""
    env = dict(os.environ, COLUMNS="30", DISCOGS_TOOLS_WORKSPACE=str(tmp_path / "elsewhere"), TERM="dumb")
    out = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "discogs_tools.reference", str(out)], check=True, env=env,
                   capture_output=True, cwd=tmp_path)
    for name, text in pages.items():
        assert (out / name).read_text(encoding="utf-8") == text


def test_check_mode_reports_stale_pages(tmp_path, capsys):
    assert reference.main([str(tmp_path), "--check"]) == 1            # nothing written yet
    assert reference.main([str(tmp_path)]) == 0
    assert reference.main([str(tmp_path), "--check"]) == 0
    (tmp_path / reference.TABLES_FILE).write_text("old\n", encoding="utf-8")
    assert reference.main([str(tmp_path), "--check"]) == 1
    assert "tables.md" in capsys.readouterr().err


def _heading_anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {reference._anchor(m.group(1).strip()) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", ["guide.md", "index.md", "reference/cli.md", "reference/tables.md"])
def test_links_of_the_guide_and_reference_resolve(page):
    """Relative links (and #anchors into Markdown pages) of the pages we write point somewhere real."""
    source = REPO / "docs" / page
    text = re.sub(r"```.*?```", "", source.read_text(encoding="utf-8"), flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        target, _, anchor = link.partition("#")
        path = (source.parent / target).resolve() if target else source
        assert path.exists(), f"{page}: link {link} points to a missing file"
        if anchor and path.suffix == ".md":
            assert anchor in _heading_anchors(path), f"{page}: link {link}: no heading with that anchor"
