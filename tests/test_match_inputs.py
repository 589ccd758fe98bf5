"""The commands that `match` names when one of its inputs is missing or empty exist, as written."""

from __future__ import annotations

import shlex

import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.match import index, stage


def _named_commands() -> list[str]:
    """Every command a match error tells the user to run: the collection's and each reference's."""
    collection = "discogs-tools ingest collection PATH"
    import inspect

    assert collection in inspect.getsource(stage.run)  # the one stage.run names for the collection side
    return [collection, *(s.produced_by for s in index.SOURCES.values())]


@pytest.mark.parametrize("command", _named_commands())
def test_the_command_named_for_an_empty_side_exists(command):
    words = [w for w in shlex.split(command)[1:] if not w.isupper()]  # the program and placeholders off
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and " ".join(words) in " ".join(result.output.split())
