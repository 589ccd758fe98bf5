"""The match report: matched share, links per track, score histograms, near misses.

Accumulated chunk by chunk (bounded memory: histograms and a fixed-size heap of the
unmatched tracks with the highest best-candidate scores), so a user can see where the
threshold cuts and which tracks just missed it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCORE_BINS = np.round(np.linspace(0.0, 1.0, 21), 2)
LINK_BUCKETS = ((0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 50), (51, None))


def _bucket_name(lo: int, hi: int | None) -> str:
    return str(lo) if lo == hi else (f"{lo}+" if hi is None else f"{lo}-{hi}")


@dataclass
class MatchSummary:
    """Running totals of one match run."""

    keep_unmatched: int = 50
    tracks: int = 0
    matched: int = 0
    links: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    links_per_track: dict[str, int] = field(default_factory=lambda: {_bucket_name(*b): 0 for b in LINK_BUCKETS})
    link_scores: np.ndarray = field(default_factory=lambda: np.zeros(len(SCORE_BINS) - 1, dtype=np.int64))
    best_scores: np.ndarray = field(default_factory=lambda: np.zeros(len(SCORE_BINS) - 1, dtype=np.int64))
    no_candidate: int = 0
    _near: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, links: list[dict[str, Any]], best: list[dict[str, Any]]) -> None:
        self.links += len(links)
        for link in links:
            self.methods[link["method"]] = self.methods.get(link["method"], 0) + 1
        if links:
            self.link_scores += np.histogram([l["score"] for l in links], bins=SCORE_BINS)[0]
        scores = [b["score"] for b in best if b.get("score") is not None]
        if scores:
            self.best_scores += np.histogram(scores, bins=SCORE_BINS)[0]
        for b in best:
            self.tracks += 1
            n = b["n_links"]
            self.matched += bool(b["matched"])
            for lo, hi in LINK_BUCKETS:
                if n >= lo and (hi is None or n <= hi):
                    self.links_per_track[_bucket_name(lo, hi)] += 1
                    break
            if b.get("score") is None:
                self.no_candidate += 1
            elif not b["matched"]:
                item = (b["score"], b["track_id"], b)
                if len(self._near) < self.keep_unmatched:
                    heapq.heappush(self._near, item)
                elif item[:2] > self._near[0][:2]:
                    heapq.heapreplace(self._near, item)

    def unmatched_best(self) -> list[dict[str, Any]]:
        """Unmatched tracks with the highest best-candidate scores, best first."""
        return [b for _, _, b in sorted(self._near, key=lambda x: (-x[0], x[1]))]

    def to_dict(self) -> dict[str, Any]:
        bins = [f"{SCORE_BINS[i]:.2f}-{SCORE_BINS[i + 1]:.2f}" for i in range(len(SCORE_BINS) - 1)]
        return {
            "tracks": self.tracks,
            "matched": self.matched,
            "matched_share": round(self.matched / self.tracks, 4) if self.tracks else 0.0,
            "links": self.links,
            "links_per_matched_track": round(self.links / self.matched, 3) if self.matched else 0.0,
            "links_by_method": dict(sorted(self.methods.items())),
            "links_per_track_histogram": self.links_per_track,
            "link_score_histogram": dict(zip(bins, self.link_scores.tolist())),
            "best_score_histogram": dict(zip(bins, self.best_scores.tolist())),
            "unmatched_without_candidate": self.no_candidate,
            "unmatched_best_candidates": self.unmatched_best(),
        }

    def text(self) -> str:
        """Human-readable lines (histograms as bars) for the terminal."""
        d = self.to_dict()
        lines = [f"matched {d['matched']:,} of {d['tracks']:,} tracks ({d['matched_share']:.1%}); "
                 f"{d['links']:,} links, {d['links_per_matched_track']} per matched track; by method "
                 + ", ".join(f"{k} {v:,}" for k, v in d["links_by_method"].items())]
        lines.append("links per track: " + ", ".join(f"{k}: {v:,}" for k, v in d["links_per_track_histogram"].items()))
        lines.append("best-candidate score per track:")
        top = max(self.best_scores.max(initial=0), 1)
        for name, count in d["best_score_histogram"].items():
            if count:
                lines.append(f"  {name} {count:>8,} {'#' * max(1, int(40 * count / top))}")
        near = d["unmatched_best_candidates"][:10]
        if near:
            lines.append("closest unmatched (score: track -> candidate):")
            for b in near:
                lines.append(f"  {b['score']:.3f}: {b['track_id']} -> {b.get('ref_artist')} - {b.get('ref_title')}"
                             f" [{b.get('ref_id') or ''}]")
        return "\n".join(lines)
