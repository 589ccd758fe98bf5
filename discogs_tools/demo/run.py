"""`discogs-tools demo`: run pipelines/demo.toml, then say where everything is and how the
artist-association model scored against its random-weight twin on the demo's probe task."""

from __future__ import annotations

import json
from typing import Callable

from ..errors import DiscogsToolsError
from ..pipeline import load_pipeline, run_pipeline
from ..report import Report
from ..workspace import Workspace


def probe_summary(result_path) -> list[tuple[str, str, float, float]]:
    """(model, metric, mean, std) of every model in a probe result file: the primary metric, and
    for triplets also the accuracy of the frozen embeddings' own cosine distance (no probe training)."""
    data = json.loads(result_path.read_text())
    primary = data.get("primary_metric", "accuracy")
    out = []
    for model in data["models"]:
        for metric in (primary, "frozen_triplet_accuracy"):
            if metric in model["summary"]:
                s = model["summary"][metric]
                out.append((model["name"], metric, s["mean"], s["std"]))
    return out


def run_demo(ws: Workspace, *, force: bool = False, echo: Callable[[str], None] = print) -> Report:
    """Run the demo pipeline in ``ws`` and print its artifacts and probe scores."""
    ws.ensure()
    pipe = load_pipeline("demo", ws.root)
    report = run_pipeline(pipe, ws.root, force=force, echo=echo)
    variables = {"dataset": "demo", "run": "demo-artist"}
    run_dir = ws.runs / variables["run"]
    results = [run_dir / "probe" / f"{task}.json" for task in ("artist_triplets", "artist_group")]
    for result in results:
        if not result.exists():
            raise DiscogsToolsError(f"demo finished without probe results at {result}")
    artifacts = {
        "Discogs tables": ws.tables / "discogs",
        "collection, playlists, links": ws.tables,
        "dataset (tracks, labels, splits, report.json)": ws.dataset(variables["dataset"]),
        "pairs per association": ws.dataset(variables["dataset"]) / "pairs",
        "features": ws.features / variables["dataset"],
        "training run (metrics.jsonl, checkpoints)": run_dir,
        "probe results and plots": run_dir / "probe",
        "warehouse (try: discogs-tools sql --list)": ws.warehouse_path,
        "manifest": ws.manifest_path,
    }
    echo("")
    echo("Demo finished. Artifacts:")
    for what, path in artifacts.items():
        echo(f"  {what:46s} {path}")
    echo("")
    echo("Probes on held-out artists, artist-association model against its random-weight twin:")
    for result in results:
        echo(f"  {result.stem}:")
        for name, metric, mean, std in probe_summary(result):
            echo(f"    {name:30s} {metric} {mean:.3f} ± {std:.3f}")
            report.figures[f"{result.stem} {metric} [{name}]"] = round(mean, 4)
    return report
