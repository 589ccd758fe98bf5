"""Search over stacks of embeddings (``discogs-tools probe --stack-search K``; seed 000 sec. 4.5).

Seed 000 sec. 4.5 evaluates "all the possible combinations of the four contrastive models plus the
model trained on tags on MTAT considering two, three, four, and five embeddings", a stack being the
embeddings concatenated as the MLP's input; Table 4 lists the top 5 "sorted according to the
ROC-AUC values". Here every combination of 2..K of the given models (in the order given, and each
stack concatenated in that order) is probed with :func:`discogs_tools.probe.run.run` under the same
protocol, settings, split and seeds, so each has its own results file
(``runs/<A+B+...>/probe/<task>.json``, readable by ``probe-compare``), and a ranked summary goes to

    runs/<name>/probe/<task>-stacks.json   every combination: rank, models, summary, results path
    runs/<name>/probe/<task>-stacks.md     the Table-4 layout: one check column per model

ranked by the task's primary metric (ROC-AUC for tagging as in Table 4; balanced accuracy for
``5-fold``; accuracy for multi-class; triplet accuracy), best mean first, ties in combination
order. Under ``--protocol 5-fold`` each row also gets its corrected rank (seed 004 sec. 3.3.4,
used for the combinations of sec. 3.3.6: the rank of the best combination not significantly
different from it, :func:`discogs_tools.probe.folds.corrected_ranks`). ``<name>`` defaults to ``stacks-`` + every model's name joined by ``+``. The combinations
are probed without a random-weight baseline (Table 4 has none; probe the single models for it).
Nothing random is drawn here: a rerun with the same inputs and seed rewrites the same bytes.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..io import write_json_atomic, write_text_atomic
from ..report import Report
from ..workspace import Workspace
from .backbone import resolve_source
from .folds import corrected_ranks
from .run import METRICS, run, safe_name


def combinations(models: Sequence[Any], max_size: int) -> list[tuple[int, ...]]:
    """Indices of every combination of 2..``max_size`` of ``models``: by size, then in the order
    the models were given (``itertools.combinations``)."""
    if max_size < 2:
        raise ConfigError(f"--stack-search needs at least 2 models per stack, got {max_size}")
    if max_size > len(models):
        raise ConfigError(f"--stack-search {max_size} needs at least {max_size} models (-m), got {len(models)}")
    return [c for k in range(2, max_size + 1) for c in itertools.combinations(range(len(models)), k)]


def stack_search(
    dataset: str | os.PathLike[str],
    *,
    workspace: Workspace,
    models: Sequence[str | os.PathLike[str]],
    max_size: int,
    name: str | None = None,
    task: str | None = None,
    **run_options: Any,
) -> Report:
    """Probe every combination of 2..``max_size`` of ``models`` (``run_options`` go to
    :func:`~discogs_tools.probe.run.run` unchanged, except ``baseline``, which is off) and write
    the ranked summary; see the module docstring."""
    combos = combinations(models, max_size)
    labels = [resolve_source(m, workspace).label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--stack-search: two models have the same name {labels}; give distinct files or runs")
    name = safe_name(name or "stacks-" + "+".join(labels))
    run_options = {**run_options, "baseline": False}
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    warnings: list[str] = []
    for combo in combos:
        report = run(dataset, workspace=workspace, models=[models[i] for i in combo], task=task, **run_options)
        results = json.loads(Path(report.outputs["results"]).read_text(encoding="utf-8"))
        model = results["models"][0]
        warnings += [w for w in report.warnings if "baseline" not in w]
        rows.append({"models": [labels[i] for i in combo], "dim": model["dim"], "summary": model["summary"],
                     "results": report.outputs["results"]})
    metric = results["primary_metric"]
    shown = [metric] + [m for m in METRICS[results["kind"]][:2] if m != metric]

    def key(i: int) -> tuple[float, int]:
        mean = rows[i]["summary"][metric]["mean"]
        return (-mean if mean is not None and not math.isnan(mean) else math.inf, i)

    ranked = [{"rank": r + 1, **rows[i]} for r, i in enumerate(sorted(range(len(rows)), key=key))]
    folded = bool(results["params"]["protocol"].get("folds"))
    if folded:  # seed 004 sec. 3.3.4 / 3.3.6 (Figure 3.2): corrected ranks of the combinations
        stats = {str(i): (r["summary"][metric]["mean"], r["summary"][metric]["std"], r["summary"][metric]["n"])
                 for i, r in enumerate(ranked)}
        for i, (_, corrected) in corrected_ranks(stats).items():
            ranked[int(i)]["corrected_rank"] = corrected
    out_dir = workspace.runs / name / "probe"
    stem = f"{results['task']}-stacks"
    summary = {"task": results["task"], "kind": results["kind"], "name": name, "metric": metric,
               "max_size": max_size, "models": labels, "params": results["params"], "combinations": ranked}
    json_path = write_json_atomic(out_dir / f"{stem}.json", summary)
    md_path = write_text_atomic(out_dir / f"{stem}.md", render_markdown(ranked, labels, shown, folded))
    report = Report(stage="probe stacks")
    report.outputs.update({"summary": str(json_path), "table": str(md_path)})
    report.counts.update({"models": len(labels), "combinations": len(ranked)})
    for row in ranked[:5]:
        s = row["summary"][metric]
        report.figures[f"#{row['rank']} {'+'.join(row['models'])} {metric}"] = f"{s['mean']:.4f} ± {s['std']:.4f}"
    report.warnings = sorted(set(warnings))
    return report


def render_markdown(ranked: list[dict[str, Any]], labels: list[str], metrics: list[str],
                    corrected: bool = False) -> str:
    """The Table-4 layout: rank (and corrected rank), a check mark per model in the stack, then
    ``mean ± std`` per metric."""
    head = ["rank", *(["corrected rank"] if corrected else []), *labels, *metrics]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for row in ranked:
        marks = ["✓" if m in row["models"] else "" for m in labels]
        cells = [f"{row['summary'][m]['mean']:.4f} ± {row['summary'][m]['std']:.4f}" for m in metrics]
        ranks = [str(row["rank"]), *([str(row["corrected_rank"])] if corrected else [])]
        lines.append("| " + " | ".join([*ranks, *marks, *cells]) + " |")
    return "\n".join(lines) + "\n"
