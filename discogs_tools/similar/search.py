"""The k neighbours of a query that pass the filters, with their metadata and cosine distance.

The index is asked for more candidates than ``k`` when filters are active (or the query is a
track of the index, which is its own nearest neighbour), and for four times more each round until
``k`` pass or :data:`MAX_CANDIDATES` were looked at; then fewer than ``k`` are returned with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .filters import Filters
from .index import EmbeddingIndex
from .metadata import Metadata, TrackInfo
from .resolve import Query

MAX_CANDIDATES = 20_000
FIRST_ROUND_FACTOR = 8


@dataclass
class Neighbour:
    rank: int
    distance: float        # cosine distance, 1 - cosine similarity
    info: TrackInfo

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "distance": round(self.distance, 6), **self.info.to_dict()}


def neighbours(index: EmbeddingIndex, metadata: Metadata, query: Query, k: int = 10,
               filters: Filters = Filters()) -> list[Neighbour]:
    """Up to ``k`` nearest tracks passing ``filters``, nearest first (notes go to ``query.notes``)."""
    k = max(1, int(k))
    limit = min(len(index), MAX_CANDIDATES)
    fetch = min(limit, k * FIRST_ROUND_FACTOR if filters.active else k + 1)
    while True:
        keys, distances = index.search(query.vector, fetch)
        ids = index.track_ids(keys)
        infos = metadata.lookup(ids)
        out: list[Neighbour] = []
        for tid, dist in zip(ids, distances):
            if tid == query.track_id:
                continue
            info = infos.get(tid) or TrackInfo(track_id=tid)
            if filters.keep(info, query.info):
                out.append(Neighbour(len(out) + 1, float(dist), info))
                if len(out) == k:
                    return out
        if fetch >= limit:
            if len(out) < k and filters.active:
                query.notes.append(f"only {len(out)} of the {fetch:,} nearest tracks pass the filters")
            return out
        fetch = min(limit, fetch * 4)


def features_of(ws, run: str, table_name: str) -> str:
    """The feature set an embeddings table was computed from: the table is named after it
    (``embed`` names it ``<features>[-<dataset>][-<split>]``), else the run's own feature set."""
    from .source import run_features

    if (ws.features / table_name / "features.json").exists():
        return table_name
    return run_features(ws, run) or table_name


def find_similar(ws, text: str, *, run: str | None = None, embeddings: str | None = None, k: int = 10,
                 filters: Filters = Filters(), echo=None) -> tuple[Query, list[Neighbour]]:
    """Resolve ``text`` (track id, audio file, ``artist - title``) against the run's index (built
    first when missing or stale) and return it with its neighbours."""
    from functools import partial

    from .audio import embed_audio_file
    from .index import open_index
    from .resolve import resolve
    from .source import default_run

    run = run or default_run(ws)
    index = open_index(ws, run, embeddings=embeddings, echo=echo)
    metadata = Metadata(ws, echo=echo)
    try:
        table_name = index.folder.name
        query = resolve(text, index, metadata,
                        embed_file=partial(embed_audio_file, ws, run, features=features_of(ws, run, table_name)))
        return query, neighbours(index, metadata, query, k, filters)
    finally:
        metadata.close()
