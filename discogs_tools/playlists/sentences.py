"""Playlists as sentences: a restartable iterable streaming track keys from playlists/playlist_tracks.

The table is grouped by playlist and sorted by pos (its contract), so a playlist is a run of
consecutive rows with the same playlist_id; nothing but one batch and the current playlist is
held in memory. gensim iterates the corpus once per epoch, so iteration restarts from the
first Parquet part each time.

gensim's Cython loop silently truncates a sentence at 10,000 tokens (MAX_WORDS_IN_BATCH);
longer playlists are therefore cut into consecutive chunks of at most ``max_length`` tokens,
and :meth:`PlaylistSentences.scan` counts them so the caller can warn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow.compute as pc

from ..io import iter_batches

GENSIM_MAX_SENTENCE = 10_000


@dataclass
class CorpusScan:
    """One pass over the corpus: sentence and token counts, the longest sentence after splitting,
    and how many playlists had to be split."""

    playlists: int = 0
    sentences: int = 0
    tokens: int = 0
    max_playlist_length: int = 0
    max_sentence_length: int = 0
    split_playlists: int = 0


class PlaylistSentences:
    """Iterable of lists of track keys, one per playlist (or per chunk of a long playlist)."""

    def __init__(self, table: str | Path, max_length: int = GENSIM_MAX_SENTENCE, batch_size: int = 131_072) -> None:
        if not 1 <= max_length <= GENSIM_MAX_SENTENCE:
            raise ValueError(f"max_length must be in 1..{GENSIM_MAX_SENTENCE}")
        self.table = Path(table)
        self.max_length = max_length
        self.batch_size = batch_size

    def playlists(self) -> Iterator[list[str]]:
        """Whole playlists (unsplit), in table order."""
        current_id: str | None = None
        current: list[str] = []
        for batch in iter_batches(self.table, columns=["playlist_id", "track_key"], batch_size=self.batch_size):
            ids = batch.column(0)
            keys = batch.column(1).to_pylist()
            n = len(keys)
            if n == 0:
                continue
            changed = pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
            starts = np.r_[0, np.flatnonzero(changed) + 1, n]
            first_id = ids[0].as_py()
            for i in range(len(starts) - 1):
                run_id = first_id if i == 0 else ids[int(starts[i])].as_py()
                run = keys[int(starts[i]):int(starts[i + 1])]
                if run_id == current_id:
                    current.extend(run)
                else:
                    if current:
                        yield current
                    current_id, current = run_id, run
        if current:
            yield current

    def __iter__(self) -> Iterator[list[str]]:
        limit = self.max_length
        for tokens in self.playlists():
            if len(tokens) <= limit:
                yield tokens
            else:
                for start in range(0, len(tokens), limit):
                    yield tokens[start:start + limit]

    def scan(self) -> CorpusScan:
        """Count playlists, sentences and tokens, and find the longest ones (one pass)."""
        scan = CorpusScan()
        limit = self.max_length
        for tokens in self.playlists():
            n = len(tokens)
            scan.playlists += 1
            scan.tokens += n
            scan.max_playlist_length = max(scan.max_playlist_length, n)
            if n > limit:
                scan.split_playlists += 1
                scan.sentences += -(-n // limit)
                scan.max_sentence_length = limit
            else:
                scan.sentences += 1
                scan.max_sentence_length = max(scan.max_sentence_length, n)
        return scan
