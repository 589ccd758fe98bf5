"""What SQL run by ``discogs-tools sql`` may do: read anything, write files only when asked,
and never write into the workspace's own folders.

The warehouse is opened read-only, so DuckDB itself refuses CREATE / DROP / INSERT on it (they
still work on temporary, in-memory objects). A read-only database does not stop a statement
from writing *files*, though: ``COPY ... TO``, ``EXPORT DATABASE``, ``ATTACH`` of a new database
file (and ``EXPLAIN ANALYZE`` / ``PREPARE`` of those) write anywhere, settings such as
``profiling_output`` or file logging write files, and ``INSTALL`` fetches extensions from the
network. Two layers close that:

1. :data:`CONNECTION_SETTINGS`, given to the connection when it opens: no automatic install or
   load of extensions, no persistent secrets, and ``lock_configuration``, so that no ``SET``,
   ``PRAGMA`` or ``CALL enable_logging`` can change a setting afterwards (re-enable autoinstall,
   point profiling or logs at a file, move the spill folder).
2. :func:`check_sql`, run before anything executes: DuckDB's own parser says what each
   statement is (``duckdb.extract_statements``). Statements that write files or install / load
   extensions are refused unless the user passed ``--allow-writes``; with it, the target of
   every write must be a plain quoted path outside :func:`protected_paths` (after resolving
   ``..``, ``~`` and symlinks), and not a folder that contains them (a partitioned ``COPY ...
   (OVERWRITE)`` empties its target folder first). Statement kinds DuckDB does not name are
   refused.

Why not DuckDB's ``enable_external_access = false`` with ``allowed_directories``: the allowed
folders are writable as well as readable, and the views must read ``tables/``, so it cannot
keep ``tables/`` safe; and it would stop a query from reading the user's own files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from ..errors import DiscogsToolsError
from ..workspace import Workspace

ALLOW_FLAG = "--allow-writes"

CONNECTION_SETTINGS = {
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "allow_community_extensions": "false",
    "allow_unsigned_extensions": "false",
    "allow_persistent_secrets": "false",
    "lock_configuration": "true",  # last: nothing can be SET afterwards
}

# Statements that only read, or change in-memory state: temporary tables and macros, variables,
# transactions, prepared statements (checked when prepared). DuckDB refuses the ones that would
# change the read-only warehouse, and the locked configuration refuses settings.
_READING = {"SELECT", "PRAGMA", "CALL", "SET", "VARIABLE_SET", "TRANSACTION", "MULTI", "EXECUTE", "DETACH",
            "CREATE", "CREATE_FUNC", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "MERGE_INTO", "VACUUM",
            "ANALYZE", "COPY_DATABASE"}
_WRITES = {"COPY": "COPY ... TO writes a file", "EXPORT": "EXPORT DATABASE writes files",
           "ATTACH": "ATTACH opens a database file for writing"}
_EXTENSIONS = "INSTALL / LOAD of an extension runs code from outside (and INSTALL fetches it from the network)"
_TYPE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_+.-]*:(?!//)")  # ATTACH 'duckdb:x.db', 'sqlite:x.db'
_FILE_URL = re.compile(r"^file:(//localhost(?=/)|//(?=/))?", re.I)  # file:///x, file://localhost/x, file:/x


class SqlRefusedError(DiscogsToolsError):
    """A statement would write a file or install an extension without ``--allow-writes``, or
    write inside the workspace's own folders; the message is one line."""


def protected_paths(ws: Workspace) -> list[Path]:
    """What the stages own and SQL must never write: the table, dataset, feature, run and
    rejects folders, the pipeline state and smoke workspace, the lock and spill folders, the
    warehouse and the manifest."""
    root = ws.root
    return [ws.tables, ws.datasets, ws.features, ws.runs, ws.rejects, root / ".locks",
            root / "pipelines", root / "smoke", root / ".duckdb-spill",
            ws.warehouse_path, ws.warehouse_path.with_name(ws.warehouse_path.name + ".wal"),
            ws.manifest_path, ws.manifest_path.with_name(ws.manifest_path.name + ".lock")]


def check_sql(sql: str, *, protected: Iterable[Path] = (), allow_writes: bool = False,
              cwd: str | os.PathLike[str] | None = None) -> None:
    """Raise :class:`SqlRefusedError` unless every statement of ``sql`` may run.

    Syntax errors are raised as DuckDB's own ``ParserException`` (the caller explains them).
    Relative paths are resolved against ``cwd`` (default: the current folder, as DuckDB does).
    """
    guard = _Guard([Path(p) for p in protected], allow_writes, Path(cwd or os.getcwd()))
    guard.check_all(sql)


class _Guard:
    """Checks statements against one set of protected paths and one choice of ``allow_writes``."""

    def __init__(self, protected: list[Path], allow_writes: bool, cwd: Path) -> None:
        self.protected = [Path(os.path.realpath(p)) for p in protected]
        self.allow_writes = allow_writes
        self.cwd = cwd

    def check_all(self, sql: str) -> None:
        import duckdb

        for statement in duckdb.extract_statements(sql):
            try:
                kind = statement.type.name
            except ValueError:  # a kind the Python enum does not know, e.g. UPDATE EXTENSIONS
                kind = "unknown"
            self.check(kind, statement.query)

    def check(self, kind: str, text: str) -> None:
        if kind in ("EXPLAIN", "PREPARE"):
            inner = _explained(text) if kind == "EXPLAIN" else _prepared(text)
            if inner is None:
                raise SqlRefusedError(f"cannot tell what this {kind} statement runs: {_short(text)}")
            self.check_all(inner)
            return
        if kind == "COPY":
            tokens = _tokens(text)
            direction = _top_level_keyword(tokens, ("TO", "FROM"))
            if direction is not None and tokens[direction][1] == "FROM":
                return  # COPY ... FROM reads a file into a (temporary) table
            self._write(kind, text, tokens, len(tokens) if direction is None else direction + 1)
            return
        if kind in ("EXPORT", "ATTACH"):
            tokens = _tokens(text)
            if kind == "ATTACH":  # ATTACH [OR REPLACE] [DATABASE] [IF NOT EXISTS] 'file' ...
                skip = ("keyword",)
            else:  # EXPORT DATABASE [name TO] 'folder' ...
                skip = ("keyword", "identifier")
            start = next((i for i, t in enumerate(tokens) if t[2] not in skip), len(tokens))
            self._write(kind, text, tokens, start)
            return
        if kind == "LOAD":
            if not self.allow_writes:
                raise SqlRefusedError(f"{_EXTENSIONS}: {_short(text)}; refused unless you pass {ALLOW_FLAG}")
            return
        if kind in _READING:
            return
        raise SqlRefusedError(f"sql does not run {kind} statements: {_short(text)}")

    def _write(self, kind: str, text: str, tokens: list[tuple[int, str, str]], at: int) -> None:
        if not self.allow_writes:
            raise SqlRefusedError(f"{_WRITES[kind]} ({_short(text)}); sql is read-only unless you pass "
                                  f"{ALLOW_FLAG} (or write the result with --output FILE)")
        target = _literal(tokens, at)
        if target is None:
            raise SqlRefusedError(f"{kind} target must be a plain quoted 'path', so that sql can check it is not "
                                  f"inside the workspace's tables: {_short(text)}")
        if kind == "ATTACH" and target in (":memory:", ""):
            return
        for candidate in _local_paths(target):
            self.check_target(candidate, what=kind)

    def check_target(self, target: str | os.PathLike[str], what: str = "--output") -> None:
        """Refuse a write target inside (or containing) a protected path."""
        text = os.path.expanduser(str(target))
        if text.startswith("//"):  # POSIX keeps a leading '//' apart; the kernel does not
            text = "/" + text.lstrip("/")
        path = Path(text)
        real = Path(os.path.realpath(path if path.is_absolute() else self.cwd / path))
        for protected in self.protected:
            if real == protected or protected in real.parents or real in protected.parents:
                raise SqlRefusedError(
                    f"{what} target {target} is inside the workspace's own files ({protected}) or contains "
                    f"them; sql never writes there: write elsewhere")


def _local_paths(target: str) -> set[str]:
    """Every local path DuckDB might write for ``target``: as written, and with ``file:`` URL
    forms and database-type prefixes (``duckdb:``, ``sqlite:``) taken off, one after the other."""
    out = {target}
    while True:
        stripped = _FILE_URL.sub("", target, count=1)
        if stripped == target:
            stripped = _TYPE_PREFIX.sub("", target, count=1)
        if stripped == target:
            return out
        target = stripped
        out.add(target)


def check_output(output: str | os.PathLike[str], protected: Iterable[Path]) -> None:
    """Refuse ``--output`` inside the workspace's own folders (it would become part of a table)."""
    _Guard([Path(p) for p in protected], True, Path.cwd()).check_target(output)


# ---------------------------------------------------------------------------------------
# Tokens (DuckDB's own tokenizer: strings and comments are never mistaken for keywords)


def _tokens(text: str) -> list[tuple[int, str, str]]:
    """(offset, upper-cased text, kind) of every token but comments."""
    import duckdb

    raw = duckdb.tokenize(text)
    out = []
    for i, (pos, kind) in enumerate(raw):
        end = raw[i + 1][0] if i + 1 < len(raw) else len(text)
        name = str(getattr(kind, "name", kind)).split(".")[-1].lower()
        if name != "comment":
            word = text[pos:end].strip()
            out.append((pos, word if name == "string_const" else word.upper(), name))
    return out


def _top_level_keyword(tokens: list[tuple[int, str, str]], words: tuple[str, ...]) -> int | None:
    """Index of the first of ``words`` outside parentheses, or None."""
    depth = 0
    for i, (_, word, kind) in enumerate(tokens):
        if kind == "operator":
            depth += word.count("(") - word.count(")")
        elif depth == 0 and kind == "keyword" and word in words:
            return i
    return None


def _literal(tokens: list[tuple[int, str, str]], at: int) -> str | None:
    """The value of a plain string literal at ``tokens[at]`` that is not part of an expression."""
    if at >= len(tokens) or tokens[at][2] != "string_const":
        return None
    after = tokens[at + 1] if at + 1 < len(tokens) else None
    if after is not None and after[2] == "operator" and not after[1].startswith(("(", ";")):
        return None  # 'a' || 'b'
    word = tokens[at][1]
    if len(word) >= 2 and word[0] == word[-1] == "'":
        return word[1:-1].replace("''", "'")
    dollar = re.fullmatch(r"(\$[A-Za-z0-9_]*\$)(.*)\1", word, re.S)
    if dollar:
        return dollar.group(2)
    return None  # E'...' escapes and the like: refused rather than guessed


def _explained(text: str) -> str | None:
    """The statement inside ``EXPLAIN [ANALYZE] [(options)] statement``."""
    tokens = _tokens(text)
    i = 1
    while i < len(tokens) and tokens[i][2] == "keyword" and tokens[i][1] in ("ANALYZE", "ANALYSE", "VERBOSE"):
        i += 1
    if i < len(tokens) and tokens[i][1].startswith("("):
        depth = 0
        while i < len(tokens):
            if tokens[i][2] == "operator":
                depth += tokens[i][1].count("(") - tokens[i][1].count(")")
            i += 1
            if depth <= 0:
                break
    return text[tokens[i][0]:] if i < len(tokens) else None


def _prepared(text: str) -> str | None:
    """The statement inside ``PREPARE name AS statement``."""
    tokens = _tokens(text)
    at = _top_level_keyword(tokens, ("AS",))
    return text[tokens[at + 1][0]:] if at is not None and at + 1 < len(tokens) else None


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split()).rstrip(";")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def connection_config(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (threads, memory) plus :data:`CONNECTION_SETTINGS`, the lock last."""
    return {**base, **CONNECTION_SETTINGS}
