"""Generate sql/README.md from the header comments of sql/views/*.sql and sql/queries/*.sql.

The SQL files are the single source of their documentation (grain, key, columns); this module
renders it as Markdown. Regenerate after editing a view or query header::

    python -m discogs_tools.warehouse.readme > sql/README.md

A test checks that the shipped README matches.
"""

from __future__ import annotations

import re
from pathlib import Path

from .views import load_views, queries_dir

INTRO = """# sql/

SQL shipped with discogs-tools, run against the DuckDB warehouse (`workspace/warehouse.duckdb`).

- `views/`: flat views over the nested Discogs tables, one `<view>.sql` per view. `discogs-tools
  warehouse` creates them (after the views they read) on top of one view per Parquet table; a view
  whose source table is not ingested yet is skipped with a note.
- `queries/`: ready queries a researcher would run; `discogs-tools sql --file <name>` runs one
  (`discogs-tools sql --list` lists them).

Conventions (dbt style): each file starts with a comment stating what it holds, its **grain** (what one
row is) and its **key** (the columns that identify a row), then its columns; the SQL is import CTEs,
then transforms, then `select * from final`. `ordinal` columns are 1-based positions in document order
(the order of the elements in the dump); order by them to get the dump's order back. Views keep the
dump's values as written ('' for an empty element, null for an omitted one); convenience columns
(`credited_name`, `quantity`, `artists`, ...) are documented where they appear. Keys assume each
record id occurs once in its table, as in a real monthly dump. `ingest discogs` counts and warns when
one does not (inputs from several dumps, or a record repeated across files); for one row per id keep the
lowest `(source_file, record_ordinal)`, see [docs/ingest-discogs.md](../docs/ingest-discogs.md#duplicate-ids).

## Base views (one per Parquet table)

Every table folder under `workspace/tables/`, `workspace/datasets/` and `workspace/features/` becomes
a view named after its path, e.g. `discogs_releases`, `discogs_masters`, `discogs_artists`,
`discogs_labels`, `playlists_playlist_tracks`, `collection_tracks`, `links_track_releases`,
`dataset_<name>_tracks`, `dataset_<name>_pairs_<association>` (all splits) and
`dataset_<name>_pairs_<association>_<split>`. Their columns are documented in `schemas/` (and as
column comments in the warehouse: `SELECT * FROM duckdb_columns() WHERE table_name = 'discogs_releases'`).
`_warehouse_tables` and `_warehouse_views` list what the last build found, created and skipped.
"""


def header_lines(path: Path) -> list[str]:
    """The leading ``--`` comment lines of a SQL file, markers removed (indentation kept)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        out.append(line[3:] if line.startswith("-- ") else line[2:])
    return out


_COLUMN = re.compile(r"^  (\S[^:]*): (.*)$")


def describe(lines: list[str]) -> tuple[str, list[str], list[list[str]]]:
    """Split a header into its title line, notes (grain, key, source...) and [column, doc] pairs.

    Notes and column docs may continue on further lines indented by two more spaces.
    """
    notes: list[str] = []
    columns: list[list[str]] = []
    in_columns = False
    for line in lines[1:]:
        if line.startswith("columns:"):
            in_columns = True
            rest = line[len("columns:"):].strip()
            if rest:
                columns.append(["", rest])
            continue
        column = _COLUMN.match(line) if in_columns else None
        if column:
            columns.append([column.group(1), column.group(2)])
        elif line.startswith("  ") and (columns if in_columns else notes):
            (columns[-1] if in_columns else notes)[-1] += " " + line.strip()
        else:
            in_columns = False
            notes.append(line.strip())
    return lines[0] if lines else "", notes, columns


def _view_section(name: str, lines: list[str]) -> list[str]:
    title, notes, columns = describe(lines)
    summary = title.partition(": ")[2]
    out = [f"### `{name}`\n", summary[:1].upper() + summary[1:] + "\n"]
    out += [f"- {n}" for n in notes]
    out.append("\n| column | meaning |\n| --- | --- |")
    out += [f"| `{c}` | {doc} |" if c else f"| | {doc} |" for c, doc in columns]
    out.append("")
    return out


def _query_section(path: Path) -> list[str]:
    lines = header_lines(path)
    question = []
    while lines and not lines[0].startswith("grain:"):
        question.append(lines.pop(0).strip())
    _, notes, columns = describe(["", *lines])
    out = [f"### [`{path.stem}`](queries/{path.name})\n", " ".join(question) + "\n"]
    out += [f"- {n}" for n in notes]
    if columns:
        out.append("- columns: " + " ".join(f"{c}: {doc}" if c else doc for c, doc in columns))
    out.append("")
    return out


def render_readme() -> str:
    """The Markdown text of sql/README.md."""
    views = sorted(load_views(), key=lambda v: v.name)
    out = [INTRO, "## Flat views\n", "| view | grain | key |\n| --- | --- | --- |"]
    for view in views:
        grain = next(n for n in describe(header_lines(view.path))[1] if n.startswith("grain:"))
        what, _, key = grain[len("grain: "):].partition("; key: ")
        key = key.split(").")[0] + ")" if ")." in key else key.rstrip(".")
        out.append(f"| [`{view.name}`](views/{view.name}.sql) | {what} | {key} |")
    out.append("")
    for view in views:
        out += _view_section(view.name, header_lines(view.path))
    out += ["## Ready queries\n",
            "Run with `discogs-tools sql --file <name>` (or the path), e.g. "
            "`discogs-tools sql --file styles_by_release_count --format csv -o styles.csv`.\n"]
    for path in sorted(queries_dir().glob("*.sql")):
        out += _query_section(path)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render_readme(), end="")
