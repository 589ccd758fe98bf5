"""Several probe results side by side, in the layout of Table 3 of the ISMIR 2022 paper:
one row per model (each run's model, then the baselines), one column group per downstream task
with its metrics (ROC-AUC and PR-AUC, accuracy, triplet accuracy...), cells ``mean ± std`` over seeds.

Results come from runs/<run>/probe/<task>.json (a run name, a run folder, its probe folder or a
results file). The same run probed on several tasks is one row; the best mean of each column is
marked (bold in Markdown, ``*`` in text).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, InputError, MissingInputError
from ..io import write_text_atomic
from ..report import Report
from ..workspace import Workspace

FORMATS = ("text", "markdown", "csv")
METRIC_LABELS = {
    "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "accuracy": "acc.", "balanced_accuracy": "bal. acc.",
    "triplet_accuracy": "triplet acc.", "distance_gap": "dist. gap",
    "frozen_triplet_accuracy": "frozen acc.", "frozen_distance_gap": "frozen gap",
}
# Columns shown per task kind (the summary holds more; these are the paper's).
SHOWN = {
    "multilabel": ("roc_auc", "pr_auc"),
    "multiclass": ("accuracy",),
    "triplets": ("frozen_triplet_accuracy", "triplet_accuracy", "distance_gap"),
}


def result_files(spec: str | os.PathLike[str], workspace: Workspace) -> list[Path]:
    """Results files named by a run name, a run folder, its probe folder or a results file."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path]
    for folder in (path / "probe", path, workspace.runs / str(spec) / "probe"):
        if folder.is_dir():
            files = sorted(folder.glob("*.json"))
            if files:
                return files
    raise MissingInputError("probe results", workspace.runs / str(spec) / "probe", "discogs-tools probe")


def load_results(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"cannot read probe results: {exc}") from exc
    if not isinstance(results, dict) or not {"task", "kind", "models"} <= set(results):
        raise InputError(path, "not a probe results file (needs task, kind and models)")
    return results


@dataclass
class ComparisonTable:
    """Rows (models) x columns (task, metric) of ``{"mean", "std", "n"}`` cells."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    percent: bool = False

    def add(self, row: str, task: str, metric: str, cell: dict[str, Any]) -> None:
        if (task, metric) not in self.columns:
            self.columns.append((task, metric))
        self.rows.setdefault(row, {})[(task, metric)] = cell

    def best(self) -> dict[tuple[str, str], str]:
        """Row with the highest mean of each column."""
        out = {}
        for col in self.columns:
            scored = [(cells[col]["mean"], row) for row, cells in self.rows.items()
                      if col in cells and _finite(cells[col].get("mean"))]
            if len(scored) > 1:
                out[col] = max(scored, key=lambda t: t[0])[1]
        return out

    def cell_text(self, row: str, col: tuple[str, str]) -> str:
        cell = self.rows[row].get(col)
        if not cell or not _finite(cell.get("mean")):
            return "-"
        k = 100.0 if self.percent and col[1] != "distance_gap" else 1.0
        digits = 1 if k == 100.0 else 3
        text = f"{cell['mean'] * k:.{digits}f}"
        if (cell.get("n") or 0) > 1:
            text += f" ± {(cell.get('std') or 0.0) * k:.{digits}f}"
        return text

    def render(self, fmt: str = "text") -> str:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown table format {fmt!r}; choose {', '.join(FORMATS)}")
        return {"text": self._text, "markdown": self._markdown, "csv": self._csv}[fmt]()

    def _text(self) -> str:
        best = self.best()
        body = [[row] + [self.cell_text(row, c) + ("*" if best.get(c) == row else "") for c in self.columns]
                for row in self.rows]
        head1 = ["model"] + [t for t, _ in self.columns]
        head2 = [""] + [METRIC_LABELS.get(m, m) for _, m in self.columns]
        # A task name is printed once above its metric columns.
        head1 = [h if i == 0 or h != head1[i - 1] else "" for i, h in enumerate(head1)]
        table = [head1, head2] + body
        widths = [max(len(r[i]) for r in table) for i in range(len(head1))]
        lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip()
                 for r in table]
        lines.insert(2, "  ".join("-" * w for w in widths))
        return "\n".join(lines) + ("\n* best of the column" if best else "")

    def _markdown(self) -> str:
        best = self.best()
        head = ["model"] + [f"{t} {METRIC_LABELS.get(m, m)}" for t, m in self.columns]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(self.columns)) + "|"]
        for row, _ in self.rows.items():
            cells = [f"**{self.cell_text(row, c)}**" if best.get(c) == row else self.cell_text(row, c)
                     for c in self.columns]
            lines.append("| " + " | ".join([row.replace("|", "\\|")] + cells) + " |")
        return "\n".join(lines)

    def _csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["model"] + [f"{t}:{m}{s}" for t, m in self.columns for s in ("", ":std")])
        for row, cells in self.rows.items():
            values: list[Any] = [row]
            for c in self.columns:
                cell = cells.get(c) or {}
                values += [_num(cell.get("mean")), _num(cell.get("std"))]
            writer.writerow(values)
        return out.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [{"model": row, **{f"{t}:{m}": cells.get((t, m)) for t, m in self.columns}}
                for row, cells in self.rows.items()]


def build(specs: Sequence[str | os.PathLike[str]], workspace: Workspace, *, tasks: Sequence[str] = (),
          baselines: bool = True, percent: bool = False) -> ComparisonTable:
    """The comparison table of the results named by ``specs`` (see :func:`result_files`), keeping
    only ``tasks`` when given. Baseline rows are labelled ``<baseline> [<run>]``; identical baseline
    results of several runs are shown once."""
    if not specs:
        raise ConfigError("compare needs at least one run or probe results file")
    table = ComparisonTable(percent=percent)
    seen_baselines: dict[str, str] = {}
    baseline_rows: list[tuple[str, str, str, dict[str, Any]]] = []
    for spec in specs:
        for path in result_files(spec, workspace):
            results = load_results(path)
            task = results["task"]
            if tasks and task not in tasks:
                continue
            for model in results["models"]:
                shown = SHOWN.get(results["kind"], tuple(model.get("summary", {})))
                if model.get("role") == "baseline":
                    if not baselines:
                        continue
                    fingerprint = json.dumps([task, model.get("summary")], sort_keys=True)
                    label = seen_baselines.setdefault(fingerprint, f"{model['name']} [{results.get('name', path.parent.parent.name)}]")
                    for metric in shown:
                        if metric in model.get("summary", {}):
                            baseline_rows.append((label, task, metric, model["summary"][metric]))
                    continue
                label = results.get("name") or path.parent.parent.name
                for metric in shown:
                    if metric in model.get("summary", {}):
                        table.add(label, task, metric, model["summary"][metric])
    for label, task, metric, cell in baseline_rows:
        table.add(label, task, metric, cell)
    if not table.rows:
        raise ConfigError(f"no probe results to compare{' for tasks ' + ', '.join(tasks) if tasks else ''}")
    return table


def run(specs: Sequence[str | os.PathLike[str]], *, workspace: Workspace, tasks: Sequence[str] = (),
        baselines: bool = True, fmt: str = "markdown", output: str | os.PathLike[str] | None = None,
        percent: bool = False) -> Report:
    """Build the comparison and, when ``output`` is given, write it there (format ``fmt``)."""
    table = build(specs, workspace, tasks=tasks, baselines=baselines, percent=percent)
    report = Report(stage="probe-compare", counts={"models": len(table.rows), "columns": len(table.columns)})
    if output is not None:
        report.outputs["table"] = str(write_text_atomic(output, table.render(fmt) + "\n"))
    report.details = table.records()
    return report


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _num(x: Any) -> str:
    return "" if not _finite(x) else f"{x:.6g}"
