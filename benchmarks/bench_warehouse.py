"""Benchmark of the warehouse: build time, and time and peak memory of every flat view and
ready query on a large workspace.

The workspace is the real 2020 sample (1,000 records per entity) ingested once, then copied
``--repeat`` times with shifted ids into Parquet tables (no XML: this measures the warehouse,
not ingestion). Each measured step runs in a fresh child process, so the peak RSS printed is
that step's own (DuckDB runs in-process). Outputs go to a temporary folder outside the
repository (default .bench/, git-ignored).

    python benchmarks/bench_warehouse.py --repeat 100          # 100k releases
    python benchmarks/bench_warehouse.py --repeat 100 --threads 2

Each view is measured by writing it whole to Parquet through `discogs-tools sql -o` (the
streaming path a user takes to export a view), each ready query the same way.
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

SHIFT = 100_000_000
# table -> id columns shifted per copy
ID_COLUMNS = {
    "releases": ["release_id", "master_id"],
    "masters": ["master_id", "main_release"],
    "artists": ["artist_id"],
    "labels": ["label_id"],
}


def build_workspace(root: Path, repeat: int) -> Path:
    """A workspace whose Discogs tables are the 2020 sample repeated ``repeat`` times."""
    import duckdb

    from discogs_tools.discogs import ingest
    from discogs_tools.resources import sample_data_dir
    from discogs_tools.workspace import Workspace

    ws_root = root / f"ws_x{repeat}"
    if (ws_root / "tables" / "discogs" / "releases").is_dir():
        return ws_root
    sample_ws = Workspace(root / "sample").ensure()
    if not sample_ws.has_table("discogs/releases"):
        ingest.run([sample_data_dir() / "discogs" / "xml2db_20200806"], sample_ws, workers=0)
    con = duckdb.connect()
    per_part = 10
    for table, ids in ID_COLUMNS.items():
        out = ws_root / "tables" / "discogs" / table
        out.mkdir(parents=True, exist_ok=True)
        src = str(sample_ws.table(f"discogs/{table}") / "*.parquet")
        replace = ", ".join(f"{c} + k * {SHIFT} AS {c}" for c in ids)
        for part, first in enumerate(range(0, repeat, per_part)):
            last = min(repeat, first + per_part)
            con.execute(
                f"COPY (SELECT * REPLACE ({replace}) FROM range({first}, {last}) t(k), read_parquet('{src}') "
                f"ORDER BY k, record_ordinal) TO '{out / f'part-{part:05d}.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    return ws_root


def peak_rss_mb() -> float:
    """This process's peak RSS. /proc's VmHWM starts afresh at exec, unlike getrusage's
    ru_maxrss, which Linux carries over from the parent across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, ws_root: str, name: str, out: str, threads: int) -> None:
    """Run one step in this (fresh) process and print its figures as JSON."""
    import os

    from discogs_tools.workspace import Workspace

    if threads:
        os.environ["DISCOGS_TOOLS_DUCKDB_THREADS"] = str(threads)
    ws = Workspace(Path(ws_root))
    start = time.perf_counter()
    if step == "build":
        from discogs_tools.warehouse import build

        build.run(ws)
        rows = 0
    else:
        from discogs_tools.warehouse import query

        sql = f"SELECT * FROM {name}" if step == "view" else None
        report = query.run(ws, sql, file=name if step == "query" else None, output=Path(out), fmt="parquet")
        rows = report.counts["rows"]
    seconds = time.perf_counter() - start
    rss_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "rows": rows, "rss_mb": rss_mb}))


def measure(step: str, ws_root: Path, name: str, out: Path, threads: int) -> dict | None:
    """Figures of one step, or None when it failed (e.g. a query over tables this bench lacks)."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", step, str(ws_root), name, str(out), str(threads)],
        capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{step + ' ' + name:<34} skipped: {(result.stderr.strip().splitlines() or ['?'])[-1][:120]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6], int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=100, help="copies of the 1,000-record sample (default 100)")
    parser.add_argument("--workdir", type=Path, default=Path(".bench/warehouse"))
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default)")
    parser.add_argument("--only", nargs="*", help="measure only these views / queries")
    args = parser.parse_args()

    from discogs_tools.warehouse.views import load_views, queries_dir

    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ws_root = build_workspace(args.workdir.resolve(), args.repeat)
    print(f"workspace: {ws_root} ({args.repeat * 1000:,} releases; prepared in {time.perf_counter() - t0:.1f} s)")
    (ws_root / "warehouse.duckdb").unlink(missing_ok=True)
    out_dir = args.workdir.resolve() / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()

    fig = measure("build", ws_root, "", out_dir / "none", args.threads)
    print(f"{'warehouse build':<34} {fig['seconds']:8.2f} s  {'':>12}  {fig['rss_mb']:8.0f} MB peak RSS")
    steps = [("view", v.name) for v in load_views()] + [("query", p.stem) for p in sorted(queries_dir().glob("*.sql"))]
    for kind, name in steps:
        if args.only and name not in args.only:
            continue
        fig = measure(kind, ws_root, name, out_dir / f"{name}.parquet", args.threads)
        if fig is None:
            continue
        rate = fig["rows"] / fig["seconds"] if fig["seconds"] else 0.0
        print(f"{kind + ' ' + name:<34} {fig['seconds']:8.2f} s  {fig['rows']:>12,} rows  {fig['rss_mb']:8.0f} MB peak RSS"
              f"  ({rate:,.0f} rows/s)")


if __name__ == "__main__":
    main()
