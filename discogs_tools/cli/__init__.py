"""The ``discogs-tools`` command line (typer). One module per stage registers its commands."""

from __future__ import annotations

from .common import app

# Each stage module registers its command(s) on import. Keep one line per module.
from . import ingest_discogs  # noqa: F401,E402
from . import pipeline  # noqa: F401,E402
from . import demo  # noqa: F401,E402
from . import warehouse  # noqa: F401,E402
from . import features  # noqa: F401,E402
from . import train  # noqa: F401,E402
from . import export  # noqa: F401,E402
from . import probe  # noqa: F401,E402
from . import playlists  # noqa: F401,E402
from . import dataset  # noqa: F401,E402
from . import pairs  # noqa: F401,E402
from . import collection  # noqa: F401,E402
from . import match  # noqa: F401,E402
from . import benchmark  # noqa: F401,E402
from . import similar  # noqa: F401,E402


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
