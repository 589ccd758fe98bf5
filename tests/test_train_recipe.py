"""The published recipes' trainer settings: gradient accumulation (bitwise against the mean of the
micro-batch gradients), Adam betas and weight decay, batch shares of multi-task batches, per-epoch
checkpoints and initialisation from one, the Table-1 figures of a run, and the CLI options."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from test_train_data import GroupPairs, make_feature_set
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import ConfigError, MissingInputError
from discogs_tools.train import checkpoint as ckpt_io
from discogs_tools.train.config import TrainConfig
from discogs_tools.train.loop import run
from discogs_tools.train.model import TrainModel
from discogs_tools.train.steps import accumulated_step

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(run_name: str, **kw) -> TrainConfig:
    base = {"run": run_name, "features": "syn", "objective": "cola", "associations": ("artist",),
            "backbone": "small_cnn", "cnn_width": 8, "epochs": 1, "batch_size": 8, "crop_frames": 16, "seed": 3}
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def syn(ws):
    return ws, make_feature_set(ws.features / "syn", n_groups=8, per_group=4, frames=(40, 80))


def test_accumulating_six_micro_batches_is_the_step_with_their_mean_gradient_bitwise():
    torch.manual_seed(0)
    model = TrainModel(tiny("acc"))
    reference = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 1, 16, 96, generator=gen), torch.randn(4, 1, 16, 96, generator=gen))
               for _ in range(6)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    outs = accumulated_step(model.parameters(), opt, scaler, batches, lambda b: model(b[0], b[1], [4]))
    assert len(outs) == 6

    # reference: each micro-batch's gradient on its own (negatives within it), summed, / 6
    ref_opt = torch.optim.Adam(reference.parameters(), lr=1e-3, betas=(0.9, 0.999))
    grads = []
    for xa, xp in batches:
        ref_opt.zero_grad(set_to_none=True)
        reference(xa, xp, [4])[0].backward()
        grads.append([p.grad.clone() for p in reference.parameters()])
    for i, p in enumerate(reference.parameters()):
        total = grads[0][i]
        for g in grads[1:]:
            total = total + g[i]
        p.grad = total / 6
    ref_opt.step()
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    # and the step moved the weights
    assert not torch.equal(model.backbone.features[0].weight, TrainModel(tiny("acc")).backbone.features[0].weight)


def test_adam_betas_and_weight_decay_reach_the_optimizer(syn):
    ws, ids = syn
    run(ws, tiny("adam", adam_betas=(0.8, 0.95), weight_decay=1e-5), source=GroupPairs(ids))
    group = ckpt_io.load(ws.runs / "adam/checkpoints/last.pt")["optimizer"]["param_groups"][0]
    assert tuple(group["betas"]) == (0.8, 0.95) and group["weight_decay"] == 1e-5


def test_batch_shares_split_multitask_batches_or_name_the_numbers(syn):
    ws, ids = syn
    report = run(ws, tiny("mt", objective="multitask", associations=("release", "artist"), batch_size=8,
                          batch_shares=(6, 2)), source=GroupPairs(ids))
    h = json.loads((ws.runs / "mt/metrics.jsonl").read_text().splitlines()[0])
    # 16 pairs per association: batches of 6 release + 2 artist pairs, three of them (the last holds
    # the 4 release pairs left), so 16 release and 6 artist pairs are trained on
    assert h["micro_batches"] == 3 and h["pairs_per_task"] == {"release": 16, "artist": 6}
    assert report.figures["train_loss"] > 0
    with pytest.raises(ConfigError, match=r"batch shares 6, 3 add up to 9 pairs, not the batch size 8"):
        tiny("x", objective="multitask", associations=("release", "artist"), batch_shares=(6, 3))
    with pytest.raises(ConfigError, match=r"3 batch shares for 2 associations"):
        tiny("x", objective="multitask", associations=("release", "artist"), batch_shares=(4, 2, 2))
    with pytest.raises(ConfigError, match=r"batch of 8 pairs cannot be split equally over 3 associations"):
        tiny("x", objective="multitask", associations=("release", "artist", "label"))
    with pytest.raises(ConfigError, match=r"batch shares need at least 2 pairs each.*1"):
        tiny("x", objective="multitask", associations=("release", "artist"), batch_shares=(7, 1))


def test_epoch_checkpoints_and_init_from_an_epoch(syn):
    ws, ids = syn
    run(ws, tiny("artist", epochs=3, keep_epoch_checkpoints=True), source=GroupPairs(ids))
    folder = ws.runs / "artist/checkpoints"
    assert sorted(p.name for p in folder.glob("epoch-*.pt")) == ["epoch-001.pt", "epoch-002.pt", "epoch-003.pt"]
    at2 = ckpt_io.load(folder / "epoch-002.pt")
    assert at2["epoch"] == 2
    for spec in ("artist@2", "artist:epoch-002"):
        name = "mt-" + spec.replace("@", "-").replace(":", "-")
        run(ws, tiny(name, objective="multitask", associations=("release", "artist"), epochs=1, lr=0.0),
            source=GroupPairs(ids), init_from=spec)
        got = ckpt_io.load(ws.runs / name / "checkpoints/last.pt")["model"]
        for k, v in at2["model"].items():
            if k.startswith("backbone.") and "running_" not in k and "num_batches" not in k:
                assert torch.equal(got[k], v), k  # lr 0: the initial weights are still there
    with pytest.raises(MissingInputError, match=r"epochs kept: 1, 2, 3.*epoch-009\.pt"):
        run(ws, tiny("bad", epochs=1), source=GroupPairs(ids), init_from="artist@9")


def test_a_run_reports_table1_figures_per_association(syn):
    ws, ids = syn
    report = run(ws, tiny("t1", objective="multitask", associations=("release", "artist"), epochs=2),
                 source=GroupPairs(ids))
    rows = {r["association"]: r for r in report.details if r.get("table") == "table1"}
    assert set(rows) == {"release", "artist"}
    for row in rows.values():
        assert row["pairs"] > 0 and row["training_hours"] > 0 and 0.0 <= row["val_top1"] <= 1.0
    from discogs_tools import manifest

    entry = manifest.get(ws.manifest_path, "train t1")
    assert {r["association"] for r in entry["table1"]} == {"release", "artist"}
    assert entry["table1"][0]["val_top1"] == rows[entry["table1"][0]["association"]]["val_top1"]


def test_resuming_with_a_changed_recipe_value_names_it(syn):
    ws, ids = syn
    run(ws, tiny("res", epochs=1, schedule="warmup_cosine", warmup_steps=2), source=GroupPairs(ids))
    for change, name in (({"accumulate": 2}, "accumulate"), ({"warmup_steps": 3}, "warmup_steps"),
                         ({"adam_betas": (0.8, 0.9)}, "adam_betas"), ({"swa_lr": 1e-4}, "swa_lr")):
        given = {"epochs": 2, "schedule": "warmup_cosine", "warmup_steps": 2, **change}
        with pytest.raises(ConfigError, match=name):
            run(ws, tiny("res", **given), source=GroupPairs(ids), resume=True)
    with pytest.raises(ConfigError, match=r"epochs.*warmup_cosine"):
        run(ws, tiny("res", epochs=2, schedule="warmup_cosine", warmup_steps=2), source=GroupPairs(ids), resume=True)


def test_cli_exposes_every_recipe_option_as_one_line_errors(ws):
    import typer.main

    runner = CliRunner()
    command = typer.main.get_command(app).commands["train"]
    names = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for option in ("--schedule", "--warmup-steps", "--min-lr", "--adam-betas", "--weight-decay", "--accumulate",
                   "--batch-shares", "--keep-epoch-checkpoints", "--swa-start", "--swa-lr", "--plateau-patience",
                   "--plateau-factor", "--crop-frames", "--temperature", "--cola-dim", "--simclr-dim",
                   "--simclr-hidden", "--simclr-augment", "--mix-gain-beta", "--embedding-head", "--embedding-dim"):
        assert option in names, option
    # every TrainConfig field is an option of the same name (extra: free-form, associations: -a,
    # num_workers: --workers/-j, the CLI vocabulary's name)
    import dataclasses

    missing = [f.name for f in dataclasses.fields(TrainConfig)
               if f.name not in ("extra", "associations", "num_workers")
               and "--" + f.name.replace("_", "-") not in names]
    assert missing == [] and "--association" in names and "--workers" in names
    # (--workspace is shared by every command and defined in cli/common.py)
    assert not [p.name for p in command.params if "[default:" in (getattr(p, "help", "") or "") and p.name != "ws"]
    for args, message in ((["--schedule", "step"], "unknown schedule 'step'; choose one of plateau, warmup_cosine, constant"),
                          (["--backbone", "vgg"], "unknown backbone 'vgg'; choose one of"),
                          (["--adam-betas", "0.9"], "--adam-betas takes 2 numbers separated by commas, got '0.9'"),
                          (["--mix-gain-beta", "5,x"], "--mix-gain-beta takes 2 numbers separated by commas, got '5,x'")):
        out = runner.invoke(app, ["train", "--run", "x", "--workspace", str(ws.root), *args])
        assert out.exit_code != 0
        lines = [line for line in out.output.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], out.output
