"""`discogs-tools demo`: run pipelines/demo.toml, then say where everything is, how the
artist-association model scored against its random-weight twin on the demo's probe tasks, and
one verdict line per probe metric (beats the twin by more than the seed spread, or not)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DiscogsToolsError
from ..pipeline import load_pipeline, run_pipeline
from ..report import Report
from ..workspace import Workspace


def probe_summary(result_path) -> list[tuple[str, str, float, float]]:
    """(model, metric, mean, std) of every model in a probe result file: the primary metric, and
    for triplets also the accuracy of the frozen embeddings' own cosine distance (no probe training)."""
    data = json.loads(Path(result_path).read_text(encoding="utf-8"))
    primary = data.get("primary_metric", "accuracy")
    out = []
    for model in data["models"]:
        for metric in (primary, "frozen_triplet_accuracy"):
            if metric in model["summary"]:
                s = model["summary"][metric]
                out.append((model["name"], metric, s["mean"], s["std"]))
    return out


@dataclass(frozen=True)
class Verdict:
    """Trained model against its random-weight twin on one probe metric, over the probe seeds."""

    task: str
    metric: str
    trained: float
    trained_std: float
    random: float
    random_std: float

    @property
    def margin(self) -> float:
        return self.trained - self.random

    @property
    def spread(self) -> float:
        """The seed spread: the two standard deviations added (a margin beyond it is not seed luck)."""
        return self.trained_std + self.random_std

    @property
    def beats(self) -> bool:
        return self.margin > self.spread

    def line(self) -> str:
        """One honest sentence, also when the trained model loses."""
        if self.beats:
            head = "trained model beats its random-weight twin"
        elif self.margin > 0:
            head = "trained model is ahead of its random-weight twin only within the seed spread"
        else:
            head = "trained model does NOT beat its random-weight twin"
        return (f"{self.task}: {head}: {self.metric} {self.trained:.4f} ± {self.trained_std:.4f} vs "
                f"{self.random:.4f} ± {self.random_std:.4f} (margin {self.margin:+.4f}, seed spread {self.spread:.4f})")


def probe_verdicts(result_path, model: str, baseline: str = "random-init") -> list[Verdict]:
    """A :class:`Verdict` per metric of :func:`probe_summary` that both ``model`` and ``baseline`` have."""
    scores = {(name, metric): (mean, std) for name, metric, mean, std in probe_summary(result_path)}
    out = []
    for (name, metric), (mean, std) in scores.items():
        if name == model and (baseline, metric) in scores:
            rmean, rstd = scores[baseline, metric]
            out.append(Verdict(Path(result_path).stem, metric, mean, std, rmean, rstd))
    return out


def run_demo(ws: Workspace | str | os.PathLike[str], *, force: bool = False, echo: Callable[[str], None] = print) -> Report:
    """Run the demo pipeline in ``ws`` (a Workspace or its path) and print its artifacts, probe
    scores and verdicts."""
    ws = Workspace.of(ws)
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
            echo(f"    {name:30s} {metric} {mean:.4f} ± {std:.4f}")
            report.figures[f"{result.stem} {metric} [{name}]"] = mean
    echo("")
    echo("Verdict (mean ± std over the probe seeds):")
    for result in results:
        for verdict in probe_verdicts(result, variables["run"]):
            echo(f"  {verdict.line()}")
            report.figures[f"{verdict.task} {verdict.metric} margin"] = verdict.margin
    _print_listen_hint(ws, variables, echo)
    return report


def _print_listen_hint(ws: Workspace, variables: dict[str, str], echo: Callable[[str], None]) -> None:
    """The last lines: one `similar` query on the demo's collection and how to open `serve`."""
    import shlex

    from ..io import read_table

    tracks = read_table(ws.table("collection/tracks"), columns=["track_id", "artist", "title"]).to_pylist()
    first = min((t for t in tracks if t["artist"] and t["title"]), key=lambda t: t["track_id"], default=None)
    if first is None:
        return
    run, where = variables["run"], shlex.quote(str(ws.root))
    echo("")
    echo("Listen to what the model learned (nearest tracks by cosine distance; docs/similarity.md):")
    echo(f"  discogs-tools similar {shlex.quote(first['artist'] + ' - ' + first['title'])} -k 5 -w {where}")
    echo(f"  discogs-tools serve -w {where}        # a local page: search, listen, map ({run})")
