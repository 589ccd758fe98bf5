"""Real-world evaluation: match tracklists of one release against other releases of its master.

Releases of one Discogs master are the same recordings entered by different people, at
different times, from different pressings: the track titles, credits and durations of one
are real, independently written metadata for the tracks of the others (``"It's A Plane
Shame"`` on one CD, ``"It's A Plain Shame"`` on another; one release with durations, one
without; credits on the tracks or on the release). ``run(ws)`` builds, from the workspace's
``discogs/releases`` (e.g. the bundled 2020-08 sample, CC0):

- the *query* releases: for every master with two or more releases, the one with the lowest id;
  its tracks become collection rows, and the release is left out of the reference;
- the truth of a query track: the other releases of its master that carry a track with the
  same crude title key (letters and digits; :func:`.evaluate.crude_key`, not the normaliser
  under test), plus the reviewed exceptions in :data:`SAME_RECORDING` (typos between the
  entries); a query track on no other release (a bonus track of one edition) is a negative;
- held-out rows: a seeded share of the releases without a sibling (no master, or the only
  release of theirs) is left out of the reference and some of their tracks are queried; they
  are negatives unless another reference release carries the same artist and title (kind
  ``elsewhere``, e.g. a Beatles song also on a compilation: any such release is a true link,
  for query tracks too);
- two variants of every row, matched in one run: **in place** (artist, title, album, duration
  in their columns) and **mixed up** (issue 16's recipe: artist + title + album + genre +
  price + ``m:ss`` + release date in the title column, every other column empty).

A track is right when it is matched and its best link is a true release; precision, recall and
F1 are reported per variant and per kind of row. The collection goes through the real
``ingest collection`` and ``match`` stages with default settings.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from .. import manifest
from ..io import TableWriter, iter_batches, write_json_atomic
from ..report import Report
from ..schemas import load_schema
from ..workspace import Workspace
from .evaluate import crude_key, held_out, match_rows
from .index import discogs_track_rows
from .scoring import MatchConfig

SAME_RECORDING: dict[tuple[int, str], str] = {
    # (query release, crude title) -> crude title of the same recording on the sibling releases.
    # Reviewed by reading both tracklists of the 2020-08 sample (master 101332, Frampton Comes Alive!):
    (11058794, crude_key("Introduction / Somethin' Happening")): crude_key("Something's Happening"),
    (11058794, crude_key("Introduction / Somethin's Happening")): crude_key("Something's Happening"),
    (11058794, crude_key("It's A Plane Shame")): crude_key("It's A Plain Shame"),
}
"""Reviewed same-recording pairs whose titles differ beyond case and punctuation."""

PRICES = ("$0.99", "$1.29", "£0.79", "0,99 €", "$9.99", "1.29")
VARIANTS = ("in_place", "mixed_up")


def _mss(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def mixed_up_title(track: dict[str, Any], release: dict[str, Any], rng: random.Random) -> str:
    """Issue 16's mixed-up record: artist, title, album, genre, price, m:ss and date in one field."""
    genres = release.get("genres") or []
    parts = [track["artist"], track["title"], release.get("title"), genres[0] if genres else None,
             rng.choice(PRICES), _mss(track.get("duration_s")), (release.get("released") or "").strip() or None]
    return " ".join(p.strip() for p in parts if p and p.strip())


def build(releases: Path, reference_out: Path, *, seed: int = 0, holdout: float = 0.1,
          negatives: int = 150) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], int]:
    """Write the reference releases to ``reference_out``; return (collection rows, labels, reference releases)."""
    rng = random.Random(seed)
    schema = load_schema("discogs/releases")
    by_master: dict[int, list[int]] = defaultdict(list)
    for batch in iter_batches(releases, columns=["release_id", "master_id"], batch_size=5000):
        for r in batch.to_pylist():
            if r["master_id"] is not None:
                by_master[r["master_id"]].append(r["release_id"])
    siblings = {m: sorted(ids) for m, ids in by_master.items() if len(ids) > 1}
    query_ids = {ids[0] for ids in siblings.values()}
    sibling_ids = {i for ids in siblings.values() for i in ids}
    titles_on: dict[int, set[str]] = {}  # reference sibling release -> crude titles it carries
    by_artist_title: dict[tuple[str, str], set[int]] = defaultdict(set)  # every reference release of a track
    queries: list[tuple[dict[str, Any], dict[str, Any]]] = []
    held: list[tuple[dict[str, Any], dict[str, Any]]] = []
    n_ref = 0
    with TableWriter(reference_out, "discogs/releases") as out:
        for batch in iter_batches(releases, batch_size=1000):
            keep = []
            for release in batch.to_pylist():
                rid = release["release_id"]
                tracks = [t for t in discogs_track_rows(release) if t["artist"] and crude_key(t["artist"]) != "various"]
                if rid in query_ids:
                    queries.extend((t, release) for t in tracks)
                    continue
                if rid not in sibling_ids and held_out(rid, seed, holdout, salt="realworld:"):
                    held.extend((t, release) for t in tracks)
                    continue
                keep.append(release)
                if rid in sibling_ids:
                    titles_on[rid] = {crude_key(t["title"]) for t in tracks}
                for t in tracks:
                    by_artist_title[(crude_key(t["artist"]), crude_key(t["title"]))].add(rid)
            if keep:
                out.write(pa.Table.from_pylist(keep, schema=schema))
                n_ref += len(keep)
    rng.shuffle(held)
    rows: list[dict[str, Any]] = []
    labels: dict[str, dict[str, Any]] = {}
    sample = [("query", t, r) for t, r in queries] + [("held_out", t, r) for t, r in held[:negatives]]
    for i, (origin, track, release) in enumerate(sample):
        # Any reference release carrying the same artist and title (a compilation, another
        # master's reissue) is true too: those are the same recording as far as text can tell.
        truth: set[int] = set(by_artist_title.get((crude_key(track["artist"]), crude_key(track["title"])), set()))
        kind = "elsewhere" if truth else "held_out"
        if origin == "query":
            title = crude_key(track["title"])
            title = SAME_RECORDING.get((release["release_id"], title), title)
            on_sibling = {rid for rid in siblings[release["master_id"]][1:] if title in titles_on.get(rid, set())}
            truth |= on_sibling
            kind = ("same_text" if crude_key(track["title"]) in set().union(*(titles_on[r] for r in on_sibling))
                    else "other_text") if on_sibling else ("elsewhere" if truth else "not_on_sibling")
        base = {"source_release": release["release_id"], "position": track["position"], "artist": track["artist"],
                "title": track["title"], "album": release.get("title")}
        for variant in VARIANTS:
            tid = f"{variant}-{i:05d}"
            if variant == "in_place":
                rows.append({"track_id": tid, "artist": track["artist"], "title": track["title"],
                             "album": release.get("title"), "duration_s": track.get("duration_s")})
            else:
                rows.append({"track_id": tid, "artist": None, "title": mixed_up_title(track, release, rng),
                             "album": None, "duration_s": None})
            labels[tid] = {"variant": variant, "kind": kind, "truth": truth, "source": base}
    return rows, labels, n_ref


def _prf(tp: int, fp: int, n_pos: int) -> dict[str, Any]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / n_pos if n_pos else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp,
            "fn": n_pos - tp}


def score(labels: dict[str, dict[str, Any]], best: dict[str, dict[str, Any]], max_errors: int = 40) -> dict[str, Any]:
    """Precision / recall / F1 per variant, recall or false-match rate per kind; up to
    ``max_errors`` errors of each variant as examples, false matches first."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        ids = [t for t in sorted(labels) if labels[t]["variant"] == variant]
        tp = fp = n_pos = 0
        kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"rows": 0, "matched": 0, "right": 0, "positives": 0})
        errors: list[dict[str, Any]] = []
        for t in ids:
            lab, b = labels[t], best.get(t, {})
            matched = bool(b.get("matched"))
            ref = b.get("ref_id")
            right = matched and ref is not None and str(ref).isdigit() and int(ref) in lab["truth"]
            n_pos += bool(lab["truth"])
            tp += right
            fp += matched and not right
            k = kinds[lab["kind"]]
            k["rows"] += 1
            k["positives"] += bool(lab["truth"])
            k["matched"] += matched
            k["right"] += right
            if (matched and not right) or (lab["truth"] and not right):
                errors.append({"track_id": t, "kind": lab["kind"], "source": lab["source"],
                               "truth": sorted(lab["truth"]), "matched": matched,
                               "best": {k2: b.get(k2) for k2 in ("score", "ref_id", "ref_artist", "ref_title",
                                                                  "title_sim", "artist_sim")}})
        per_kind = {}
        for name, k in sorted(kinds.items()):
            if k["positives"]:  # a kind of rows with true releases: recall; else the false-match rate
                per_kind[name] = {"rows": k["rows"], "recall": round(k["right"] / k["positives"], 4)}
            else:
                per_kind[name] = {"rows": k["rows"], "false_match_rate": round(k["matched"] / k["rows"], 4)}
        out[variant] = {**_prf(tp, fp, n_pos), "rows": len(ids), "positives": n_pos, "by_kind": per_kind,
                        "errors": sorted(errors, key=lambda e: not e["matched"])[:max_errors]}
    return out


def summary_text(metrics: dict[str, Any]) -> str:
    lines = []
    for variant in VARIANTS:
        m = metrics[variant]
        lines.append(f"{variant}: precision {m['precision']:.4f}, recall {m['recall']:.4f}, F1 {m['f1']:.4f} "
                     f"({m['rows']} rows, {m['positives']} with a true release; tp {m['tp']}, fp {m['fp']}, "
                     f"fn {m['fn']})")
        lines.append("  by kind: " + ", ".join(
            f"{k} " + (f"recall {v['recall']:.3f}" if "recall" in v else f"false matches {v['false_match_rate']:.3f}")
            + f" (n={v['rows']})" for k, v in m["by_kind"].items()))
    return "\n".join(lines)


def run(ws: Workspace, *, out_dir: str | Path | None = None, seed: int = 0, holdout: float = 0.1,
        negatives: int = 150, config: MatchConfig | None = None) -> Report:
    """Build both variants from ``ws``'s discogs/releases, match them, and report the scores."""
    config = config or MatchConfig()
    releases = ws.require_table("discogs/releases", "discogs-tools ingest discogs DUMP")
    out = Path(out_dir) if out_dir else ws.runs / f"match-eval-same-master-seed{seed}"
    ev = Workspace(out / "workspace").ensure()
    rows, labels, n_ref = build(releases, ev.table("discogs/releases"), seed=seed, holdout=holdout,
                                negatives=negatives)
    if not any(lab["truth"] for lab in labels.values()):
        from ..errors import NothingUsableError

        raise NothingUsableError(f"{releases}: no master has two releases with a common track: "
                                 "nothing to evaluate (ingest a dump slice with sibling releases)")
    return evaluate_and_report(ws, ev, out, "same-master", rows, labels, n_ref, config,
                               {"seed": seed, "holdout": holdout, "negatives": negatives})


def evaluate_and_report(ws: Workspace, ev: Workspace, out: Path, name: str, rows: list[dict[str, Any]],
                        labels: dict[str, dict[str, Any]], n_ref: int, config: MatchConfig,
                        params: dict[str, Any], *, max_errors: int = 40) -> Report:
    """The common end of a real-world evaluation set: match ``rows`` against the reference in
    ``ev`` (both variants), score them against ``labels``, write ``out/eval.json`` atomically,
    and record the report (``match-eval <name>``) in ``ws``'s manifest with ``params``."""
    match_report, best = match_rows(ev, rows, out, config)
    metrics = score(labels, best, max_errors=max_errors)
    return record_eval(ws, ev, out, name, metrics, config, match_report, params,
                       sizes={"reference_releases": n_ref}, counts={"rows": len(rows), "reference_releases": n_ref},
                       summary=summary_text(metrics))


def record_eval(ws: Workspace, ev: Workspace, out: Path, name: str, metrics: dict[str, Any], config: MatchConfig,
                match_report: Report, params: dict[str, Any], *, sizes: dict[str, Any], counts: dict[str, int],
                summary: str) -> Report:
    """Write ``out/eval.json`` atomically (the set's ``params`` and ``sizes``, the config, the
    ``metrics`` of both variants, the match report's counts and figures) and record the report
    (``match-eval <name>``: ``counts``, precision / recall / F1 of both variants) in ``ws``'s manifest."""
    write_json_atomic(out / "eval.json", {"set": name, **params, **sizes, "config": config.to_dict(), **metrics,
                                          "match": {k: v for k, v in match_report.to_dict().items()
                                                    if k in ("counts", "figures")}})
    report = Report(stage=f"match-eval {name}")
    report.counts.update(counts)
    for variant in VARIANTS:
        for figure in ("precision", "recall", "f1"):
            report.figures[f"{variant}_{figure}"] = metrics[variant][figure]
    report.outputs.update({"eval": str(out / "eval.json"), "workspace": str(ev.root)})
    report.details.append({"summary": summary})
    manifest.record(ws.manifest_path, f"match-eval {name}", {**report.to_dict(), "params": {
        **params, **config.to_dict()}})
    return report
