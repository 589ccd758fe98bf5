"""Every objective end to end on tiny data (multi-task, Word2Vec alignment, ICO with a stand-in
pair generator, style classification), stored pairs through the CLI, and ``embed``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.features.store import FeatureStore
from discogs_tools.io import read_table, write_table
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.data import Pairs
from discogs_tools.train.embed import load_backbone, patch_starts
from discogs_tools.train.loop import run
from discogs_tools.train.model import TrainModel
from discogs_tools.train.objectives import BilinearHead, ColaHead, SimClrHead, Word2VecHead
from test_train_data import GroupPairs, group_of, make_feature_set, write_stored_pairs


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def syn(ws):
    return ws, make_feature_set(ws.features / "syn", n_groups=6, per_group=4, frames=(40, 80))


def tiny(run_name: str, **kw) -> TrainConfig:
    base = dict(run=run_name, features="syn", associations=("artist",), backbone="small_cnn", cnn_width=8,
                epochs=1, batch_size=8, crop_frames=16)
    base.update(kw)
    return TrainConfig(**base)


def test_multitask_logs_one_loss_per_association(syn):
    ws, ids = syn
    report = run(ws, tiny("mt", objective="multitask", associations=("release", "artist")), source=GroupPairs(ids))
    assert np.isfinite(report.figures["train_loss"])
    import json

    entry = json.loads((ws.runs / "mt" / "metrics.jsonl").read_text().splitlines()[0])
    assert set(entry["task_loss"]) == {"release", "artist"}


def test_word2vec_alignment_via_playlist_links(syn):
    ws, ids = syn
    rng = np.random.default_rng(0)
    # vectors keyed by playlist track; links map collection tracks to them (g5-* have none)
    keys = [f"spotify:{t}" for t in ids if not t.startswith("g5")]
    pq.write_table(pa.table({"track_key": keys, "vector": [rng.normal(size=12).astype(np.float32).tolist() for _ in keys]}),
                   ws.root / "vectors.parquet")
    links_schema = pa.schema([("track_id", pa.string()), ("track_key", pa.string()), ("score", pa.float64()),
                              ("method", pa.string())])
    links = pa.table({"track_id": [k.split(":")[1] for k in keys], "track_key": keys, "score": [1.0] * len(keys),
                      "method": ["exact"] * len(keys)}, schema=links_schema)
    write_table(ws.table("links/track_playlist_tracks"), links, schema=links_schema)
    w2v_pairs = Pairs(ids, ids)  # playlist-w2v: positive == anchor

    class Source:
        def pairs(self, association, split, epoch):
            return w2v_pairs

    report = run(ws, tiny("w2v", objective="w2v", associations=("playlist-w2v",),
                          w2v_vectors=str(ws.root / "vectors.parquet")), source=Source())
    assert report.counts["skipped_train_pairs"] == 4  # the four g5 tracks have no vector
    assert np.isfinite(report.figures["train_loss"])


def test_ico_regenerates_pairs_each_epoch_from_the_model(syn):
    ws, ids = syn
    calls = []

    def nearest_neighbour_pairs(split, epoch, seed, embed):
        """Stand-in for the pairs library's ICO: pair each track with its most similar unused track."""
        got, emb = embed(ids)
        calls.append((split, epoch, emb.shape))
        sim = emb @ emb.T
        np.fill_diagonal(sim, -np.inf)
        used, anchors, positives = set(), [], []
        for i in np.random.default_rng([seed, epoch]).permutation(len(got)):
            if i in used:
                continue
            order = [j for j in np.argsort(-sim[i]) if j not in used and j != i]
            if order:
                used.update({i, order[0]})
                anchors.append(got[i])
                positives.append(got[order[0]])
        return Pairs(anchors, positives)

    run(ws, tiny("ico", objective="ico", associations=("playlist-ico",), epochs=2), ico_fn=nearest_neighbour_pairs)
    train_calls = [c for c in calls if c[0] == "train"]
    assert [c[1] for c in train_calls] == [0, 1]
    assert all(shape == (len(ids), 64) for _, _, shape in calls)


def test_style_classification_baseline(syn):
    ws, ids = syn
    styles = {g: [f"style{g}", "common"] for g in range(6)}
    schema = pa.schema([("track_id", pa.string()), ("styles", pa.list_(pa.string())), ("split", pa.string())])
    table = pa.table({"track_id": ids, "styles": [styles[group_of(t)] for t in ids],
                      "split": ["validation" if t.endswith("-3") else "train" for t in ids]}, schema=schema)
    write_table(ws.dataset("d") / "tracks", table, schema=schema)
    report = run(ws, tiny("cls", objective="classification", associations=(), dataset="d", top_styles=4))
    assert report.figures["val_top1"] is not None
    from discogs_tools.train import checkpoint as ckpt_io

    ck = ckpt_io.load(ws.runs / "cls" / "checkpoints" / "last.pt")
    assert ck["arch"]["n_styles"] == 4  # "common" plus the three first styles by (count, name)
    assert ck["model"]["heads.styles.classify.weight"].shape == (4, 64)


def test_cli_trains_on_stored_pairs_then_embeds(syn):
    ws, ids = syn
    write_stored_pairs(ws, "d", "artist", {split: {0: GroupPairs(members).pairs("artist", split, 0)}
                                           for split, members in (("train", ids), ("validation", ids[:12]))})
    runner = CliRunner()
    common = ["--workspace", str(ws.root)]
    res = runner.invoke(app, ["train", "--run", "cli", "--features", "syn", "--dataset", "d", "-a", "artist",
                              "--backbone", "small_cnn", "--cnn-width", "8", "--epochs", "2", "--batch-size", "8",
                              "--device", "cpu", *common])
    assert res.exit_code == 0, res.output
    assert "reusing stored epoch 0" in res.output
    res = runner.invoke(app, ["train", "--run", "cli", "--features", "syn", "--dataset", "d", *common])
    assert res.exit_code == 2 and "--resume or --force" in res.output
    res = runner.invoke(app, ["embed", "--checkpoint", "cli", "--which", "last", "--device", "cpu", *common])
    assert res.exit_code == 0, res.output
    table = read_table(ws.runs / "cli" / "embeddings" / "syn")
    assert table.column("track_id").to_pylist() == FeatureStore(ws.features / "syn").track_ids
    emb = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert emb.shape == (len(ids), 64)
    # the embedding is the mean of the backbone outputs over the track's half-overlapping patches
    backbone, _ = load_backbone(ws.runs / "cli" / "checkpoints" / "last.pt")
    backbone.eval()
    store = FeatureStore(ws.features / "syn")
    mel = store.get(ids[0]).astype(np.float32)
    starts = patch_starts(len(mel))
    patches = np.zeros((len(starts), 1, 128, 96), np.float32)
    for i, s in enumerate(starts):
        piece = mel[s:s + 128]
        patches[i, 0, :len(piece)] = piece
    with torch.no_grad():
        expected = backbone(torch.from_numpy(patches)).mean(0).numpy()
    assert np.allclose(emb[0], expected, atol=1e-5)


def test_patch_starts_half_overlap():
    assert patch_starts(100) == [0]
    assert patch_starts(128) == [0]
    assert patch_starts(300) == [0, 64, 128]
    assert patch_starts(320) == [0, 64, 128, 192]


def test_training_run_records_which_pairs_it_was_trained_on(syn):
    from discogs_tools import manifest

    ws, ids = syn
    write_stored_pairs(ws, "d", "artist", {"train": {0: GroupPairs(ids).pairs("artist", "train", 0)}})
    cfg = TrainConfig(run="prov", features="syn", dataset="d", objective="cola", associations=("artist",),
                      backbone="small_cnn", cnn_width=8, epochs=1, batch_size=8, crop_frames=16, seed=3)
    run(ws, cfg)
    made_from = manifest.get(ws.manifest_path, "train prov")["pairs_made_from"]
    from discogs_tools.io import table_info

    assert made_from["artist/train"]["dataset_version"] == table_info(ws.dataset("d") / "tracks")["dataset_version"]
    assert made_from["artist/train"]["epochs"] == [0]


# ---------------------------------------------------------------- heads as published (issue 12)


def test_cola_head_is_the_published_one():
    """Seed 000 sec. 4.2 / seed 004 sec. 4.3: dense 512, a normalisation layer (COLA's LayerNorm,
    epsilon 1e-3 as in its Keras implementation), tanh, bilinear a^T B p, cross-entropy."""
    head = ColaHead(16)
    linear, norm, act = head.project
    assert isinstance(linear, nn.Linear) and linear.out_features == 512
    assert isinstance(norm, nn.LayerNorm) and norm.eps == pytest.approx(1e-3)
    assert isinstance(act, nn.Tanh)
    assert head.bilinear.weight.shape == (512, 512)
    torch.manual_seed(0)
    a, p = torch.randn(6, 16), torch.randn(6, 16)
    loss, _, _ = head(a, p)
    za, zp = head.project(a), head.project(p)
    assert torch.allclose(loss, F.cross_entropy(za @ head.bilinear.weight @ zp.T, torch.arange(6)), atol=1e-6)


def test_cola_negatives_stay_within_the_device_batch():
    """Seed 000 sec. 4.2: each GPU scores its own 200-pair batch; the six batches only meet in the
    gradient. So the head never gathers the other ranks' positives."""
    from discogs_tools.train.distributed import DistInfo

    head = ColaHead(8, 4)
    fake = DistInfo(rank=1, world_size=2, local_rank=1)
    torch.manual_seed(1)
    a, p = torch.randn(3, 8), torch.randn(3, 8)
    assert torch.equal(head(a, p, fake)[0], head(a, p)[0])  # no gather: enabled dist would fail here


def test_simclr_projector_has_one_hidden_layer_of_simclr_hidden_units():
    """Seed 004 sec. 5.3.2 / 5.3.3: MLP, one hidden layer of 128 + ReLU, 128 outputs; NT-Xent tau 0.1."""
    cfg = tiny("s", objective="simclr", associations=("track",), simclr_hidden=24, simclr_dim=12, temperature=0.1)
    head = TrainModel(cfg).heads["track"]
    first, relu, last = head.project
    assert (first.out_features, last.in_features, last.out_features) == (24, 24, 12)
    assert isinstance(relu, nn.ReLU) and head.temperature == 0.1
    defaults = SimClrHead(32)
    assert (defaults.project[0].out_features, defaults.project[2].out_features) == (128, 128)


def test_word2vec_head_uses_two_mlp_projectors_and_ntxent():
    """Seed 004 sec. 5.2: H_y is a different projector with the same hyper-parameters as H_x;
    sec. 5.3.1: every setup is trained with SimCLR's NT-Xent."""
    torch.manual_seed(0)
    head = Word2VecHead(16, 10, dim=8, hidden=12, temperature=0.1)
    assert head.project[0].out_features == 12 and head.project_vector[0].in_features == 10
    a, v = torch.randn(4, 16), torch.randn(4, 10)
    loss, _, n = head(a, v)
    z = F.normalize(torch.cat([head.project(a), head.project_vector(v)]), dim=1)
    sim = z @ z.T / 0.1
    total = sum(-sim[i, (i + 4) % 8] + torch.logsumexp(sim[i, [k for k in range(8) if k != i]], 0) for i in range(8))
    assert n == 8 and loss.item() == pytest.approx((total / 8).item(), rel=1e-5)


def test_ico_objective_is_a_bilinear_layer_on_the_embedding_with_cross_entropy():
    """Seed 004 sec. 5.5.1: the MLP projector is replaced by H(z_a, z_c) = z_a^T W z_c on the
    latent representations, trained with plain cross-entropy."""
    model = TrainModel(tiny("i", objective="ico", associations=("playlist-ico",)))
    head = model.heads["playlist-ico"]
    assert isinstance(head, BilinearHead)
    d = model.backbone.embedding_dim
    assert head.bilinear.weight.shape == (d, d) and sum(p.numel() for p in head.parameters()) == d * d
    torch.manual_seed(0)
    za, zc = torch.randn(5, d), torch.randn(5, d)
    loss, _, _ = head(za, zc)
    assert torch.allclose(loss, F.cross_entropy(za @ head.bilinear.weight @ zc.T, torch.arange(5)), atol=1e-5)
    assert np.allclose(head.similarity_matrix(), head.bilinear.weight.detach().numpy())


def test_embed_feeds_a_fixed_length_backbone_patches_of_its_length(syn):
    """VGGish and flatten_fc heads take one patch length: embed must cut patches of it."""
    from discogs_tools.train.backbones import build_backbone
    from discogs_tools.train.embed import embed_positions

    ws, ids = syn
    store = FeatureStore(ws.features / "syn")
    backbone = build_backbone("small_cnn", 8, embedding_head="flatten_fc", embedding_dim=16, input_frames=24)
    emb = embed_positions(backbone, store, store.positions(ids[:3]), batch_size=4)
    assert emb.shape == (3, 16) and np.isfinite(emb).all()
