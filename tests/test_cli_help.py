"""Help texts survive the terminal: rich reads ``[...]`` as markup and drops it, so a help text
must not carry ``[default: ...]`` (issue 15: `--help` showed "Processes computing blocks .")."""

from __future__ import annotations

import typer

from discogs_tools.cli import app


def _commands(cmd, prefix: str = ""):
    yield prefix or cmd.name, cmd
    if hasattr(cmd, "commands"):  # a group (typer bundles its own click)
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{prefix} {name}".strip())


def test_no_help_text_is_swallowed_as_markup():
    bad = []
    for name, cmd in _commands(typer.main.get_command(app)):
        for param in cmd.params:
            text = getattr(param, "help", None) or ""
            if "[default" in text:
                bad.append(f"{name} {param.name}: {text}")
    assert bad == []
