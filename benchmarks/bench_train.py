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

``--maest`` measures MAEST-5s instead (seed 004 ch. 6; 312 frames, 9 x 30 patches, 12 blocks at
width 768 unless ``--maest-width/--maest-depth`` say otherwise), each figure in its own process:

- training patches/s with patchout (3 frequency + 15 time patches, sec. 6.2) and without:
  ``ours`` is ``train.loop.run`` with the classification objective of the recipe (mixup 0.3,
  SpecAugment 20x8 / 5x8, 400 styles) on the synthetic 30-s tracks; ``bare`` is ``TrainModel``'s
  forward, backward and Adam step on a fixed random batch with random multi-hot targets;
- embedding extraction tracks/s of 30-s tracks (11 half-overlapped 5-s segments each, the
  (cls^7, dist^7, avg^7) stack): ``ours`` is ``train.embed.embed_positions`` over the feature
  store, ``bare`` the same number of segments as one random tensor through ``track_embedding``;
- memory per sample: the bare training step's peak at ``--batch-size`` and twice that, difference
  over the extra samples (CPU: peak RSS; CUDA: peak allocated).

    python benchmarks/bench_train.py --maest --device cpu --batch-size 4 --steps 2 --tracks 16 --threads 2
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


def loader_only(args: argparse.Namespace) -> None:
    """``--loader-only``: crops/s of the training input pipeline (``train/loader.py``) with 0, 1 and 2
    workers, next to a minimal memmap copy loop, alternating, best of ``--repeats`` (no model).

    Both sides crop ``--frames`` (default 128) frames of the synthetic feature set (page cache
    warmed first), ``2 x --batch-size`` crops per step (anchors and positives), float32 out. The
    minimal loop: one ``np.memmap`` of the shard, the batch's random starts in one draw, then
    ``out[i, 0] = mm[begin:begin + frames]`` per crop into a new array. Ours: a trainer-like
    generator calling ``data.crops`` twice per step, through ``prefetch_batches(workers=W, depth=2)``
    (W = 0: in process). Each measurement runs ``--loader-seconds``. ``--cold`` evicts the shard from
    the page cache (``posix_fadvise DONTNEED`` on that file only) before each measurement and adds
    2 workers without read-ahead. Next to each rate: the CPU time of the process (all threads) per
    crop, the figure that a machine shared with other work does not distort."""
    import os

    import torch  # noqa: F401 - imported here, not inside the first measurement (the crops import it lazily)

    from discogs_tools.features.store import FeatureStore, shard_path
    from discogs_tools.train.data import crops
    from discogs_tools.train.loader import prefetch_batches
    from discogs_tools.workspace import Workspace

    ws = Workspace(BENCH / "workspace").ensure()
    store = FeatureStore(ws.features / "bench")
    length = 128 if args.frames == "published" else int(args.frames)
    n = 2 * args.batch_size
    path = shard_path(store.root, 0)
    with open(path, "rb") as fh:  # warm the page cache (--cold evicts it before each measurement)
        while fh.read(1 << 24):
            pass

    def minimal(seconds: float) -> float:
        mm = np.memmap(path, dtype="<f2", mode="r").reshape(-1, 96)
        rng = np.random.default_rng(0)
        spare = store.frames - length
        done, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            pos = rng.integers(0, len(store), n)
            begins = (store.offsets[pos] + rng.integers(0, spare[pos] + 1)).tolist()
            out = np.empty((n, 1, length, 96), dtype=np.float32)
            for i, b in enumerate(begins):
                out[i, 0] = mm[b:b + length]
            done += n
        cpu["minimal"] = (time.process_time() - c0) / done
        return done / (time.perf_counter() - t0)

    def evict() -> None:  # --cold: drop this shard (only) from the page cache
        import gc

        store._maps.clear()  # mapped pages are not dropped: unmap the store's views first
        store._arrays.clear()
        gc.collect()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

    def ours(workers: int, seconds: float, readahead: bool = True) -> float:
        def steps():
            rng = np.random.default_rng(1)
            while True:
                pos = rng.integers(0, len(store), n)
                yield crops(store, pos[: n // 2], length, rng), crops(store, pos[n // 2:], length, rng)

        done, t0, c0 = 0, time.perf_counter(), time.process_time()
        batches = prefetch_batches(steps(), store, workers=workers, depth=2, readahead=readahead)
        for xa, xp in batches:
            done += len(xa) + len(xp)
            if time.perf_counter() - t0 >= seconds:
                break
        rate = done / (time.perf_counter() - t0)
        batches.close()
        cpu[f"workers={workers}" + ("" if readahead else " no read-ahead")] = (time.process_time() - c0) / done
        return rate

    best: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds (all threads) per crop, of the last measurement of each mode
    least_cpu: dict[str, float] = {}
    modes = [("minimal", lambda: minimal(args.loader_seconds)),
             *((f"workers={w}", lambda w=w: ours(w, args.loader_seconds)) for w in (0, 1, 2))]
    if args.cold:  # every measurement starts with the shard out of page cache
        modes.append(("workers=2 no read-ahead", lambda: ours(2, args.loader_seconds, readahead=False)))
    for _ in range(max(args.repeats, 1)):
        for name, measure in modes:
            if args.cold:
                evict()
            best[name] = max(best.get(name, 0.0), measure())
            least_cpu[name] = min(least_cpu.get(name, float("inf")), cpu[name])
    print(f"loader: {len(store)} tracks x {int(store.frames[0])} frames ({path.stat().st_size / 2**20:.0f} MB, "
          f"{'evicted from page cache before each measurement' if args.cold else 'page cache'}), {n} crops of {length} x 96 per step, best of {max(args.repeats, 1)}, "
          f"load {os.getloadavg()[0]:.2f}")
    for name, rate in best.items():
        workers = int(name.split("=")[1].split()[0]) if "=" in name else 0
        per = f", {rate / max(workers, 1) / best['minimal']:.2f}x minimal per worker" if workers else ""
        print(f"  {name:>10}: {rate:>9,.0f} crops/s ({rate / best['minimal']:.2f}x minimal{per}); "
              f"CPU {least_cpu[name] * 1e6:.1f} us per crop, all threads (least of the repeats)")
    print(f"crops/s workers=2: {best['workers=2']:.0f}; minimal: {best['minimal']:.0f}")


MAEST_FRAMES = 312       # MAEST-5s: 5 s x 16000 / 256 (seed 004 sec. 6.2)
MAEST_STYLES = 400       # seed 004 sec. 6.3: the top 400 styles


def maest_config(args: argparse.Namespace, patchout: bool, batch: int | None = None):
    from discogs_tools.train.config import TrainConfig

    return TrainConfig(
        run="bench-maest", features="bench", dataset="bench", objective="classification", associations=(),
        backbone="maest", maest_width=args.maest_width, maest_depth=args.maest_depth, maest_heads=args.maest_heads,
        embed_block=min(7, args.maest_depth), crop_frames=MAEST_FRAMES, patchout_time=None if patchout else 0,
        patchout_freq=3 if patchout else 0, top_styles=MAEST_STYLES, epochs=args.epochs,
        batch_size=batch or args.batch_size, max_steps_per_epoch=args.steps, lr=1e-4, weight_decay=1e-4,
        mixup_alpha=0.3, specaugment_time_masks=20, specaugment_freq_masks=5, input_norm_tracks=4,
        device=args.device, amp=not args.no_amp)


def ensure_styles(ws, tracks: int) -> None:
    """datasets/bench/tracks: every synthetic track in train with 1-3 of 400 styles (seeded)."""
    import pyarrow as pa

    from discogs_tools.io import write_table

    rng = np.random.default_rng(0)
    schema = pa.schema([("track_id", pa.string()), ("styles", pa.list_(pa.string())), ("split", pa.string())])
    ids = [f"t{i:05d}" for i in range(tracks)]
    styles = [[f"s{j:03d}" for j in rng.choice(MAEST_STYLES, size=int(rng.integers(1, 4)), replace=False)]
              for _ in ids]
    write_table(ws.dataset("bench") / "tracks", pa.table({"track_id": ids, "styles": styles,
                                                          "split": ["train"] * len(ids)}, schema=schema), schema=schema)


def measure_maest(args: argparse.Namespace, mode: str) -> dict:
    import torch

    from discogs_tools.features.store import FeatureStore
    from discogs_tools.train.embed import embed_positions, patch_starts, resolve_device
    from discogs_tools.train.loop import run
    from discogs_tools.train.model import TrainModel
    from discogs_tools.workspace import Workspace

    device = resolve_device(args.device)
    ws = Workspace(BENCH / "workspace").ensure()
    patchout = not mode.endswith("-nopo")
    if mode.startswith("train-ours"):
        report = run(ws, maest_config(args, patchout), force=True, echo=lambda line: None)
        return {"rate": report.figures["pairs_per_s"], "peak_mb": peak_memory_mb(device)}
    use_amp = not args.no_amp and device.type == "cuda"
    if mode.startswith("train-bare"):
        batch = args.batch_size * (2 if mode.startswith("train-bare2") else 1)
        torch.manual_seed(0)
        model = TrainModel(maest_config(args, patchout, batch), n_styles=MAEST_STYLES).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        x = torch.rand(batch, 1, MAEST_FRAMES, 96, device=device)
        y = (torch.rand(batch, MAEST_STYLES, device=device) < 0.005).float()
        model.train()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                loss = model(x, None, [batch], y, None)[0]
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

        return {"rate": batch * _timed(step, args.steps, device), "peak_mb": peak_memory_mb(device)}
    store = FeatureStore(ws.features / "bench")
    positions = np.arange(min(args.tracks, len(store)))
    backbone = TrainModel(maest_config(args, True), n_styles=MAEST_STYLES).backbone.to(device).eval()
    segments = len(patch_starts(int(store.frames[0]), MAEST_FRAMES))
    if mode == "embed-ours":
        t0 = time.perf_counter()
        embed_positions(backbone, store, positions, batch_size=args.batch_size * 4, device=device, amp=use_amp)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return {"rate": len(positions) / (time.perf_counter() - t0), "peak_mb": peak_memory_mb(device)}
    x = torch.rand(args.batch_size * 4, 1, MAEST_FRAMES, 96, device=device)
    n_batches = -(-len(positions) * segments // len(x))

    def forward() -> None:
        with torch.no_grad(), torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            backbone.track_embedding(x)

    seconds = n_batches / _timed(forward, n_batches, device, warmup=1)
    return {"rate": len(positions) / seconds, "peak_mb": peak_memory_mb(device)}


def _timed(fn, steps: int, device, warmup: int | None = None) -> float:
    """Calls per second of ``fn`` over ``steps`` calls after ``warmup`` (default ``steps``) untimed ones."""
    import torch

    for _ in range(steps if warmup is None else warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - t0)


def maest_main(args: argparse.Namespace, passthrough: list[str]) -> None:
    from discogs_tools.train.backbones_maest import grid_size
    from discogs_tools.workspace import Workspace

    ensure_styles(Workspace(BENCH / "workspace").ensure(), args.tracks)
    n_freq, n_time = grid_size(MAEST_FRAMES)
    results: dict[str, dict] = {}
    modes = ("train-ours", "train-bare", "train-ours-nopo", "train-bare-nopo", "embed-ours", "embed-bare",
             "train-bare2")
    for _ in range(max(args.repeats, 1)):
        for mode in modes:
            proc = subprocess.run([sys.executable, __file__, *passthrough, "--worker", "maest", mode, str(MAEST_FRAMES)],
                                  check=False, capture_output=True, text=True)
            if proc.returncode != 0:
                results[mode] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
                continue
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            if got["rate"] > results.get(mode, {}).get("rate", -1.0):
                results[mode] = got
    amp = not args.no_amp and args.device.startswith("cuda")
    print(f"MAEST-5s ({MAEST_FRAMES} frames, {n_freq} x {n_time} patches), width {args.maest_width}, depth "
          f"{args.maest_depth}; batch {args.batch_size}, {args.steps} timed steps, device {args.device}, amp {amp}, "
          f"threads {args.threads or 'default'}, best of {max(args.repeats, 1)}")
    kept = {True: (n_freq - 3) * (n_time - 15), False: n_freq * n_time}
    for label, ours, bare, unit, scale in (
            ("train, patchout 3+15", "train-ours", "train-bare", "segments/s", kept[True]),
            ("train, no patchout", "train-ours-nopo", "train-bare-nopo", "segments/s", kept[False]),
            ("embed (cls7,dist7,avg7)", "embed-ours", "embed-bare", "tracks/s", 1)):
        a, b = results.get(ours, {}), results.get(bare, {})
        if "error" in a or "error" in b or not a or not b:
            print(f"  {label:<24} failed: ours {a.get('error', 'ok')}; bare {b.get('error', 'ok')}")
            continue
        extra = f" ({a['rate'] * scale:,.0f} / {b['rate'] * scale:,.0f} patch tokens/s)" if scale > 1 else ""
        print(f"  {label:<24} ours {a['rate']:8.2f} {unit:<9} bare {b['rate']:8.2f}  overhead "
              f"{1 - a['rate'] / b['rate']:6.1%}{extra}  peak ours {a['peak_mb']:.0f} MB, bare {b['peak_mb']:.0f} MB")
    one, two = results.get("train-bare", {}), results.get("train-bare2", {})
    if one.get("peak_mb") and two.get("peak_mb"):
        per = (two["peak_mb"] - one["peak_mb"]) / args.batch_size
        print(f"  memory per training sample (bare, patchout, batch {args.batch_size} -> {2 * args.batch_size}): "
              f"{per:.1f} MB")


def worker(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker[0] == "maest":
        print(json.dumps(measure_maest(args, args.worker[1])))
        return
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
    ap.add_argument("--loader-only", action="store_true", help="crops/s of the input pipeline only (no model)")
    ap.add_argument("--loader-seconds", type=float, default=2.0, help="--loader-only: seconds per measurement")
    ap.add_argument("--cold", action="store_true",
                    help="--loader-only: evict the feature shard from page cache before each measurement, "
                         "and also measure 2 workers without read-ahead")
    ap.add_argument("--maest", action="store_true", help="MAEST-5s training and embedding figures (see above)")
    ap.add_argument("--maest-width", type=int, default=768)
    ap.add_argument("--maest-depth", type=int, default=12)
    ap.add_argument("--maest-heads", type=int, default=12)
    args = ap.parse_args()
    if args.loader_only:
        from discogs_tools.workspace import Workspace

        ensure_features(Workspace(BENCH / "workspace").ensure(), args.tracks)
        loader_only(args)
        return
    if args.worker:
        worker(args)
        return

    from discogs_tools.workspace import Workspace

    ensure_features(Workspace(BENCH / "workspace").ensure(), args.tracks)
    passthrough = list(sys.argv[1:])
    if args.maest:
        maest_main(args, passthrough)
        return
    amp = not args.no_amp and args.device.startswith("cuda")
    print(f"train step, COLA, batch {args.batch_size} pairs ({2 * args.batch_size} patches), {args.steps} steps, "
          f"device {args.device}, amp {amp}, channels_last {args.channels_last}, head {args.embedding_head}, "
          f"threads {args.threads or 'default'}, best of {args.repeats}")
    print(f"{'backbone':>16} {'frames':>6} {'ours p/s':>9} {'bare p/s':>9} {'overhead':>8} {'ours MB':>8} {'bare MB':>8}")
    for backbone in args.backbones.split(","):
        frames = PUBLISHED_FRAMES.get(backbone, 128) if args.frames == "published" else int(args.frames)
        result: dict[str, dict] = {}
        every: dict[str, list[float]] = {"ours": [], "bare": []}
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
                every[mode].append(got["patches_per_s"])
                if got["patches_per_s"] > result.get(mode, {}).get("patches_per_s", -1.0):
                    result[mode] = got
        ours, bare = result["ours"], result["bare"]
        if args.repeats > 1:  # every alternated pair, so the spread (load noise) is visible next to the best
            print(f"{'':>16} each run, ours / bare: " + ", ".join(
                f"{o:.1f} / {b:.1f}" for o, b in zip(every["ours"], every["bare"])))
        if "error" in ours or "error" in bare:
            print(f"{backbone:>16} {frames:>6} failed: ours: {ours.get('error', 'ok')}; bare: {bare.get('error', 'ok')}")
            continue
        overhead = 1 - ours["patches_per_s"] / bare["patches_per_s"]
        print(f"{backbone:>16} {frames:>6} {ours['patches_per_s']:>9.1f} {bare['patches_per_s']:>9.1f} "
              f"{overhead:>8.1%} {ours['peak_mb']:>8.0f} {bare['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
