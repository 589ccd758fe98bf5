"""Where a run's collection embeddings are, and which version of them is there.

``discogs-tools embed -c RUN`` writes ``runs/<run>/embeddings/<feature set>`` (a Parquet table:
``track_id``, ``embedding``); an index is built over one such table. The version is the table's
``_table.json`` version id (new at every commit of the table), so an index records what it was
built from and is rebuilt when ``embed`` writes the table again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ConfigError, MissingInputError
from ..io import table_files, table_version
from ..workspace import Workspace


def run_folder(ws: Workspace, run: str) -> Path:
    """``runs/<run>``, which must exist (else the error names ``train``)."""
    folder = ws.runs / run
    if not folder.is_dir():
        known = sorted(p.name for p in ws.runs.iterdir() if p.is_dir()) if ws.runs.is_dir() else []
        hint = f" (runs here: {', '.join(known)})" if known else ""
        raise MissingInputError(f"run {run}{hint}", folder, "discogs-tools train")
    return folder


def run_features(ws: Workspace, run: str) -> str | None:
    """The feature set the run was trained on (its ``config.json``), or None."""
    try:
        return json.loads((ws.runs / run / "config.json").read_text(encoding="utf-8")).get("features")
    except (OSError, ValueError):
        return None


def embeddings_path(ws: Workspace, run: str, embeddings: str | None = None) -> Path:
    """The embeddings table of ``run`` to index.

    ``embeddings`` is a table name under ``runs/<run>/embeddings/`` or a path; by default the
    table named after the run's feature set (what ``embed -c RUN`` writes), else the only one.
    """
    folder = run_folder(ws, run) / "embeddings"
    embed_hint = f"discogs-tools embed -c {run} -w {ws.root}"
    if embeddings is not None and Path(embeddings).exists() and table_files(Path(embeddings)):
        return Path(embeddings)
    tables = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                    and table_files(p)) if folder.is_dir() else []
    if embeddings is not None:
        chosen = folder / embeddings
        if chosen in tables:
            return chosen
        listed = f" (tables there: {', '.join(p.name for p in tables)})" if tables else ""
        raise MissingInputError(f"embeddings {embeddings} of run {run}{listed}", chosen, embed_hint)
    if not tables:
        raise MissingInputError(f"embeddings of run {run}", folder, embed_hint)
    features = run_features(ws, run)
    for p in tables:
        if p.name == features:
            return p
    if len(tables) == 1:
        return tables[0]
    raise ConfigError(f"run {run} has several embeddings tables ({', '.join(p.name for p in tables)}); "
                      "choose one with --embeddings NAME")


def embeddings_version(path: Path) -> str:
    """Version of an embeddings table: its committed version id, else a digest of its files'
    names, sizes and modification times (a table written by another tool)."""
    version = table_version(path)
    if version:
        return str(version)
    h = hashlib.sha1()
    for f in table_files(path):
        st = f.stat()
        h.update(f"{f.name}\x1f{st.st_size}\x1f{st.st_mtime_ns}\n".encode())
    return "files:" + h.hexdigest()[:20]


def default_run(ws: Workspace) -> str:
    """The only run with embeddings (so ``--run`` can be left out); else a one-line error."""
    runs = sorted(p.name for p in ws.runs.iterdir() if (p / "embeddings").is_dir()
                  and any(table_files(t) for t in (p / "embeddings").iterdir() if t.is_dir())) \
        if ws.runs.is_dir() else []
    if len(runs) == 1:
        return runs[0]
    if not runs:
        trained = sorted(p.name for p in ws.runs.iterdir() if (p / "checkpoints").is_dir()) if ws.runs.is_dir() else []
        if trained:
            raise MissingInputError(f"embeddings of run {trained[0]}", ws.runs / trained[0] / "embeddings",
                                    f"discogs-tools embed -c {trained[0]} -w {ws.root}")
        raise MissingInputError("a trained run", ws.runs, "discogs-tools train")
    raise ConfigError(f"several runs have embeddings ({', '.join(runs)}); choose one with --run NAME")
