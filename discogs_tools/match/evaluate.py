"""Evaluation of ``match --against discogs`` on a labelled collection derived from real tracklists.

``run(ws)`` takes the workspace's ``discogs/releases`` table (e.g. the bundled dump samples
after ``ingest discogs``) and, in a separate evaluation workspace:

1. holds out a seeded share of the releases: their tracks are the *negatives* (tracks not in
   the reference at all); the other releases form the reference that is indexed;
2. samples positive tracks from the reference and derives collection rows from them with
   realistic differences (typos, ``feat.``, remaster suffixes, case, ``The``, ``&``/``and``,
   accents, missing album, durations a few seconds off), and the same for the negatives;
3. ingests that collection through the real ``ingest collection`` stage (a Parquet
   manifest) and runs the real ``match`` stage;
4. scores the result: a matched track is correct when its best link is one of its true
   releases (the source release, releases of the same master carrying the same title, and
   releases carrying the same artist and title). The truth uses a crude key of its own
   (lower case, letters and digits only), not the normaliser under test.

Negatives (see :func:`confusers`) include look-alikes: same title by another artist, same
artist with another song, and live versions of reference tracks.

Outputs precision, recall and F1 at the threshold, link precision, recall per kind of
difference, and the precision-recall curve over thresholds (``eval.json``).
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .. import manifest
from ..collection import ingest as collection_ingest
from ..errors import ConfigError
from ..io import TableWriter, atomic_path, iter_batches, read_table, write_json_atomic
from ..report import Report
from ..schemas import load_schema
from ..workspace import Workspace
from . import stage
from .index import discogs_track_rows
from .scoring import MatchConfig

PERTURBATIONS = ("title_typo", "artist_typo", "feat", "remaster", "case", "the", "and", "accents",
                 "missing_album", "duration_shift")
REMASTER_SUFFIXES = (" (Remastered 2011)", " - 2009 Remaster", " [Remastered]", " (2015 Remaster)",
                     " - Remastered Version")
THRESHOLDS = np.round(np.arange(0.50, 1.0001, 0.01), 2)


def crude_key(text: str | None) -> str:
    """Truth key, independent of the normaliser: lower case letters and digits only."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[\W_]+", "", "".join(c for c in text if not unicodedata.combining(c)))


def held_out(release_id: int, seed: int, share: float, salt: str = "") -> bool:
    """Whether a release is among the ``share`` held out of the index (a seeded hash of its id;
    ``salt`` keeps the draws of different evaluation sets apart)."""
    digest = hashlib.sha1(f"{salt}{seed}:{release_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


COLLECTION_SCHEMA = pa.schema([("track_id", pa.string()), ("artist", pa.string()), ("title", pa.string()),
                               ("album", pa.string()), ("duration_s", pa.float64())])


def match_rows(ev: Workspace, rows: list[dict[str, Any]], out: Path, config: MatchConfig,
               against: str = "discogs") -> tuple[Report, dict[str, dict[str, Any]]]:
    """The real stages on an evaluation collection: ``rows`` written as the manifest
    ``out/collection.parquet``, ingested into ``ev``, matched against its ``against`` index
    ("discogs" or "playlists"); returns the match report and the best candidate per track."""
    import pyarrow.parquet as pq

    manifest_path = out / "collection.parquet"
    with atomic_path(manifest_path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=COLLECTION_SCHEMA), tmp)
    collection_ingest.run(manifest_path, ev)
    match_report = stage.run(ev, against, config, rebuild_index=True)
    prefix = "playlist" if against == "playlists" else against
    return match_report, {r["track_id"]: r for r in read_table(ev.table(f"match/{prefix}_best")).to_pylist()}


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.choice(("swap", "drop", "double", "replace"))
    if kind == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind == "drop":
        w = w[:j] + w[j + 1:]
    elif kind == "double":
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + rng.choice("aeiourstln") + w[j + 1:]
    words[i] = w
    return " ".join(words)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def perturb(track: dict[str, Any], rng: random.Random, other_artists: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A collection row derived from a Discogs track with 0-3 realistic differences."""
    artist, title, album = track["artist"], track["title"], track["album"]
    duration = track["duration_s"]
    applied: list[str] = []
    kinds = rng.sample(PERTURBATIONS, rng.choice((0, 1, 1, 2, 2, 3)))
    # People mistype what they type; suffixes such as "- 2009 Remaster" come from stores, intact.
    for kind in sorted(kinds, key=lambda k: k not in ("title_typo", "artist_typo")):
        if kind == "title_typo":
            new = _typo(title, rng)
        elif kind == "artist_typo":
            new = _typo(artist, rng)
        elif kind == "feat":
            guest = re.sub(r" [(]\d+[)]$", "", rng.choice(other_artists) if other_artists else "Someone")
            if rng.random() < 0.5:
                title = f"{title} (feat. {guest})"
            else:
                artist = f"{artist} feat. {guest}"
            applied.append(kind)
            continue
        elif kind == "remaster":
            title = title + rng.choice(REMASTER_SUFFIXES)
            applied.append(kind)
            continue
        elif kind == "case":
            f = rng.choice((str.upper, str.lower, str.title))
            artist, title = f(artist), f(title)
            applied.append(kind)
            continue
        elif kind == "the":
            if artist.lower().startswith("the "):
                artist = artist[4:] if rng.random() < 0.5 else f"{artist[4:]}, The"
            elif artist.lower().endswith(", the"):
                artist = "The " + artist[:-5]
            else:
                continue
            applied.append(kind)
            continue
        elif kind == "and":
            new = artist.replace(" & ", " and ") if " & " in artist else artist.replace(" and ", " & ")
            if new == artist:
                continue
            artist = new
            applied.append(kind)
            continue
        elif kind == "accents":
            new_a, new_t = _strip_accents(artist), _strip_accents(title)
            if (new_a, new_t) == (artist, title):
                continue
            artist, title = new_a, new_t
            applied.append(kind)
            continue
        elif kind == "missing_album":
            album = None
            applied.append(kind)
            continue
        else:  # duration_shift
            if duration is None:
                continue
            duration = max(1.0, duration + rng.choice((-1, 1)) * rng.uniform(0.5, 4.0))
            applied.append(kind)
            continue
        if new != (title if kind == "title_typo" else artist):
            if kind == "title_typo":
                title = new
            else:
                artist = new
            applied.append(kind)
    if duration is None:  # real audio always has a duration; Discogs did not give one
        duration = float(rng.randint(120, 420))
    elif "duration_shift" not in applied:
        duration = duration + rng.uniform(-0.5, 0.5)  # decoders and tags round differently
    return {"artist": artist, "title": title, "album": album, "duration_s": round(duration, 3)}, applied


def _reservoir(sample: list, item: Any, seen: int, size: int, rng: random.Random) -> None:
    if len(sample) < size:
        sample.append(item)
    else:
        j = rng.randrange(seen)
        if j < size:
            sample[j] = item


def confusers(ref_sample: list[dict[str, Any]], held_sample: list[dict[str, Any]], positives: int, negatives: int,
              by_artist_title: dict[tuple[str, str], set[int]], by_title: dict[str, set[int]],
              rng: random.Random) -> list[dict[str, Any]]:
    """Negatives: tracks that are not in the reference, a third of them made to look close.

    - held-out tracks whose title is nowhere in the reference;
    - a reference title credited to another reference artist (same title, other artist);
    - a reference artist with a held-out title (same artist, other song);
    - a reference track as a live version (" (Live)", 30-90 s longer): another recording.
    ``ref_sample`` is shuffled; its first ``positives`` tracks are the positives and are not used.
    """
    rng.shuffle(ref_sample)
    spare = ref_sample[positives:] or ref_sample
    held = [r for r in held_sample if crude_key(r["title"]) not in by_title]
    out: list[dict[str, Any]] = []
    for i in range(negatives):
        kind = ("held_out", "held_out", "other_artist", "other_song", "live_version")[i % 5]
        base = dict(rng.choice(spare))
        if kind == "held_out" and held:
            row = held[len(out) % len(held)] if len(out) < len(held) else None
            if row is None:
                continue
            out.append({**row, "negative_kind": kind})
            continue
        if kind == "other_artist":
            other = rng.choice(spare)
            base["artist"] = other["artist"]
        elif kind == "other_song" and held:
            base["title"] = rng.choice(held)["title"]
        elif kind == "live_version":
            base["title"] = base["title"] + " (Live)"
            base["duration_s"] = (base["duration_s"] or 200.0) + rng.uniform(30, 90)
        else:
            continue
        if (crude_key(base["artist"]), crude_key(base["title"])) in by_artist_title:
            continue
        out.append({**base, "negative_kind": kind})
    return out


def run(ws: Workspace, *, out_dir: str | Path | None = None, positives: int = 1500, negatives: int = 300,
        holdout: float = 0.15, seed: int = 0, config: MatchConfig | None = None) -> Report:
    """Build the labelled set, match it, and report precision / recall / F1 and the PR curve."""
    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"--holdout must be in (0, 1), got {holdout}")
    config = config or MatchConfig()
    releases = ws.require_table("discogs/releases", "discogs-tools ingest discogs DUMP")
    out = Path(out_dir) if out_dir else ws.runs / f"match-eval-seed{seed}"
    ev = Workspace(out / "workspace").ensure()
    rng = random.Random(seed)
    # -- 1 and 2: split releases, sample tracks (reservoirs keep memory bounded)
    pos_sample: list[dict[str, Any]] = []
    neg_sample: list[dict[str, Any]] = []
    n_pos_seen = n_neg_seen = 0
    artists_seen: list[str] = []
    by_title: dict[str, set[int]] = {}  # crude title -> reference releases carrying it (for the truth)
    by_artist_title: dict[tuple[str, str], set[int]] = {}
    master_of: dict[int, int | None] = {}
    schema = load_schema("discogs/releases")
    with TableWriter(ev.table("discogs/releases"), "discogs/releases") as ref_out:
        for batch in iter_batches(releases, batch_size=1000):
            keep = []
            for release in batch.to_pylist():
                held = held_out(release["release_id"], seed, holdout)
                if not held:
                    keep.append(release)
                    master_of[release["release_id"]] = release.get("master_id")
                for row in discogs_track_rows(release):
                    if not row["artist"] or crude_key(row["artist"]) in ("various", ""):
                        continue
                    if held:
                        n_neg_seen += 1
                        _reservoir(neg_sample, row, n_neg_seen, negatives, rng)
                    else:
                        n_pos_seen += 1
                        _reservoir(pos_sample, row, n_pos_seen, positives + negatives, rng)
                        t = crude_key(row["title"])
                        by_title.setdefault(t, set()).add(row["release_id"])
                        by_artist_title.setdefault((crude_key(row["artist"]), t), set()).add(row["release_id"])
                        if len(artists_seen) < 5000:
                            artists_seen.append(row["artist"])
            if keep:
                ref_out.write(pa.Table.from_pylist(keep, schema=schema))
    neg_sample = confusers(pos_sample, neg_sample, positives, negatives, by_artist_title, by_title, rng)
    pos_sample = pos_sample[:positives]
    rows, labels = [], {}
    for kind, sample in (("pos", pos_sample), ("neg", neg_sample)):
        for i, track in enumerate(sample):
            derived, applied = perturb(track, rng, artists_seen)
            track_id = f"{kind}-{i:05d}"
            rows.append({"track_id": track_id, **derived})
            truth: set[int] = set()
            if kind == "pos":
                t = crude_key(track["title"])
                truth = {track["release_id"]} | by_artist_title.get((crude_key(track["artist"]), t), set())
                master = track["master_id"]
                if master is not None:
                    truth |= {r for r in by_title.get(t, set()) if master_of.get(r) == master}
            if kind == "neg":
                applied = [track["negative_kind"], *applied]
            labels[track_id] = {"positive": kind == "pos", "truth": truth, "applied": applied,
                                "source_release": track["release_id"], "source": track, "derived": derived}
    # -- 3: the real stages
    match_report, best = match_rows(ev, rows, out, config)
    # -- 4: scoring
    links = read_table(ev.table("links/track_releases")).to_pylist()
    metrics = score(labels, best, links, config.threshold, (config.min_title_sim, config.min_artist_sim))
    result = {"seed": seed, "holdout": holdout, "positives": len(pos_sample), "negatives": len(neg_sample),
              "config": config.to_dict(), **metrics,
              "match": {k: v for k, v in match_report.to_dict().items() if k in ("counts", "figures")},
              "errors": _errors(labels, best, config.threshold)}
    write_json_atomic(out / "eval.json", result)
    report = Report(stage="match-eval")
    report.counts.update({"positives": len(pos_sample), "negatives": len(neg_sample),
                          "reference_releases": len(master_of)})
    at = metrics["at_threshold"]
    report.figures.update({"threshold": config.threshold, "precision": at["precision"], "recall": at["recall"],
                           "f1": at["f1"], "link_precision": metrics["links"]["precision"],
                           "link_recall": metrics["links"]["recall"],
                           "best_recall_at_precision_0.98": metrics["best_recall_at_precision_0.98"]})
    report.outputs.update({"eval": str(out / "eval.json"), "workspace": str(ev.root)})
    report.details.append({"summary": summary_text(metrics)})
    target = at["precision"] >= 0.98 and at["recall"] >= 0.95
    if not target:
        report.warnings.append("target (precision >= 0.98 at recall >= 0.95) not reached at this threshold")
    manifest.record(ws.manifest_path, "match-eval", {**report.to_dict(), "params": {
        "seed": seed, "holdout": holdout, "positives": positives, "negatives": negatives, **config.to_dict()}})
    return report


def score(labels: dict[str, dict[str, Any]], best: dict[str, dict[str, Any]], links: list[dict[str, Any]],
          threshold: float, gates: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
    """Precision / recall / F1 at the threshold, over thresholds (PR curve), per difference kind, per link."""
    ids = sorted(labels)
    positive = np.array([labels[t]["positive"] for t in ids])
    # A best candidate that failed the title / artist gates can never be linked, whatever its score.
    gated = np.array([(best.get(t, {}).get("title_sim") or 0.0) >= gates[0]
                      and (best.get(t, {}).get("artist_sim") or 0.0) >= gates[1] for t in ids])
    scores = np.array([best.get(t, {}).get("score") if best.get(t, {}).get("score") is not None and g else -1.0
                       for t, g in zip(ids, gated)])
    correct = np.array([_ref_int(best.get(t, {}).get("ref_id")) in labels[t]["truth"] for t in ids])
    matched = np.array([bool(best.get(t, {}).get("matched")) for t in ids])

    def prf(pred: np.ndarray) -> dict[str, float]:
        tp = int(np.sum(pred & correct & positive))
        fp = int(np.sum(pred)) - tp
        n_pos = int(np.sum(positive))
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / n_pos if n_pos else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp,
                "fn": n_pos - tp}

    curve = [{"threshold": float(t), **prf(scores >= t)} for t in THRESHOLDS]
    ok = [c for c in curve if c["precision"] >= 0.98]
    best_point = max(ok, key=lambda c: (c["recall"], -c["threshold"])) if ok else None
    per_kind = {}
    for kind in (*PERTURBATIONS, "none"):
        sel = np.array([labels[t]["positive"] and ((kind in labels[t]["applied"]) if kind != "none"
                                                   else not labels[t]["applied"]) for t in ids])
        if sel.any():
            per_kind[kind] = {"tracks": int(sel.sum()), "recall": round(float(np.mean((matched & correct)[sel])), 4)}
    for kind in ("held_out", "other_artist", "other_song", "live_version"):
        sel = np.array([(not labels[t]["positive"]) and kind in labels[t]["applied"] for t in ids])
        if sel.any():
            per_kind[f"negative:{kind}"] = {"tracks": int(sel.sum()),
                                            "false_match_rate": round(float(np.mean(matched[sel])), 4)}
    link_ok = sum(1 for l in links if l["release_id"] in labels[l["track_id"]]["truth"])
    truth_total = sum(len(v["truth"]) for v in labels.values())
    found = {(l["track_id"], l["release_id"]) for l in links}
    truth_found = sum(1 for t, v in labels.items() for r in v["truth"] if (t, r) in found)
    return {
        "at_threshold": {"threshold": threshold, **prf(matched)},
        "best_recall_at_precision_0.98": best_point,
        "pr_curve": curve,
        "recall_by_difference": per_kind,
        "links": {"links": len(links), "precision": round(link_ok / len(links), 4) if links else 1.0,
                  "recall": round(truth_found / truth_total, 4) if truth_total else 0.0,
                  "true_releases_per_positive": round(truth_total / max(1, int(positive.sum())), 3)},
    }


def _ref_int(ref: Any) -> int | None:
    try:
        return int(ref)
    except (TypeError, ValueError):
        return None


def _errors(labels: dict[str, dict[str, Any]], best: dict[str, dict[str, Any]], threshold: float,
            limit: int = 40) -> dict[str, list[dict[str, Any]]]:
    """Examples of false positives and misses, for reading."""
    fps, fns = [], []
    for t in sorted(labels):
        lab, b = labels[t], best.get(t, {})
        ok = _ref_int(b.get("ref_id")) in lab["truth"]
        entry = {"track_id": t, "derived": lab["derived"], "applied": lab["applied"],
                 "source": {k: lab["source"][k] for k in ("release_id", "artist", "title", "duration_s")},
                 "best": {k: b.get(k) for k in ("score", "ref_id", "ref_artist", "ref_title", "title_sim",
                                                "artist_sim", "duration_diff_s")}}
        if b.get("matched") and not (lab["positive"] and ok):
            fps.append(entry)
        elif lab["positive"] and not (b.get("matched") and ok):
            fns.append(entry)
    return {"false_positives": fps[:limit], "misses": fns[:limit]}


def summary_text(metrics: dict[str, Any]) -> str:
    at = metrics["at_threshold"]
    lines = [f"at threshold {at['threshold']:.2f}: precision {at['precision']:.4f}, recall {at['recall']:.4f}, "
             f"F1 {at['f1']:.4f} (tp {at['tp']}, fp {at['fp']}, fn {at['fn']})",
             f"links: precision {metrics['links']['precision']:.4f}, recall {metrics['links']['recall']:.4f}",
             "threshold precision recall f1"]
    for c in metrics["pr_curve"][::5]:
        lines.append(f"  {c['threshold']:.2f}  {c['precision']:.4f}  {c['recall']:.4f}  {c['f1']:.4f}")
    by = metrics["recall_by_difference"]
    lines.append("recall by difference: " + ", ".join(f"{k} {v['recall']:.3f} (n={v['tracks']})"
                                                       for k, v in by.items() if "recall" in v))
    lines.append("false matches among negatives: " + ", ".join(
        f"{k.split(':')[1]} {v['false_match_rate']:.3f} (n={v['tracks']})" for k, v in by.items() if ":" in k))
    return "\n".join(lines)
