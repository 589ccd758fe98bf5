"""DDP through torchrun on CPU (gloo, 2 ranks): each rank trains on its share of pairs, the loss
sees the gathered batch, metrics are reduced over ranks and only rank 0 writes the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_train_data import make_feature_set
from torchrun_helper import run_torchrun

SCRIPT = """
import sys; sys.path.insert(0, {tests!r})
from pathlib import Path
from discogs_tools.workspace import Workspace
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.loop import run
from test_train_data import GroupPairs
ids = [f"g{{g}}-{{i}}" for g in range(8) for i in range(4)]
r = run(Workspace(Path({root!r})), TrainConfig(run="ddp", features="syn", objective="simclr",
        associations=("artist",), backbone="small_cnn", cnn_width=8, epochs=2, batch_size=8, crop_frames=16,
        device="cpu"), source=GroupPairs(ids), echo=lambda s: None)
# one write per rank: both ranks share stdout, and print() of several items may interleave
sys.stdout.write("REPORT {{}} {{}}\\n".format(r.figures["train_loss"], r.figures["val_loss"]))
sys.stdout.flush()
"""


@pytest.mark.slow
def test_torchrun_two_ranks_on_cpu(ws, tmp_path: Path):
    make_feature_set(ws.features / "syn", n_groups=8, per_group=4, frames=(40, 80))
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), root=str(ws.root)))
    out = run_torchrun(script)
    reports = [line for line in out.stdout.splitlines() if line.startswith("REPORT")]
    assert len(reports) == 2 and reports[0] == reports[1]  # metrics all-reduced: the same on both ranks
    history = [json.loads(line) for line in (ws.runs / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 2
    assert history[0]["pairs"] == 16  # 8 groups x 2 pairs, split 8 + 8 over the ranks
