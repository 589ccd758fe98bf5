"""playlist-w2v: every split track that has a Word2Vec vector (through its playlist key) is
paired with itself; the trainer looks the anchor's vector up (datasets/<name>/word2vec/
vectors.parquet, or ``--word2vec PATH``) and aligns the audio embedding to it."""

from __future__ import annotations

from .base import PairContext, PairsResult
from .playlists import INDEX_TABLES, playlist_index, word2vec_tracks

NAME = "playlist-w2v"
# Table 5.1 of seed 004 (sec. 5.3.3; ICO: sec. 5.5): model, pair generation algorithm, whether
# the pairs differ each epoch.
TABLE_5_1 = ("Playlist W2V", "Word2Vec representation", False)
# Every collection track linked to the playlists takes part (see .playlists.playlist_index).
load_index = playlist_index
# Workspace tables the pairs are drawn from (their versions go into _pairs.json).
INPUT_TABLES = INDEX_TABLES


def generate(ctx: PairContext) -> PairsResult:
    tracks = word2vec_tracks(ctx.ws, ctx.index, ctx.word2vec_path)
    order = ctx.rng.permutation(tracks)
    return PairsResult(anchors=order, positives=order.copy(),
                       counts={"tracks_without_vector": ctx.index.n_tracks - int(tracks.size)})
