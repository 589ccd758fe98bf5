"""The package uses other libraries through their public API only: no import of a module or name
that its library marks private with a leading underscore (``typer._click`` moved once between
typer versions already; a private name can go in any release)."""

from __future__ import annotations

import ast
from pathlib import Path

import discogs_tools

PACKAGE = Path(discogs_tools.__file__).parent
# Private names that cannot be avoided, each with its reason.
ALLOWED = {
    # torch.serialization.safe_globals allows exactly the callables an old pickle names, and a
    # pickled ndarray names NumPy's private _reconstruct (in numpy._core from 2.0, numpy.core before).
    "discogs_tools/train/checkpoint.py: numpy._core.multiarray._reconstruct",
    "discogs_tools/train/checkpoint.py: numpy.core.multiarray._reconstruct",
}


def private_imports(source: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import of another library's private module or name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "discogs_tools" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                found.append((node.lineno, name))
    return found


def test_the_check_sees_private_imports_and_passes_public_ones():
    source = ("from typer import _click as click\nimport typer._click\nfrom typer.main import get_command\n"
              "from . import _walk\nfrom discogs_tools.discogs import _walk\nfrom __future__ import annotations\n")
    assert private_imports(source) == [(1, "typer._click"), (2, "typer._click")]


def test_no_private_module_of_another_library_is_imported():
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for line, name in private_imports(path.read_text(encoding="utf-8"))
             if f"{path.relative_to(PACKAGE.parent)}: {name}" not in ALLOWED]
    assert found == []
