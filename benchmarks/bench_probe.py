"""Probe throughput benchmark (not a test): embedding extraction (tracks/s) and MLP probe training
(epochs/s) on MTG-Jamendo-genre-sized stand-in data, each next to a bare reference in the same run,
with peak memory, and the extrapolated time of a whole Table-3 evaluation (seed 000 Table 3) for
one model.

    python benchmarks/bench_probe.py --extract-tracks 8 --track-seconds 30 --mlp-tracks 55215 --epochs 2

- Extraction: ``--extract-tracks`` stand-in tracks of ``--track-seconds`` (random log-mel frames,
  96 bands, 62.5 frames/s as the features stage writes them) in a feature store, embedded by the
  toolkit's path (``train.embed.embed_positions``: half-overlapping 128-frame patches, averaged)
  with the small CNN and EfficientNet-B0 (random weights, CPU); the reference is the bare backbone
  forward over the same patches already in one tensor.
- MLP: ``--mlp-tracks`` random embeddings of the EfficientNet-B0 dimension (1280) with 87
  multi-label targets (MTG-Jamendo genre: 55,215 tracks, 87 tags, seed 004 Table 6.1), split as
  the real split-0 genre files when they are in ``--split-root``; the toolkit's ``train_classifier``
  (hidden 512, batch 256, Adam, validation every epoch: seed 000 sec. 4.4) against a bare torch loop
  (same MLP, batches and optimiser, no validation).
- Patch bank (``ismir2022``): a ``--bank-tracks`` x ``--bank-patches`` x 1280 bank of random values
  written to disk as the probe stores it, the probe trained on it memory-mapped (chunked reads),
  next to a bare loop drawing the same rows from the bank loaded into RAM; the probe's largest
  anonymous memory while training is sampled (page-cache pages of the mapped file are not counted:
  the kernel drops them under pressure).
- Extrapolation: for each Table-3 benchmark, tracks x (seconds per track of extraction, scaled by
  its duration) + 3 seeds x 30 epochs of the MLP at the measured rate, scaled by its train size.
  Durations: the mean ``DURATION`` of the real split-0 files (full tracks); MTAT clips 29 s and FMA
  30 s (seed 004 Table 6.1, Table 4.2).

Peak memory is the process's peak RSS after each part (it only grows: read each figure as the
peak so far).
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAMES_PER_SECOND = 16000 / 256  # the features stage's default sample rate and hop
MELS = 96
SPLIT_ROOT = ROOT.parent / "shared" / "data" / "benchmarks" / "mtg-jamendo" / "split-0"
# Table 3's benchmarks: (name, tracks, classes, multilabel, MTG-Jamendo subset file or clip seconds).
# Sizes: seed 004 Table 6.1 (MTG-Jamendo, MTAT) and Table 4.2 (FMA-small 8,000 tracks, 8 genres).
TABLE3 = (("Genre", 55215, 87, "autotagging_genre"), ("Instrument", 25135, 40, "autotagging_instrument"),
          ("Mood", 18486, 56, "autotagging_moodtheme"), ("Top50", 54380, 50, "autotagging_top50tags"),
          ("MTAT", 25860, 50, 29.0), ("FMA", 8000, 8, 30.0))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def split_rows(subset: str, root: Path) -> dict[str, list[dict[str, str]]] | None:
    """Rows of the real split-0 files of an MTG-Jamendo subset (None when they are absent)."""
    out = {}
    for split in ("train", "validation", "test"):
        path = root / f"{subset}-{split}.tsv"
        if not path.exists():
            return None
        with open(path, newline="", encoding="utf-8") as fh:
            out[split] = [{"DURATION": r[4]} for r in list(csv.reader(fh, delimiter="\t"))[1:]]  # 5th column
    return out


def bench_extraction(name: str, tracks: int, seconds: float, batch: int, work: Path) -> float:
    """Seconds per track of the toolkit's extraction (and prints the bare reference)."""
    import torch

    from discogs_tools.features.store import FeatureStore, ShardWriter, write_settings
    from discogs_tools.train.backbones import build_backbone
    from discogs_tools.train.embed import PATCH_FRAMES, embed_positions, patch_starts

    root = work / f"store-{name}"
    if not root.exists():
        write_settings(root, {"n_mels": MELS, "sample_rate": 16000, "hop": 256})
        (root / "index").mkdir(parents=True)
        writer = ShardWriter(root, 0, MELS)
        rng = np.random.default_rng(0)
        for i in range(tracks):
            writer.add(f"t{i}", rng.normal(size=(int(seconds * FRAMES_PER_SECOND), MELS)).astype(np.float32))
        writer.commit()
    store = FeatureStore(root)
    torch.manual_seed(0)
    backbone = build_backbone(name).eval()
    positions = store.positions([f"t{i}" for i in range(tracks)])
    embed_positions(backbone, store, positions[:1], batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    emb = embed_positions(backbone, store, positions, batch_size=batch)
    toolkit = time.perf_counter() - t0
    patches = np.stack([store.rows(int(p))[s:s + PATCH_FRAMES] for p in positions
                        for s in patch_starts(int(store.frames[p]))])[:, None]
    x = torch.from_numpy(patches.astype(np.float32))  # the store holds float16, the toolkit feeds float32
    t0 = time.perf_counter()
    with torch.no_grad():
        for k in range(0, len(x), batch):
            backbone(x[k:k + batch])
    bare = time.perf_counter() - t0
    print(f"extract {name:15s} ({emb.shape[1]}-d): {tracks} tracks x {seconds:g} s, {len(x)} patches: "
          f"toolkit {tracks / toolkit:7.2f} tracks/s ({len(x) / toolkit:6.1f} patches/s) | bare forward "
          f"{tracks / bare:7.2f} tracks/s | peak RSS {peak_rss_mb():,.0f} MB")
    return toolkit / tracks


def bench_mlp(n_train: int, n_val: int, dim: int, classes: int, epochs: int, threads: int) -> float:
    """Seconds per train-track-epoch of the toolkit's MLP probe (and prints the bare reference)."""
    import torch
    from torch import nn

    from discogs_tools.probe.metrics import macro_roc_auc
    from discogs_tools.probe.mlp import ProbeConfig, train_classifier

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_train + n_val, dim)).astype(np.float32)
    y = (x[:, :classes] + rng.normal(size=(len(x), classes)) > 1.8).astype(np.float32)
    config = ProbeConfig(epochs=epochs, threads=threads)
    warm = min(n_train, 512)  # torch's one-off start-up (about 1.5 s) is not the probe's per-epoch cost
    train_classifier(x[:warm], y[:warm], x[n_train:], y[n_train:], multilabel=True, n_classes=classes,
                     config=ProbeConfig(epochs=1, threads=threads), seed=0, score=macro_roc_auc)
    t0 = time.perf_counter()
    train_classifier(x[:n_train], y[:n_train], x[n_train:], y[n_train:], multilabel=True, n_classes=classes,
                     config=config, seed=0, score=macro_roc_auc)
    toolkit = time.perf_counter() - t0
    rss_toolkit = peak_rss_mb()

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(dim, 512), nn.ReLU(), nn.Linear(512, classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x[:n_train]), torch.from_numpy(y[:n_train])
    gen = torch.Generator().manual_seed(0)
    xv, yv = torch.from_numpy(x[n_train:]), y[n_train:]

    def bare_loop(validate: bool) -> float:
        """Seconds of ``epochs`` bare epochs; with ``validate`` also what every probe epoch does
        besides training: a validation pass scored by macro ROC-AUC and a copy of the weights."""
        t0 = time.perf_counter()
        for _ in range(epochs):
            for idx in torch.randperm(n_train, generator=gen).split(256):
                opt.zero_grad()
                loss_fn(model(xt[idx]), yt[idx]).backward()
                opt.step()
            if validate:
                with torch.no_grad():
                    macro_roc_auc(yv, model(xv).numpy())
                {k: v.clone() for k, v in model.state_dict().items()}
        return time.perf_counter() - t0

    bare = bare_loop(validate=False)
    validated = bare_loop(validate=True)
    print(f"MLP probe: {n_train:,} train + {n_val:,} validation tracks x {dim}-d, {classes} classes, {epochs} "
          f"epochs, {threads} thread(s): toolkit {epochs / toolkit:.3f} epochs/s (peak RSS {rss_toolkit:,.0f} MB) | "
          f"bare torch loop {epochs / bare:.3f} epochs/s | bare loop + validation and best-weights copy "
          f"{epochs / validated:.3f} epochs/s (peak RSS {peak_rss_mb():,.0f} MB)")
    return toolkit / (epochs * n_train)


def anon_rss_mb() -> float:
    """The process's anonymous resident memory now (RssAnon: not the clean page-cache pages of a
    memory-mapped file, which the kernel drops under pressure)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_patch_bank(tracks: int, patches: int, dim: int, classes: int, epochs: int, work: Path) -> None:
    """The ismir2022 probe on a bank on disk (memory-mapped) against a bare loop on the same rows
    held in RAM: epochs/s, and the largest anonymous memory seen while training (sampled)."""
    import threading

    import torch
    from torch import nn

    from discogs_tools.probe.metrics import macro_roc_auc
    from discogs_tools.probe.mlp import ProbeConfig
    from discogs_tools.probe.patches import PatchBank, train_patch_classifier

    rng = np.random.default_rng(0)
    path = work / f"bank-{tracks}x{patches}x{dim}.npy"
    if not path.exists():
        values = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(tracks * patches, dim))
        for start in range(0, tracks * patches, 65536):
            stop = min(start + 65536, tracks * patches)
            values[start:stop] = rng.normal(size=(stop - start, dim)).astype(np.float32)
        values.flush()
        del values
    values = np.load(path, mmap_mode="r")
    offsets = np.arange(tracks + 1, dtype=np.int64) * patches
    starts = np.tile(np.arange(patches, dtype=np.int64) * 64, tracks)
    bank = PatchBank([f"t{i}" for i in range(tracks)], (values,), offsets, starts, 128, 64)
    y = (rng.random((tracks, classes)) < 0.05).astype(np.float32)
    n_train = int(tracks * 0.7)
    n_val = tracks - n_train
    peak = {"anon": anon_rss_mb()}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak["anon"] = max(peak["anon"], anon_rss_mb())

    from discogs_tools.probe.patches import streamed_standardiser

    # warm-up: torch's and scipy's one-off imports and start-up are not the probe's per-epoch cost
    train_patch_classifier(bank, np.arange(8), y[:8], np.arange(8, 16), y[8:16], multilabel=True,
                           n_classes=classes, config=ProbeConfig(epochs=1), seed=0, score=macro_roc_auc)
    t0 = time.perf_counter()  # the one-off pass over the train patches (its share shrinks with epochs)
    streamed_standardiser(bank, np.arange(offsets[n_train]), ProbeConfig())
    standardiser = time.perf_counter() - t0
    watcher = threading.Thread(target=sample, daemon=True)
    before = anon_rss_mb()
    watcher.start()
    t0 = time.perf_counter()
    train_patch_classifier(bank, np.arange(n_train), y[:n_train], np.arange(n_train, tracks), y[n_train:],
                           multilabel=True, n_classes=classes, config=ProbeConfig(epochs=epochs, selection="loss"),
                           seed=0, score=macro_roc_auc)
    toolkit = time.perf_counter() - t0
    done.set()
    watcher.join()
    toolkit_anon = peak["anon"] - before

    in_ram = np.asarray(values)  # the bare reference holds the whole bank in memory
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(dim, 512), nn.ReLU(), nn.Linear(512, classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()
    yt = torch.from_numpy(y[:n_train])
    val_rows = np.arange(offsets[n_train], offsets[-1])
    t0 = time.perf_counter()
    for epoch in range(epochs):
        drawn = offsets[:n_train] + np.random.default_rng([0, epoch]).integers(0, patches, n_train)
        for idx in torch.randperm(n_train).split(256):
            opt.zero_grad()
            loss_fn(model(torch.from_numpy(in_ram[drawn[idx.numpy()]])), yt[idx]).backward()
            opt.step()
        with torch.no_grad():
            out = torch.sigmoid(model(torch.from_numpy(in_ram[val_rows]))).numpy()
        macro_roc_auc(y[n_train:], out.reshape(n_val, patches, classes).mean(axis=1))
    bare = time.perf_counter() - t0
    print(f"ismir2022 patch probe: {tracks:,} tracks x {patches} patches x {dim}-d = {values.nbytes / 1e9:.2f} GB bank "
          f"on disk, {classes} classes, {epochs} epochs: toolkit (memory-mapped, chunked) {epochs / toolkit:.3f} epochs/s "
          f"(of which {standardiser:.1f} s once for the standardiser), "
          f"largest anonymous memory while training +{toolkit_anon:,.0f} MB | bare loop with the bank in RAM "
          f"{epochs / bare:.3f} epochs/s (+{values.nbytes / 2**20:,.0f} MB for the bank)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extract-tracks", type=int, default=8)
    ap.add_argument("--track-seconds", type=float, default=30.0, help="length of the extraction stand-in tracks")
    ap.add_argument("--batch", type=int, default=64, help="patches per forward pass")
    ap.add_argument("--mlp-tracks", type=int, default=55215, help="MLP stand-in tracks (MTG-Jamendo genre: 55,215)")
    ap.add_argument("--dim", type=int, default=1280, help="embedding size (EfficientNet-B0's pooled 1280)")
    ap.add_argument("--classes", type=int, default=87)
    ap.add_argument("--epochs", type=int, default=2, help="MLP epochs timed (the protocol trains 30)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bank-tracks", type=int, default=4000, help="tracks of the on-disk ismir2022 patch bank")
    ap.add_argument("--bank-patches", type=int, default=60, help="patches per track in that bank (a 2-min track "
                    "at the default hop of 64 frames has ~116)")
    ap.add_argument("--skip-bank", action="store_true", help="skip the patch-bank part")
    ap.add_argument("--split-root", type=Path, default=SPLIT_ROOT)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-probe-"))
    work.mkdir(parents=True, exist_ok=True)
    durations, train_share = {}, {}
    for label, tracks, _, source in TABLE3:
        rows = split_rows(source, args.split_root) if isinstance(source, str) else None
        if rows is not None:
            every = [float(r["DURATION"]) for s in rows.values() for r in s]
            durations[label] = float(np.mean(every))
            train_share[label] = len(rows["train"]) / len(every)
        else:
            durations[label] = source if isinstance(source, float) else 240.0
            train_share[label] = 0.7
    print(f"stand-in: durations (s) {({k: round(v, 1) for k, v in durations.items()})}; "
          f"train shares {({k: round(v, 3) for k, v in train_share.items()})}")

    per_track = {name: bench_extraction(name, args.extract_tracks, args.track_seconds, args.batch, work)
                 for name in ("small_cnn", "efficientnet_b0")}
    n_train = round(args.mlp_tracks * train_share["Genre"])
    n_val = max(1, round(args.mlp_tracks * (1 - train_share["Genre"]) / 2))
    per_track_epoch = bench_mlp(n_train, n_val, args.dim, args.classes, args.epochs, args.threads)
    if not args.skip_bank:
        bench_patch_bank(args.bank_tracks, args.bank_patches, args.dim, args.classes, args.epochs, work)

    print("extrapolated Table-3 evaluation of one model (extraction once, MLP 3 seeds x 30 epochs, CPU, "
          f"{args.threads} thread(s)):")
    for name, sec in per_track.items():
        total = 0.0
        for label, tracks, classes, _ in TABLE3:
            extract = tracks * sec * durations[label] / args.track_seconds
            mlp = 3 * 30 * tracks * train_share[label] * per_track_epoch
            total += extract + mlp
            print(f"  {name:15s} {label:10s} {tracks:6,} tracks: extraction {extract / 3600:7.2f} h, MLP {mlp / 3600:5.2f} h")
        print(f"  {name:15s} total {total / 3600:.1f} h")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
