"""The flat SQL views shipped in ``sql/views/``: loading and dependency order.

Each ``sql/views/<name>.sql`` holds one ``SELECT`` (dbt style: import CTEs, transforms,
``select * from final``) and becomes the view ``<name>``. A view may read base tables (e.g.
``discogs_releases``) and other shipped views; it is created after the views it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..resources import resource_dir

_LINE_COMMENT = re.compile(r"--[^\n]*")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_STRING = re.compile(r"'(?:[^']|'')*'")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ViewDef:
    """One shipped view: its name, file, SQL text and the shipped views it reads."""

    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]

    @property
    def header(self) -> str:
        """The leading comment block (grain, keys, columns), without the ``--`` markers."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        return "\n".join(lines).strip()


def views_dir() -> Path:
    return resource_dir("sql") / "views"


def queries_dir() -> Path:
    return resource_dir("sql") / "queries"


def sql_words(sql: str) -> set[str]:
    """Lower-case identifiers of a statement, outside comments and string literals."""
    text = _STRING.sub(" ", _BLOCK_COMMENT.sub(" ", _LINE_COMMENT.sub(" ", sql)))
    return {w.lower() for w in _WORD.findall(text)}


def load_views(folder: Path | None = None) -> list[ViewDef]:
    """Every ``*.sql`` in the views folder, ordered so that each comes after what it reads."""
    folder = folder or views_dir()
    texts = {p.stem.lower(): (p, p.read_text(encoding="utf-8").strip().rstrip(";")) for p in sorted(folder.glob("*.sql"))}
    views = {
        name: ViewDef(name, path, sql, tuple(sorted((sql_words(sql) & texts.keys()) - {name})))
        for name, (path, sql) in texts.items()
    }
    return _dependency_order(views)


def _dependency_order(views: dict[str, ViewDef]) -> list[ViewDef]:
    """Topological order (alphabetical among independent views); a cycle is an error."""
    ordered: list[ViewDef] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ConfigError(f"sql/views: circular view dependency {' -> '.join(chain + (name,))}")
        state[name] = "visiting"
        for dep in views[name].depends_on:
            visit(dep, chain + (name,))
        state[name] = "done"
        ordered.append(views[name])

    for name in sorted(views):
        visit(name, ())
    return ordered
