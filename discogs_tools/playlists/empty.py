"""Refusing to replace good output with nothing.

A playlist stage that read nothing usable must fail (exit 2, one line naming the inputs and
why each gave nothing) instead of committing empty tables over the previous ones; a stage
whose input table is empty says so instead of writing an empty output.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EmptyInputError
from ..io import table_rows


def require_rows(folder: str | Path, what: str, produced_by: str) -> int:
    """Rows of the input table ``folder``; :class:`EmptyInputError` when it has none."""
    rows = table_rows(folder)
    if rows == 0:
        raise EmptyInputError(f"{folder}: no rows (0 {what}); nothing to compute and the previous output is kept; "
                              f"run `{produced_by}` with usable inputs first")
    return rows
