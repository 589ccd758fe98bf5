"""LR schedules (plateau, warm-up + cosine, constant, the SWA phase) against their formulas, on their
own and through the training loop, and SWA weights against the mean of the averaged epochs."""

from __future__ import annotations

import json
import math

import pytest
import torch
from test_train_data import GroupPairs, make_feature_set

from discogs_tools.train import checkpoint as ckpt_io
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.loop import run
from discogs_tools.train.schedules import LrSchedule, Plateau, warmup_cosine_lr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cfg(**kw) -> TrainConfig:
    base = {"run": "r", "features": "syn", "objective": "cola", "associations": ("artist",), "backbone": "small_cnn",
            "cnn_width": 8, "epochs": 2, "batch_size": 8, "crop_frames": 16, "seed": 3}
    base.update(kw)
    return TrainConfig(**base)


def test_warmup_cosine_follows_its_formula_icassp_values():
    # seed 004 sec. 5.3.3: 0 -> 1e-4 over 5,000 steps, cosine decay to the end of 50 epochs
    lr, w, total = 1e-4, 5000, 50 * 4633
    f = lambda s: warmup_cosine_lr(s, lr=lr, warmup_steps=w, total_steps=total, min_lr=0.0)
    assert f(1) == lr * 1 / 5000
    assert f(2500) == lr * 2500 / 5000
    assert f(5000) == lr
    for s in (5001, 77_000, total - 1):
        assert f(s) == 0.5 * lr * (1 + math.cos(math.pi * (s - w) / (total - w)))
    assert f(w + (total - w) // 2) == pytest.approx(lr / 2, rel=1e-12)
    assert f(total) == 0.0 and f(total + 10) == 0.0
    g = lambda s: warmup_cosine_lr(s, lr=1.0, warmup_steps=0, total_steps=10, min_lr=0.1)
    assert g(1) == 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.1)) and g(10) == 0.1


def test_plateau_divides_after_patience_epochs_without_a_decrease():
    # seed 000 sec. 4.2: /10 when the validation loss has not decreased in 10 epochs
    p = Plateau(1e-3, 0.1, 10)
    lrs = [p.end_epoch(loss) for loss in [5.0, 4.0] + [4.0] * 9]
    assert lrs == [1e-3] * 11  # nine epochs without a decrease (an equal loss is no decrease)
    assert p.end_epoch(4.5) == 1e-3 * 0.1  # the tenth
    assert [p.end_epoch(4.0) for _ in range(9)] == [1e-3 * 0.1] * 9  # the count started again
    assert p.end_epoch(4.0) == 1e-3 * 0.1 * 0.1
    assert p.end_epoch(3.9) == 1e-3 * 0.1 * 0.1 and p.bad_epochs == 0


def test_schedule_sets_the_optimizer_lr_per_step_and_swa_overrides_it():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=123.0)
    s = LrSchedule(cfg(schedule="warmup_cosine", lr=1e-3, warmup_steps=4, min_lr=1e-5, epochs=4,
                       swa_start=3, swa_lr=5e-4))
    assert s.set_total_steps(5) is None and s.total_steps == 20
    seen = []
    for epoch in range(4):
        for _ in range(5):
            seen.append(s.before_step(epoch, opt))
            assert opt.param_groups[0]["lr"] == seen[-1]
            s.after_step()
        s.end_epoch(epoch, 1.0)
    expected = [warmup_cosine_lr(k, lr=1e-3, warmup_steps=4, total_steps=20, min_lr=1e-5) for k in range(1, 16)]
    assert seen == expected + [5e-4] * 5
    c = LrSchedule(cfg(schedule="constant", lr=0.25))
    assert [c.before_step(e, opt) for e in range(3)] == [0.25] * 3
    p = LrSchedule(cfg(schedule="plateau", lr=1.0, plateau_patience=1, plateau_factor=0.5, epochs=4, swa_start=2,
                       swa_lr=0.3))
    lrs = []
    for epoch, loss in enumerate([1.0, 2.0, 3.0, 4.0]):
        lrs.append(p.before_step(epoch, opt))
        p.end_epoch(epoch, loss)
    assert lrs == [1.0, 1.0, 0.3, 0.3] and p.plateau.lr == 0.5  # frozen during SWA
    assert "never reaches" in LrSchedule(cfg(schedule="warmup_cosine", warmup_steps=50)).set_total_steps(3)


@pytest.fixture
def syn(ws):
    return ws, make_feature_set(ws.features / "syn", n_groups=8, per_group=4, frames=(40, 80))


def history(ws, name):
    return [json.loads(line) for line in (ws.runs / name / "metrics.jsonl").read_text().splitlines()]


def test_training_loop_steps_the_lr_by_optimizer_steps(syn):
    ws, ids = syn
    run(ws, cfg(run="wc", schedule="warmup_cosine", warmup_steps=3, lr=1e-3, min_lr=1e-6, epochs=3, batch_size=4,
                accumulate=2), source=GroupPairs(ids))
    h = history(ws, "wc")
    per_epoch = h[0]["optimizer_steps"]
    assert per_epoch == math.ceil(h[0]["micro_batches"] / 2) and h[0]["micro_batches"] > per_epoch
    total = 3 * per_epoch
    for e in h:
        assert e["lr"] == warmup_cosine_lr(e["optimizer_steps_total"], lr=1e-3, warmup_steps=3,
                                           total_steps=total, min_lr=1e-6)
    assert h[-1]["lr"] == 1e-6


def test_swa_weights_are_the_mean_of_the_averaged_epochs_at_the_swa_lr(syn):
    ws, ids = syn
    report = run(ws, cfg(run="swa", epochs=4, swa_start=1, swa_lr=2e-4, keep_epoch_checkpoints=True),
                 source=GroupPairs(ids))
    folder = ws.runs / "swa" / "checkpoints"
    snaps = [ckpt_io.load(folder / f"epoch-{n:03d}.pt")["model"] for n in (2, 3, 4)]  # after epochs 1, 2, 3
    swa = ckpt_io.load(report.outputs["swa"])
    assert swa["swa_averaged"] == 3
    model = swa["model"]
    params = [k for k in model if "running_" not in k and "num_batches" not in k]
    assert params
    for k in params:
        mean = sum(s[k] for s in snaps) / 3
        # the running average w_n = w_{n-1} + (x_n - w_{n-1}) / n rounds differently from sum/3
        torch.testing.assert_close(model[k], mean, rtol=0, atol=2e-7)
    assert [e["lr"] for e in history(ws, "swa")] == [1e-3, 2e-4, 2e-4, 2e-4]
