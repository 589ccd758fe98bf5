"""A tiny MAEST trained end to end with the recipe's machinery (seed 004 sec. 6.3.1-6.3.2): input
statistics stored with the run, balanced epochs, the per-epoch schedule, SWA every N epochs, initial
weights from a PaSST-layout file; then ``embed`` writes (cls^n, dist^n, avg^n) stacks that ``probe`` reads."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch
from test_maest_init import passt_layout
from test_train_data import group_of, make_feature_set
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError
from discogs_tools.features.store import FeatureStore
from discogs_tools.io import read_table, write_table
from discogs_tools.train import checkpoint as ckpt_io
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.loop import run
from discogs_tools.train.schedules import warmup_constant_linear_lr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def styles_ws(ws):
    ids = make_feature_set(ws.features / "syn", n_groups=6, per_group=4, frames=(70, 140))
    styles = {g: [f"style{g}", "common"] for g in range(6)}
    schema = pa.schema([("track_id", pa.string()), ("styles", pa.list_(pa.string())), ("split", pa.string())])
    table = pa.table({"track_id": ids, "styles": [styles[group_of(t)] for t in ids],
                      "split": ["validation" if t.endswith("-3") else "train" for t in ids]}, schema=schema)
    write_table(ws.dataset("d") / "tracks", table, schema=schema)
    return ws, ids


def maest(run_name: str, **kw) -> TrainConfig:
    base = dict(run=run_name, features="syn", dataset="d", objective="classification", associations=(),  # noqa: C408
                backbone="maest", maest_width=16, maest_depth=2, maest_heads=2, embed_block=2, crop_frames=64,
                patchout_time=1, patchout_freq=1, epochs=3, batch_size=8, lr=1e-3, top_styles=7, seed=4,
                schedule="warmup_constant_linear", warmup_epochs=1, decay_start_epoch=1, decay_epochs=1, min_lr=1e-6,
                epoch_tracks=12, mixup_alpha=0.3, specaugment_time_masks=2, specaugment_freq_masks=1,
                swa_start=0, swa_every=2, weight_decay=1e-4)
    base.update(kw)
    return TrainConfig(**base)


def test_maest_run_stores_its_input_statistics_and_follows_the_recipe(styles_ws):
    ws, ids = styles_ws
    run(ws, maest("m"))
    store = FeatureStore(ws.features / "syn")
    train_ids = [t for t in ids if not t.endswith("-3")]
    values = np.concatenate([np.asarray(store.get(t), dtype=np.float64).ravel() for t in train_ids])
    stats = json.loads((ws.runs / "m" / "input_stats.json").read_text())
    assert stats["tracks"] == len(train_ids) and stats["values"] == values.size
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-9) and stats["std"] == pytest.approx(values.std(), rel=1e-9)
    last = ckpt_io.load(ws.runs / "m" / "checkpoints" / "last.pt")
    assert float(last["model"]["backbone.input_mean"]) == pytest.approx(stats["mean"], rel=1e-6)
    history = [json.loads(line) for line in (ws.runs / "m" / "metrics.jsonl").read_text().splitlines()]
    assert [h["pairs"] for h in history] == [12, 12, 12]  # the balanced sample of epoch_tracks tracks
    for h in history:
        assert h["lr"] == warmup_constant_linear_lr(h["epoch"], lr=1e-3, warmup_epochs=1, decay_start=1,
                                                    decay_epochs=1, min_lr=1e-6)
    swa = torch.load(ws.runs / "m" / "checkpoints" / "swa.pt", weights_only=False)
    assert swa["swa_averaged"] == 2  # epochs 0 and 2 (every 2 from 0)


def test_embed_writes_the_block_stack_and_its_variants(styles_ws):
    ws, ids = styles_ws
    run(ws, maest("m", epochs=1, swa_start=None))
    runner = CliRunner()
    common = ["--workspace", str(ws.root), "--device", "cpu"]
    res = runner.invoke(app, ["embed", "-c", "m", "--which", "last", "-o", str(ws.root / "e1"), *common])
    assert res.exit_code == 0, res.output
    table = read_table(ws.root / "e1")
    assert table.num_rows == len(ids) and len(table.column("embedding")[0].as_py()) == 3 * 16
    res = runner.invoke(app, ["embed", "-c", "m", "--which", "last", "-o", str(ws.root / "e2"), "--block", "1",
                              "--tokens", "avg", "--time-stride", "2", "--drop-freq", "0,8", *common])
    assert res.exit_code == 0, res.output
    assert len(read_table(ws.root / "e2").column("embedding")[0].as_py()) == 16
    res = runner.invoke(app, ["embed", "-c", "m", "--which", "last", "-o", str(ws.root / "e3"), "--block", "3", *common])
    assert res.exit_code != 0 and "block 3" in res.output


def test_initial_weights_from_a_passt_file_are_the_starting_point(styles_ws, tmp_path):
    ws, _ = styles_ws
    sd = {k: v for k, v in passt_layout().items()}
    # the tiny PaSST-layout file is 32 wide with 2 blocks: train that size, with LR 0 so weights stay
    path = tmp_path / "passt.pt"
    torch.save(sd, path)
    run(ws, maest("init", maest_width=32, epochs=1, lr=0.0, schedule="constant", mixup_alpha=0.0, swa_start=None,
                  init_weights=str(path)))
    model = ckpt_io.load(ws.runs / "init" / "checkpoints" / "last.pt")["model"]
    assert torch.equal(model["backbone.blocks.1.attn.qkv.weight"], sd["blocks.1.attn.qkv.weight"])
    assert model["backbone.time_new_pos_embed"].shape == (1, 32, 1, 5)  # 64 frames: 5 time patches
    manifest = json.loads((ws.root / "manifest.json").read_text())
    assert "passt" in json.dumps(manifest)
    with pytest.raises(ConfigError, match="missing blocks.0.attn.qkv.weight"):
        bad = dict(sd)
        del bad["blocks.0.attn.qkv.weight"]
        torch.save(bad, path)
        run(ws, maest("bad", maest_width=32, epochs=1, init_weights=str(path)))
    assert not (ws.runs / "bad").exists()


def test_track_embedding_is_the_mean_over_half_overlapped_segments_with_the_run_statistics(styles_ws):
    from discogs_tools.train.embed import embed_positions, load_backbone, patch_starts

    ws, _ = styles_ws
    run(ws, maest("seg", epochs=1, swa_start=None))
    backbone, _ = load_backbone(ws.runs / "seg" / "checkpoints" / "last.pt")
    store = FeatureStore(ws.features / "syn")
    pos = int(np.argmax(store.frames))            # the longest track: several 64-frame segments
    whole = np.asarray(store.rows(pos), dtype=np.float32)
    starts = patch_starts(len(whole), 64)
    assert starts == list(range(0, len(whole) - 64 + 1, 32)) and len(starts) >= 2
    segments = torch.from_numpy(np.stack([whole[s:s + 64] for s in starts])[:, None])
    backbone.eval()
    with torch.no_grad():
        expected = backbone.track_embedding(segments).mean(0).numpy()
    got = embed_positions(backbone, store, np.array([pos]), batch_size=3)[0]
    assert got.shape == (3 * 16,)
    assert np.allclose(got, expected, atol=1e-5)
    assert float(backbone.input_std) != 1.0  # the run's statistics came with the checkpoint


def test_same_seed_same_weights_and_a_resumed_run_equals_an_uninterrupted_one(styles_ws):
    ws, _ = styles_ws
    run(ws, maest("a", epochs=2, swa_start=0, swa_every=1))
    run(ws, maest("b", epochs=2, swa_start=0, swa_every=1))
    run(ws, maest("c", epochs=1, swa_start=0, swa_every=1))
    run(ws, maest("c", epochs=2, swa_start=0, swa_every=1), resume=True)
    states = {name: ckpt_io.load(ws.runs / name / "checkpoints" / "last.pt")["model"] for name in "abc"}
    for name in ("b", "c"):
        for key, value in states["a"].items():
            assert torch.equal(value, states[name][key]), f"{name}: {key}"
    swa = {name: torch.load(ws.runs / name / "checkpoints" / "swa.pt", weights_only=False)["model"] for name in "ac"}
    assert all(torch.equal(v, swa["c"][k]) for k, v in swa["a"].items())


def test_cli_options_reach_the_run_config(styles_ws):
    ws, _ = styles_ws
    res = CliRunner().invoke(app, [
        "train", "--run", "cli", "--features", "syn", "--dataset", "d", "--objective", "classification",
        "--backbone", "maest", "--maest-width", "16", "--maest-depth", "2", "--maest-heads", "2", "--embed-block", "1",
        "--embed-tokens", "avg,cls", "--crop-frames", "64", "--patchout-time", "2", "--patchout-freq", "1",
        "--init-weights", "random", "--epoch-tracks", "8", "--mixup-alpha", "0.3", "--specaugment-time-masks", "20",
        "--specaugment-freq-masks", "5", "--schedule", "warmup_constant_linear", "--warmup-epochs", "1",
        "--decay-start-epoch", "1", "--decay-epochs", "1", "--min-lr", "1e-7", "--lr", "1e-4", "--swa-start", "0",
        "--swa-every", "1", "--input-norm-tracks", "3", "--epochs", "1", "--batch-size", "4", "--top-styles", "7",
        "--device", "cpu", "--workspace", str(ws.root)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((ws.runs / "cli" / "config.json").read_text())
    assert cfg["init_weights"] is None and cfg["embed_tokens"] == ["avg", "cls"] and cfg["patchout_time"] == 2
    assert (cfg["epoch_tracks"], cfg["mixup_alpha"], cfg["specaugment_freq_masks"], cfg["swa_every"]) == (8, 0.3, 5, 1)
    assert json.loads((ws.runs / "cli" / "input_stats.json").read_text())["tracks"] == 3
    res = CliRunner().invoke(app, ["train", "--run", "bad", "--features", "syn", "--dataset", "d", "--backbone", "maest",
                                   "--maest-depth", "2", "--workspace", str(ws.root)])
    assert res.exit_code != 0 and "embed_block must be one of the 2 blocks" in res.output
