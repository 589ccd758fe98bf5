"""The probe on a real (tiny) trained run: the default embedder goes through the trainer's
checkpoint and ``embed`` library, and the random-weight baseline is the same architecture with a
seeded random initialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from discogs_tools.features.extract import settings_for
from discogs_tools.features.mel import MelFrontEnd
from discogs_tools.features.store import ShardWriter, write_settings
from discogs_tools.probe.backbone import ModelSource, default_embedder
from discogs_tools.probe.datasets import DatasetOptions
from discogs_tools.probe.embeddings import read_embeddings
from discogs_tools.probe.mlp import ProbeConfig
from discogs_tools.probe.run import run as probe
from discogs_tools.train.backbones import build_backbone
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.data import Pairs
from discogs_tools.train.loop import run as train

GROUPS, PER_GROUP, MELS = 4, 6, 96


class SameGroupPairs:
    """Pairs of tracks of the same group (seeded per epoch)."""

    def __init__(self, ids):
        self.ids = ids

    def pairs(self, association, split, epoch):
        rng = np.random.default_rng([epoch, split == "train"])
        anchors, positives = [], []
        for g in range(GROUPS):
            members = [t for t in self.ids if t.startswith(f"g{g}-")]
            order = rng.permutation(len(members))
            for a, p in zip(order[::2], order[1::2]):
                anchors.append(members[a])
                positives.append(members[p])
        return Pairs(anchors, positives)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A feature set whose groups have their own spectral signature, and a 1-epoch small-CNN run."""
    from discogs_tools.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("probe-backbone") / "workspace").ensure()
    root = ws.features / "syn"
    rng = np.random.default_rng(0)
    write_settings(root, settings_for(MelFrontEnd(), None))
    (root / "index").mkdir(parents=True)
    signatures = rng.uniform(0, 3, size=(GROUPS, MELS))
    writer = ShardWriter(root, 0, MELS)
    ids = []
    for g in range(GROUPS):
        for i in range(PER_GROUP):
            frames = int(rng.integers(40, 140))
            writer.add(f"g{g}-{i}", np.clip(signatures[g] + rng.normal(0, 0.3, (frames, MELS)), 0, None).astype(np.float32))
            ids.append(f"g{g}-{i}")
    writer.commit()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(ws, TrainConfig(run="tiny", features="syn", objective="cola", associations=("artist",),
                              backbone="small_cnn", cnn_width=8, epochs=1, batch_size=6, crop_frames=32, seed=1),
              source=SameGroupPairs(ids), echo=lambda _: None)
    finally:
        torch.set_num_threads(before)
    return ws, ids


def test_default_embedder_trained_and_random_weights(trained, tmp_path):
    ws, ids = trained
    source = ModelSource("run", ws.runs / "tiny", "tiny")
    outputs = {}
    for key, seed in (("trained", None), ("random-a", 5), ("random-b", 5), ("random-c", 6)):
        outputs[key] = tmp_path / f"{key}.parquet"
        default_embedder(source, ws.features / "syn", outputs[key], ids[:10] + ["not-in-features"], seed)
    emb = {k: read_embeddings(p) for k, p in outputs.items()}
    assert emb["trained"].ids == ids[:10]                  # tracks without features are simply absent
    assert emb["trained"].dim == emb["random-a"].dim == build_backbone("small_cnn", 8).embedding_dim
    assert np.array_equal(emb["random-a"].values, emb["random-b"].values)
    assert not np.allclose(emb["random-a"].values, emb["random-c"].values)
    assert not np.allclose(emb["trained"].values, emb["random-a"].values)


def test_probe_a_run_by_name_with_random_baseline(trained, tmp_path):
    ws, ids = trained
    manifest = tmp_path / "groups.csv"
    manifest.write_text("track_id,label\n" + "".join(f"{t},{'low' if t < 'g2' else 'high'}\n" for t in ids))
    report = probe(manifest, workspace=ws, models=["tiny"], seeds=1, plot=False,
                   config=ProbeConfig(hidden=16, epochs=3, batch_size=8),
                   options=DatasetOptions(fractions=(0.5, 0.2, 0.3)))
    results = json.loads(open(report.outputs["results"]).read())
    assert [m["name"] for m in results["models"]] == ["tiny", "random-init"]
    assert results["models"][1]["sources"][0]["random_init_seed"] == 0
    cached = sorted(p.name for p in (ws.runs / "tiny" / "probe" / "embeddings").glob("*.parquet"))
    assert cached == ["tiny.random-init-0.syn.parquet", "tiny.syn.parquet"]   # features taken from the run config


def test_random_twin_redraws_weights_but_keeps_maest_input_statistics():
    import torch

    from discogs_tools.probe.backbone import random_twin
    from discogs_tools.train.backbones import backbone_from_config
    from discogs_tools.train.config import TrainConfig

    cfg = TrainConfig(run="r", features="f", backbone="maest", crop_frames=100, maest_width=24, maest_depth=2,
                      maest_heads=2, embed_block=1)
    torch.manual_seed(0)
    trained = backbone_from_config(cfg)
    trained.set_input_stats(3.5, 2.25)          # computed by the toolkit from the training set
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        twin = random_twin(trained, cfg)
    assert (float(twin.input_mean), float(twin.input_std)) == (3.5, 2.25)
    weights = [n for n, _ in trained.named_parameters()]
    assert any(not torch.equal(dict(trained.named_parameters())[n], dict(twin.named_parameters())[n]) for n in weights)
