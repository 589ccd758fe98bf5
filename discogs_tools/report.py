"""The Report every stage returns: what it read, wrote, rejected and measured.

The CLI prints it (a short table on a terminal) and stages store ``to_dict()`` in the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def float_text(value: float) -> str:
    """A float as a report prints it: up to 6 decimals (trailing zeros dropped), thousands grouped,
    and 6 significant digits below 1e-4, so that 0.9967 is not shown as 1.00 nor 1e-05 as 0.00."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value == 0 or abs(value) >= 1e-4:
        text = f"{value:,.6f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return f"{value:.6g}"


@dataclass
class Report:
    """Outcome of one stage run.

    ``counts``: integer tallies (records read, rows written, rejects, ...);
    ``outputs``: name -> path of what was written; ``figures``: measured values (seconds,
    MB/s, diversity, ...); ``details``: nested per-file or per-table summaries;
    ``warnings``: things the user should look at.
    """

    stage: str
    counts: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Plain-text summary, one fact per line."""
        out = [f"{self.stage}:"]
        for k, v in self.counts.items():
            out.append(f"  {k}: {v:,}" if isinstance(v, int) else f"  {k}: {v}")
        for k, v in self.figures.items():
            out.append(f"  {k}: {float_text(v)}" if isinstance(v, float) else f"  {k}: {v}")
        for k, v in self.outputs.items():
            out.append(f"  -> {k}: {v}")
        for w in self.warnings:
            out.append(f"  warning: {w}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())
