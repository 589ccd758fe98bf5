"""Standard downstream benchmarks read from their official files (``discogs-tools benchmark``).

One module per benchmark family reads the files as distributed (:mod:`.mtg_jamendo`, ...);
:mod:`.registry` names them; :mod:`.prepare` writes the probe task manifest that ``probe`` and
``ingest collection`` read unchanged. See docs/benchmarks.md.
"""

from __future__ import annotations

from .registry import BENCHMARKS, Benchmark, get, names

__all__ = ["BENCHMARKS", "Benchmark", "get", "names"]
