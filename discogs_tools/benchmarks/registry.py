"""The benchmarks ``benchmark list`` shows and ``benchmark prepare`` reads, by name.

Each entry says what the benchmark needs under ``--root`` (its files as distributed), where it
is published, its task kind, and the sizes the seeds report for it (with the seed section), so
that a user can compare the counts of a prepared manifest with the papers' tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import dimsim, fma, gtzan, msd, mtat, mtg_jamendo
from .common import MULTICLASS, MULTILABEL, TRIPLETS, Loaded


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: name, task kind, files expected under ``--root``, where it is published,
    the reader, and the seeds' figures (``tracks``, ``classes``, ``where``)."""

    name: str
    kind: str
    needs: tuple[str, ...]
    published: str
    load: Callable[[Path], Loaded]
    description: str
    audio: str
    seed: dict[str, Any] = field(default_factory=dict)
    checksums: str = "none published"


def _mtg(subset: str, name: str, description: str, tracks: int, classes: int, avg: float) -> Benchmark:
    return Benchmark(
        name=name, kind=MULTILABEL, needs=tuple(mtg_jamendo.expected_files(subset)),
        published=mtg_jamendo.PUBLISHED, load=partial(mtg_jamendo.load, subset=subset, name=name),
        description=description, audio="--audio-root: the folder holding the NN/ subfolders of the full-track MP3s "
        "(PATH column, e.g. 14/214.mp3)",
        seed={"tracks": tracks, "classes": classes, "labels_per_track": avg,
              "where": "seed 004 sec. 4.3.3 Table 4.2 and sec. 6.3.3 Table 6.1"},
        checksums="per-track SHA-256 lists are published with the audio download scripts, not with split-0; not checked",
    )


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    _mtg("genre", "mtg-jamendo-genre", "MTG-Jamendo split-0 genre tags (87)", 55_215, 87, 2.44),
    _mtg("instrument", "mtg-jamendo-instrument", "MTG-Jamendo split-0 instrument tags (40)", 25_135, 40, 2.57),
    _mtg("moodtheme", "mtg-jamendo-moodtheme", "MTG-Jamendo split-0 mood/theme tags (56)", 18_486, 56, 1.77),
    _mtg("top50", "mtg-jamendo-top50", "MTG-Jamendo split-0 top-50 tags", 54_380, 50, 3.07),
    Benchmark(
        name="mtat", kind=MULTILABEL, needs=mtat.FILES, published=mtat.PUBLISHED, load=mtat.load,
        description="MagnaTagATune top-50 tags, 12:1:3 split by clip folder (0-b train, c validation, d-f test)",
        audio="--audio-root: the folder holding the 0..f clip folders of mp3.zip (mp3_path column)",
        seed={"tracks": 25_860, "classes": 50, "labels_per_track": 2.70,
              "where": "seed 004 sec. 4.3.3 Table 4.2 and sec. 6.3.3 Table 6.1"}),
    Benchmark(
        name="mtat-clean", kind=MULTILABEL, needs=mtat.CLEAN_FILES, published=mtat.PUBLISHED_CLEAN,
        load=mtat.load_clean,
        description="MagnaTagATune top-50, the clean split of the published clip lists (Lee et al. 2017 / Won et "
                    "al. 2020: clips with a top-50 tag, ~21k)",
        audio="--audio-root: the folder holding the 0..f clip folders of mp3.zip (paths of the lists)",
        seed={"tracks": 21_000, "classes": 50, "where": "seed 003 sec. 3.2.1, 'Data split' and 'Our solution': "
              "about 21k clips, the exact count is not given"}),
    Benchmark(
        name="fma-small", kind=MULTICLASS, needs=fma.FILES, published=fma.PUBLISHED, load=fma.load,
        description="FMA-small, 8 genres (track.genre_top), the authors' split (set.split)",
        audio="--audio-root: the fma_small folder (NNN/NNNNNN.mp3)",
        seed={"tracks": 8_000, "classes": 8, "where": "seed 004 sec. 4.3.3 Table 4.2"},
        checksums="SHA-1 of fma_metadata.zip and fma_small.zip (mdeff/fma README), verified when the zips are in --root"),
    Benchmark(
        name="gtzan", kind=MULTICLASS, needs=gtzan.FILES, published=gtzan.PUBLISHED, load=gtzan.load,
        description="GTZAN fault-filtered split (Kereliuk et al. lists), 10 genres",
        audio="--audio-root: the folder holding genre/genre.NNNNN.wav",
        seed={"classes": 10, "where": "seed 004 sec. 3.3.8 (Kereliuk et al. splits), sec. 3.3.1 table of datasets"}),
    Benchmark(
        name="msd", kind=MULTILABEL, needs=msd.LEE_FILES, published=msd.PUBLISHED_LEE, load=msd.load_lee,
        description="Million Song Dataset top-50 last.fm tags, the common split (Lee et al.)",
        audio="--audio-root: the folder of the 7digital clips (N/N/NNNNNNN.clip.mp3, from 7D_id_to_path.pkl)",
        seed={"tracks": 241_889, "classes": 50, "labels_per_track": 1.72, "where": "seed 004 sec. 6.3.3 Table 6.1"}),
    Benchmark(
        name="msd-cals", kind=MULTILABEL, needs=msd.CALS_FILES, published=msd.PUBLISHED_CALS, load=msd.load_cals,
        description="Million Song Dataset, CALS artist-level split (Won et al.), 50 tags",
        audio="--audio-root: the folder of A/B/C/<MSD id>.wav",
        seed={"tracks": 231_782, "classes": 50, "labels_per_track": 1.31, "where": "seed 004 sec. 6.3.3 Table 6.1"}),
    Benchmark(
        name="dim-sim", kind=TRIPLETS, needs=dimsim.FILES, published=dimsim.PUBLISHED, load=dimsim.load,
        description="dim-sim human similarity triplets, clean subset (all test; frozen cosine evaluation)",
        audio="--audio-root: the folder of <MSD track id>.mp3 (3-s clips at *_start_seconds)",
        seed={"tracks": 879, "unit": "triplets", "where": "seed 004 sec. 5.3.4 and Table 5.2"}),
)}


def register(benchmark: Benchmark) -> None:
    """Add a benchmark (the family modules call this on import)."""
    BENCHMARKS[benchmark.name] = benchmark


def names() -> list[str]:
    return list(BENCHMARKS)


def get(name: str) -> Benchmark:
    """The benchmark called ``name``; a one-line error listing the known names otherwise."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}") from None
