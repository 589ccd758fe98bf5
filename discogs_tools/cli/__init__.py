"""The ``discogs-tools`` command line (typer). One module per stage registers its commands."""

from __future__ import annotations

from .common import app

# Each stage module registers its command(s) on import. Keep one line per module.
from . import pipeline  # noqa: F401,E402


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
