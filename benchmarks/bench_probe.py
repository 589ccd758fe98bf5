"""Probe benchmark: reading embeddings for a dataset, and MLP probe training, on seeded synthetic data.

    python benchmarks/bench_probe.py --tracks 20000 --dim 1280 --classes 50 --epochs 5 --seeds 1

Writes an embedding file with ``--file-tracks`` rows (default 2x the dataset: the probe reads only
the dataset's tracks from it) and a multi-label manifest, runs the ``probe`` stage, and prints
embedding read rate (rows scanned/s), probe training throughput (track-epochs/s) and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=20000, help="tracks in the downstream dataset")
    ap.add_argument("--file-tracks", type=int, default=None, help="rows of the embedding file (default 2x tracks)")
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    from discogs_tools.probe.embeddings import read_embeddings
    from discogs_tools.probe.mlp import ProbeConfig
    from discogs_tools.probe.run import run
    from discogs_tools.workspace import Workspace

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-probe-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = args.file_tracks or 2 * args.tracks
    rng = np.random.default_rng(0)
    emb_path = work / "embeddings.parquet"
    mixing = rng.normal(size=(args.dim, args.classes)).astype(np.float32)
    with pq.ParquetWriter(emb_path, pa.schema([("track_id", pa.string()), ("embedding", pa.list_(pa.float32()))])) as w:
        for start in range(0, rows, 10000):
            n = min(10000, rows - start)
            x = rng.normal(size=(n, args.dim)).astype(np.float32)
            flat = pa.array(x.reshape(-1))
            offsets = pa.array(np.arange(0, x.size + 1, args.dim, dtype=np.int32))
            w.write_table(pa.table({"track_id": [f"t{i}" for i in range(start, start + n)],
                                    "embedding": pa.ListArray.from_arrays(offsets, flat)}))
            if start < args.tracks:
                labels = (x @ mixing) > 1.5
                mode = "w" if start == 0 else "a"
                with open(work / "tags.csv", mode) as fh:
                    if start == 0:
                        fh.write("track_id,labels\n")
                    for i in range(min(n, args.tracks - start)):
                        names = [f"c{j}" for j in np.flatnonzero(labels[i])] or ["none"]
                        fh.write(f't{start + i},"{",".join(names)}"\n')

    wanted = [f"t{i}" for i in range(args.tracks)]
    t0 = time.perf_counter()
    got = read_embeddings(emb_path, wanted)
    read_s = time.perf_counter() - t0
    print(f"read embeddings: {rows:,} rows scanned, {len(got.ids):,} kept, {read_s:.2f} s "
          f"({rows / read_s:,.0f} rows/s, {emb_path.stat().st_size / read_s / 1e6:,.1f} MB/s)")
    del got

    ws = Workspace(work / "workspace").ensure()
    config = ProbeConfig(epochs=args.epochs, threads=args.threads)
    t0 = time.perf_counter()
    report = run(work / "tags.csv", workspace=ws, models=[emb_path], config=config, seeds=args.seeds, plot=False)
    total = time.perf_counter() - t0
    train_rows = report.counts["train"]
    print(f"probe stage: {args.tracks:,} tracks x {args.dim}-d, {report.counts['classes']} classes, "
          f"{args.seeds} seed(s) x {args.epochs} epochs: {total:.2f} s "
          f"({train_rows * args.epochs * args.seeds / total:,.0f} train track-epochs/s, end to end)")
    for k, v in report.figures.items():
        print(f"  {k}: {v}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
