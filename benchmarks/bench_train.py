"""Benchmark of training throughput per backbone: our training loop against a bare PyTorch loop
(not a test).

For each backbone (default: efficientnet_b0, vggish, resnet50) two measurements run, each in its
own process so that peak memory belongs to one measurement:

- ``ours``: ``discogs_tools.train.loop.run`` on the COLA objective over a synthetic feature set
  (``--tracks`` tracks of 30 s = 1876 frames, written once under .bench/train/), ``--epochs``
  epochs of ``--steps`` steps of ``--batch-size`` pairs; the figure is the last epoch's training
  throughput (the loop's own pairs/s, validation and checkpoints excluded; the first epoch is
  warm-up). It includes what our loop adds to the model's work: random crops read from the
  feature store, host-to-device copies, the finite-loss check, per-step bookkeeping.
- ``bare``: the same ``TrainModel`` (same config, backbone, head), the same batch, Adam with the
  same LR and betas, the same AMP/channels-last settings, fed a fixed random tensor already on
  the device: ``--steps`` warm-up steps, then ``--steps`` timed steps.

Reported per backbone: patches/s (two patches per pair, anchor and positive), our overhead
(1 - ours / bare; the target is at most 10%) and peak memory (CPU: peak RSS of the process;
CUDA: peak allocated by torch). On a shared machine step times vary a lot: ``--repeats N``
measures each mode N times, alternating, and keeps the fastest. On a GPU (``--device cuda``) mixed precision is on unless
``--no-amp``. ``--frames published`` uses each backbone's published patch (efficientnet_b0 128
frames, seed 000 sec. 4.2; vggish and resnet50 256 frames, seed 004 sec. 5.3.3); the default
is one patch length for all, 128 frames.

    python benchmarks/bench_train.py --device cpu --batch-size 16 --steps 3 --threads 1 --repeats 2
    python benchmarks/bench_train.py --device cuda --batch-size 128 --steps 30 --frames published
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench" / "train"
sys.path.insert(0, str(ROOT))

PUBLISHED_FRAMES = {"efficientnet_b0": 128, "small_cnn": 128, "vggish": 256, "resnet50": 256}


class RandomPairs:
    """``n`` training pairs per epoch drawn from seeded permutations of the tracks; no validation."""

    def __init__(self, ids: list[str], n: int) -> None:
        self.ids, self.n = ids, n

    def pairs(self, association: str, split: str, epoch: int):
        from discogs_tools.errors import MissingInputError
        from discogs_tools.train.data import Pairs

        if split != "train":
            raise MissingInputError("validation pairs", "-", None)
        rng = np.random.default_rng(epoch)
        reps = -(-self.n // len(self.ids))
        order = np.concatenate([rng.permutation(len(self.ids)) for _ in range(reps)])[: self.n]
        other = np.roll(order, 1)
        return Pairs([self.ids[i] for i in order], [self.ids[i] for i in other])


def ensure_features(ws, tracks: int) -> None:
    from discogs_tools.features.extract import settings_for
    from discogs_tools.features.mel import MelFrontEnd
    from discogs_tools.features.store import ShardWriter, write_settings

    root = ws.features / "bench"
    marker = root / "bench-tracks.txt"
    if (root / "index" / "part-00000.parquet").exists() and marker.exists() and marker.read_text() == str(tracks):
        return
    shutil.rmtree(root, ignore_errors=True)
    write_settings(root, settings_for(MelFrontEnd(), 30.0))
    rng = np.random.default_rng(0)
    writer = ShardWriter(root, 0, 96)
    for i in range(tracks):
        writer.add(f"t{i:05d}", rng.uniform(0, 4, size=(1876, 96)).astype(np.float32))
    writer.commit()
    marker.write_text(str(tracks))


def make_config(args: argparse.Namespace, backbone: str, frames: int):
    from discogs_tools.train import config as config_mod
    from discogs_tools.train.backbones import BACKBONE_NAMES

    if backbone not in config_mod.BACKBONES and backbone in BACKBONE_NAMES:
        # the trainer's name list predates this backbone; accept every backbone backbones.py builds
        config_mod.BACKBONES = tuple(dict.fromkeys(config_mod.BACKBONES + BACKBONE_NAMES))
    return config_mod.TrainConfig(
        run=f"bench-{backbone}", features="bench", objective="cola", associations=("release",), backbone=backbone,
        epochs=args.epochs, batch_size=args.batch_size, max_steps_per_epoch=args.steps, device=args.device,
        amp=not args.no_amp, channels_last=args.channels_last, crop_frames=frames,
        embedding_head=args.embedding_head)


def peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_ours(args: argparse.Namespace, backbone: str, frames: int) -> dict:
    from discogs_tools.train.embed import resolve_device
    from discogs_tools.train.loop import run
    from discogs_tools.workspace import Workspace

    ws = Workspace(BENCH / "workspace").ensure()
    ids = [f"t{i:05d}" for i in range(args.tracks)]
    cfg = make_config(args, backbone, frames)
    report = run(ws, cfg, force=True, source=RandomPairs(ids, args.batch_size * args.steps), echo=lambda line: None)
    device = resolve_device(args.device)
    return {"patches_per_s": 2 * report.figures["pairs_per_s"], "peak_mb": peak_memory_mb(device)}


def measure_bare(args: argparse.Namespace, backbone: str, frames: int) -> dict:
    import torch

    from discogs_tools.train.embed import resolve_device
    from discogs_tools.train.model import TrainModel

    cfg = make_config(args, backbone, frames)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = TrainModel(cfg).to(device)
    built = getattr(model.backbone, "embedding_head", "pool")
    if backbone != "vggish" and built != cfg.embedding_head:  # VGGish's head is always its fc stack
        raise SystemExit(f"TrainModel built a {built} head, not {cfg.embedding_head}: train/model.py does not "
                         "pass the embedding head to the backbone yet")
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if cfg.channels_last:
        model = model.to(memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.adam_betas))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    b = cfg.batch_size
    x = torch.rand(2 * b, 1, frames, 96, device=device).to(memory_format=fmt)
    xa, xp = x[:b], x[b:]
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            loss = model(xa, xp, [b], None, None)[0]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return {"patches_per_s": 2 * b * args.steps / seconds, "peak_mb": peak_memory_mb(device)}


def worker(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    backbone, mode, frames = args.worker[0], args.worker[1], int(args.worker[2])
    measure = measure_ours if mode == "ours" else measure_bare
    print(json.dumps(measure(args, backbone, frames)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16, help="pairs per step (2x patches)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps (and as many warm-up steps)")
    ap.add_argument("--epochs", type=int, default=2, help="our loop: epochs (the last one is reported)")
    ap.add_argument("--tracks", type=int, default=256)
    ap.add_argument("--backbones", default="efficientnet_b0,vggish,resnet50")
    ap.add_argument("--frames", default="128", help="patch frames, or 'published' (per backbone)")
    ap.add_argument("--embedding-head", default="pool", choices=("pool", "flatten_fc"))
    ap.add_argument("--repeats", type=int, default=1,
                    help="measure each mode this many times, alternating ours/bare, and keep the best")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    from discogs_tools.workspace import Workspace

    ensure_features(Workspace(BENCH / "workspace").ensure(), args.tracks)
    passthrough = list(sys.argv[1:])
    amp = not args.no_amp and args.device.startswith("cuda")
    print(f"train step, COLA, batch {args.batch_size} pairs ({2 * args.batch_size} patches), {args.steps} steps, "
          f"device {args.device}, amp {amp}, channels_last {args.channels_last}, head {args.embedding_head}, "
          f"threads {args.threads or 'default'}, best of {args.repeats}")
    print(f"{'backbone':>16} {'frames':>6} {'ours p/s':>9} {'bare p/s':>9} {'overhead':>8} {'ours MB':>8} {'bare MB':>8}")
    for backbone in args.backbones.split(","):
        frames = PUBLISHED_FRAMES.get(backbone, 128) if args.frames == "published" else int(args.frames)
        result: dict[str, dict] = {}
        for _ in range(args.repeats):
            for mode in ("ours", "bare"):
                if "error" in result.get(mode, {}):
                    continue
                proc = subprocess.run([sys.executable, __file__, *passthrough, "--worker", backbone, mode, str(frames)],
                                      check=False, capture_output=True, text=True)
                if proc.returncode != 0:
                    result[mode] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
                    continue
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                if got["patches_per_s"] > result.get(mode, {}).get("patches_per_s", -1.0):
                    result[mode] = got
        ours, bare = result["ours"], result["bare"]
        if "error" in ours or "error" in bare:
            print(f"{backbone:>16} {frames:>6} failed: ours: {ours.get('error', 'ok')}; bare: {bare.get('error', 'ok')}")
            continue
        overhead = 1 - ours["patches_per_s"] / bare["patches_per_s"]
        print(f"{backbone:>16} {frames:>6} {ours['patches_per_s']:>9.1f} {bare['patches_per_s']:>9.1f} "
              f"{overhead:>8.1%} {ours['peak_mb']:>8.0f} {bare['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
