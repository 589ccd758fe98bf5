"""Checkpoints load with torch.load(weights_only=True) (no pickled code), and `export` writes a
run's backbone alone, which rebuilds into a module giving the same embeddings."""

from __future__ import annotations

import numpy as np
import torch
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.train import checkpoint as ckpt_io
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.model import TrainModel


def tiny_run(ws, name: str = "tiny") -> tuple[TrainModel, object]:
    """A training checkpoint as the loop writes it (model, optimizer, history, RNG states)."""
    torch.manual_seed(0)
    cfg = TrainConfig(run=name, features="f", backbone="small_cnn", cnn_width=4, associations=("artist",))
    model = TrainModel(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    np.random.seed(3)
    np.random.random(5)  # a NumPy RNG state that is not the initial one
    payload = {"config": cfg.to_dict(), "arch": model.signature, "model": model.state_dict(),
               "optimizer": optimizer.state_dict(), "epoch": 1, "best_val": np.float64(2.5),
               "history": [{"epoch": 0, "train_loss": np.float32(2.7), "lr": 1e-3}], "rng": ckpt_io.rng_state()}
    path = ws.runs / name / "checkpoints" / "best.pt"
    ckpt_io.save(path, payload)
    return model, path


def test_a_checkpoint_loads_with_weights_only_and_restores_the_numpy_rng(ws):
    _model, path = tiny_run(ws)
    expected = np.random.random(3)  # what follows the saved state
    data = torch.load(path, weights_only=True)
    assert data["epoch"] == 1 and data["best_val"] == 2.5 and isinstance(data["history"][0]["train_loss"], float)
    np.random.seed(99)
    ckpt_io.restore_rng(ckpt_io.load(path)["rng"])
    assert np.array_equal(np.random.random(3), expected)


def test_an_older_checkpoint_with_a_numpy_rng_array_still_loads(ws, tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": ckpt_io.FORMAT, "model": {}, "rng": {"numpy": np.random.get_state()}}, path)
    assert isinstance(ckpt_io.load(path)["rng"]["numpy"], tuple)


def test_export_writes_the_backbone_alone_and_it_embeds_like_the_run(ws, tmp_path):
    model, _path = tiny_run(ws)
    out = tmp_path / "backbone.pt"
    result = CliRunner().invoke(app, ["export", "tiny", "-o", str(out), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    data = torch.load(out, weights_only=True)
    assert data["format"] == ckpt_io.BACKBONE_FORMAT and data["arch"]["backbone"] == "small_cnn"
    assert data["state_dict"] and not any(k.startswith(("backbone.", "heads.")) for k in data["state_dict"])
    backbone = ckpt_io.load_exported_backbone(out)
    x = torch.randn(2, 1, 96, 128, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(backbone(x), model.backbone(x))
    assert backbone(x).shape == (2, data["arch"]["embedding_dim"])
