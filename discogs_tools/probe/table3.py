"""Probe results in the layout of Table 3 of the ISMIR 2022 paper (seed 000 Table 3): one row per
model, one column group per benchmark in the paper's order (Genre, Instrument, Mood, Top50, MTAT:
ROC-AUC and PR-AUC; FMA: accuracy), scores in percent with one decimal, written as Markdown, CSV
and PNG.

It reads the same results files as ``probe-compare`` (:mod:`.compare`); a task is matched to its
benchmark by the name ``benchmark prepare`` gives its manifest (``mtg-jamendo-genre.csv`` ->
task ``mtg-jamendo-genre``, ``...-ismir2022`` when probed under another protocol, shown as
``Genre (ismir2022)``). Benchmarks outside Table 3 (MSD, GTZAN, dim-sim) and other tasks follow
the Table-3 columns. Cells are ``mean ± std`` over the probe seeds; the best of each column is
bold (Markdown, PNG).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import write_text_atomic
from ..workspace import Workspace
from .compare import METRIC_LABELS, ComparisonTable
from .compare import build as build_comparison
from .plot import save_png

# (benchmark name of `benchmark prepare`, column header). The first six are seed 000 Table 3's
# columns in its order; the rest are the other benchmarks, after them.
BENCHMARKS: tuple[tuple[str, str], ...] = (
    ("mtg-jamendo-genre", "Genre"),
    ("mtg-jamendo-instrument", "Instrument"),
    ("mtg-jamendo-moodtheme", "Mood"),
    ("mtg-jamendo-top50", "Top50"),
    ("mtat", "MTAT"),
    ("fma-small", "FMA"),
    ("mtat-clean", "MTAT (clean)"),
    ("msd", "MSD"),
    ("msd-cals", "MSD-CALS"),
    ("gtzan", "GTZAN"),
    ("dim-sim", "dim-sim"),
)
_ORDER = {name: i for i, (name, _) in enumerate(BENCHMARKS)}


def benchmark_of(task: str) -> tuple[str | None, str]:
    """(benchmark, column header) of a task name: the longest benchmark name that is the task or
    its prefix followed by ``-<protocol>``; (None, task) for any other task."""
    for name, header in sorted(BENCHMARKS, key=lambda b: -len(b[0])):
        if task == name:
            return name, header
        if task.startswith(name + "-"):
            return name, f"{header} ({task[len(name) + 1:]})"
    return None, task


def build(specs: Sequence[str | os.PathLike[str]], workspace: Workspace, *, baselines: bool = True,
          tasks: Sequence[str] = ()) -> ComparisonTable:
    """The Table-3 table of the results named by ``specs`` (runs, probe folders or results files,
    as for ``probe-compare``): columns renamed to the benchmarks' headers and ordered as in seed
    000 Table 3 (other tasks after, in the order read), scores in percent."""
    source = build_comparison(specs, workspace, tasks=tasks, baselines=baselines, percent=True)
    tasks_seen = list(dict.fromkeys(t for t, _ in source.columns))

    def rank(task: str) -> tuple[int, int]:
        name, _ = benchmark_of(task)
        return (_ORDER.get(name, len(BENCHMARKS)) if name else len(BENCHMARKS), tasks_seen.index(task))

    table = ComparisonTable(percent=True)
    for task in sorted(tasks_seen, key=rank):
        header = benchmark_of(task)[1]
        for col in (c for c in source.columns if c[0] == task):
            for row, cells in source.rows.items():
                table.rows.setdefault(row, {})
                if col in cells:
                    table.add(row, header, col[1], cells[col])
            if (header, col[1]) not in table.columns:
                table.columns.append((header, col[1]))
    return table


def write(table: ComparisonTable, prefix: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``<prefix>.md``, ``<prefix>.csv`` and ``<prefix>.png`` (each atomically); their paths."""
    prefix = Path(prefix)
    out = {
        "markdown": write_text_atomic(prefix.with_name(prefix.name + ".md"), table.render("markdown") + "\n"),
        "csv": write_text_atomic(prefix.with_name(prefix.name + ".csv"), table.render("csv")),
        "png": plot_table(table, prefix.with_name(prefix.name + ".png")),
    }
    return {k: str(v) for k, v in out.items()}


def plot_table(table: ComparisonTable, path: str | os.PathLike[str]) -> Path:
    """The table drawn as a PNG (matplotlib, Agg; no timestamp, so the same table gives the same
    bytes): a two-line header (benchmark, metric) as in seed 000 Table 3, best cells in bold."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    best = table.best()
    heads = [t for t, _ in table.columns]
    head1 = [""] + [h if i == 0 or h != heads[i - 1] else "" for i, h in enumerate(heads)]
    head2 = ["model"] + [METRIC_LABELS.get(m, m) for _, m in table.columns]
    body = [[row] + [table.cell_text(row, c) for c in table.columns] for row in table.rows]
    cells: list[list[Any]] = [head1, head2] + body
    width = max(len(row) for row in table.rows) * 0.09 + 1.2 * len(table.columns) + 0.5
    fig, ax = plt.subplots(figsize=(min(max(width, 3.0), 40.0), 0.32 * len(cells) + 0.6))
    ax.axis("off")
    drawn = ax.table(cellText=cells, loc="center", cellLoc="center")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8)
    drawn.auto_set_column_width(list(range(len(head2))))
    for (r, c), cell in drawn.get_celld().items():
        cell.set_linewidth(0.3)
        if r < 2 or c > 0 and best.get(table.columns[c - 1]) == list(table.rows)[r - 2]:
            cell.set_text_props(weight="bold")
    ax.set_title("Probe results (seed 000 Table 3 layout; percent, mean ± std over seeds)", fontsize=9)
    return save_png(fig, path)
