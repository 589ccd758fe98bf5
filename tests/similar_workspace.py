"""A small real workspace for the similarity tests, built once per test session.

The bundled Discogs sample is ingested; the demo's generator writes a small collection of
synthetic audio for the sample's tracks (timbre follows the artist, groove the label), which is
ingested and matched to Discogs as a user's collection would be; log-mel features are computed,
a tiny CNN is trained one epoch on same-artist pairs, and ``embed`` writes the run's collection
embeddings: every stage ``similar`` reads, through the real library functions.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from discogs_tools.workspace import Workspace

RUN = "tiny-artist"
FEATURES = "simfeat"


class SameArtistPairs:
    """Pairs of tracks of the same artist tag (seeded per epoch)."""

    def __init__(self, by_artist: dict[str, list[str]]):
        self.groups = [ids for ids in by_artist.values() if len(ids) > 1]

    def pairs(self, association, split, epoch):
        from discogs_tools.train.data import Pairs

        rng = np.random.default_rng([epoch, split == "train"])
        anchors, positives = [], []
        for ids in self.groups:
            order = rng.permutation(len(ids))
            for a, p in zip(order[::2], order[1::2]):
                anchors.append(ids[a])
                positives.append(ids[p])
        return Pairs(anchors, positives)


def build(root: Path) -> Workspace:
    """Build (or reuse, when complete) the workspace under ``root``."""
    import torch

    from discogs_tools.collection.ingest import run as ingest_collection
    from discogs_tools.demo.synth import generate
    from discogs_tools.discogs.ingest import run as ingest_discogs
    from discogs_tools.features.extract import run as features
    from discogs_tools.io import read_table
    from discogs_tools.match.scoring import MatchConfig
    from discogs_tools.match.stage import run as match
    from discogs_tools.resources import sample_data_dir
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.embed import run as embed
    from discogs_tools.train.loop import run as train

    ws = Workspace(root / "workspace")
    done = root / "READY"
    if done.exists():
        return ws
    ws.ensure()
    ingest_discogs([sample_data_dir() / "discogs" / "xml2db_20200806"], ws, workers=0)
    inputs = root / "inputs"
    generate(ws, inputs, n_other_releases=0, tracks_per_release=1, duration_s=4.0, n_playlists=10, workers=1)
    ingest_collection(inputs / "collection" / "manifest.csv", ws)
    match(ws, "discogs", MatchConfig(weight_duration=0.0))
    features(ws, FEATURES, workers=1, mel="numpy")
    tracks = read_table(ws.table("collection/tracks"), columns=["track_id", "artist"]).to_pylist()
    by_artist: dict[str, list[str]] = defaultdict(list)
    for row in tracks:
        by_artist[row["artist"]].append(row["track_id"])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(ws, TrainConfig(run=RUN, features=FEATURES, objective="cola", associations=("artist",),
                              backbone="small_cnn", cnn_width=8, epochs=1, batch_size=8, crop_frames=64, seed=1),
              source=SameArtistPairs(by_artist), echo=lambda _: None)
        embed(ws, RUN, device="cpu")
    finally:
        torch.set_num_threads(before)
    done.write_text("ok\n")
    return ws
