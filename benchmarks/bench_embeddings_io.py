"""Reading a run's embeddings as arrays: discogs_tools.embeddings_io against bare pyarrow/numpy.

Writes an embeddings table folder as ``embed`` does (``list<float32>`` vectors, one part file per
chunk), then, each in a fresh process so peak memory is its own (VmHWM), times and measures:

- ``read_embeddings`` (one preallocated matrix filled batch by batch) vs the bare reference
  ``pq.read_table(folder)`` + ``combine_chunks`` + a NumPy view (what the toolkit did before);
- ``write_npy`` (streamed through a memory map) vs the bare reference: that bare read + ``np.save``;
- ``load_npy`` (memory map) vs bare ``np.load`` (reads the file into memory).

    python benchmarks/bench_embeddings_io.py --tracks 200000 --dim 512

Prints CPU seconds, wall seconds, tracks/s by CPU time and peak RSS of each, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ("ours_read", "bare_read", "ours_npy", "bare_npy", "ours_load", "bare_load")


def write_folder(folder: Path, tracks: int, dim: int, per_part: int) -> None:
    import numpy as np
    import pyarrow as pa

    from discogs_tools.io import TableWriter

    rng = np.random.default_rng(0)
    with TableWriter(folder, "runs/embeddings", rows_per_part=per_part) as writer:
        for start in range(0, tracks, per_part):
            n = min(per_part, tracks - start)
            flat = pa.array(rng.standard_normal(n * dim, dtype=np.float32))
            offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
            writer.write(pa.table({"track_id": [f"t{start + i:09d}" for i in range(n)],
                                   "embedding": pa.ListArray.from_arrays(offsets, flat)}))
        writer.commit()


def run_case(case: str, folder: Path, work: Path) -> dict:
    """One case in this (fresh) process: returns CPU/wall seconds, rows and a checksum."""
    import numpy as np
    import pyarrow.parquet as pq

    from discogs_tools.embeddings_io import embeddings_matrix, load_npy, read_embeddings, write_npy

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    if case == "ours_read":
        ids, m = read_embeddings(folder)
    elif case == "bare_read":
        table = pq.read_table(folder, columns=["track_id", "embedding"])
        ids, m = table.column("track_id").to_pylist(), embeddings_matrix(table.column("embedding").combine_chunks())
    elif case == "ours_npy":
        write_npy(folder, work / "ours")
        ids, m = load_npy(work / "ours")
    elif case == "bare_npy":
        table = pq.read_table(folder, columns=["track_id", "embedding"])
        ids, m = table.column("track_id").to_pylist(), embeddings_matrix(table.column("embedding").combine_chunks())
        np.save(work / "bare.npy", m)
    elif case == "ours_load":
        ids, m = load_npy(work / "ours")
    elif case == "bare_load":
        m = np.load(work / "bare.npy")
        ids = list(range(len(m)))
    else:
        raise SystemExit(f"unknown case {case}")
    checksum = float(np.asarray(m[:: max(1, len(m) // 1000)], dtype=np.float64).sum())   # touch rows
    if case.endswith("_load"):  # read every page, 10,000 rows at a time (no float64 copy of the whole)
        checksum = float(sum(float(m[i:i + 10_000].sum(dtype=np.float64)) for i in range(0, len(m), 10_000)))
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    return {"case": case, "cpu_s": cpu, "wall_s": wall, "rows": len(ids), "peak_rss_mb": hwm, "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--per-part", type=int, default=1024, help="rows per part file (embed's chunk)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, Path(args.folder), Path(args.work))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder, work = Path(tmp) / "emb", Path(tmp) / "work"
        work.mkdir()
        write_folder(folder, args.tracks, args.dim, args.per_part)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(f"{args.tracks:,} tracks x {args.dim} float32 = {args.tracks * args.dim * 4 / 1e6:.0f} MB of vectors, "
              f"{size:.0f} MB of Parquet in {len(list(folder.glob('*.parquet')))} part files; "
              f"load {os.getloadavg()[0]:.1f}")
        results = {}
        for case in CASES:
            out = subprocess.run([sys.executable, __file__, "--case", case, "--folder", str(folder), "--work", str(work)],
                                 check=True, capture_output=True, text=True).stdout
            results[case] = json.loads(out.strip().splitlines()[-1])
            r = results[case]
            print(f"  {case:10s} cpu {r['cpu_s']:7.2f} s  wall {r['wall_s']:7.2f} s  "
                  f"{r['rows'] / max(r['cpu_s'], 1e-9):12,.0f} tracks/CPU-s  peak RSS {r['peak_rss_mb']:8.0f} MB")
        assert results["ours_read"]["checksum"] == results["bare_read"]["checksum"], "different matrices"
        for what in ("read", "npy", "load"):
            ours, bare = results[f"ours_{what}"], results[f"bare_{what}"]
            print(f"{what}: CPU time ours/bare {ours['cpu_s'] / max(bare['cpu_s'], 1e-9):.2f}, "
                  f"peak RSS ours/bare {ours['peak_rss_mb'] / bare['peak_rss_mb']:.2f}; "
                  f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
