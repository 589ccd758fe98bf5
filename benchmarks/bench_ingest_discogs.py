"""Benchmark of `ingest discogs`: throughput and peak memory on a large synthetic dump.

The input is a real 2020 sample (1,000 records) repeated N times with shifted ids, gzipped into
a temporary folder outside the repository (default .bench/, git-ignored). Prints records/s,
MB/s (compressed and XML) and the peak RSS of the main process and of the largest worker.

    python benchmarks/bench_ingest_discogs.py --repeat 100 --entities releases --workers 2
"""

from __future__ import annotations

import argparse
import gzip
import re
import resource
import shutil
import time
from pathlib import Path

from discogs_tools.discogs.ingest import run
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

SAMPLE = "xml2db_20200806/discogs_20200806_{entity}.sample1000.xml.gz"
ID_PATTERNS = {
    "releases": re.compile(rb'(<release id=")(\d+)'),
    "masters": re.compile(rb'(<master id=")(\d+)'),
    "artists": re.compile(rb"(<artist>(?:<images>.*?</images>)?<id>)(\d+)"),
    "labels": re.compile(rb"(<label>(?:<images>.*?</images>)?<id>)(\d+)"),
}
SHIFT = 100_000_000


def build_input(entity: str, repeat: int, folder: Path) -> Path:
    """The sample's records repeated ``repeat`` times with ids shifted by SHIFT each time."""
    out = folder / f"bench_{entity}_x{repeat}.xml.gz"
    if out.exists():
        return out
    data = gzip.decompress((sample_data_dir() / "discogs" / SAMPLE.format(entity=entity)).read_bytes())
    root = entity.encode()
    body = data[data.index(b">") + 1: data.rindex(b"</" + root + b">")]
    tmp = out.with_suffix(".tmp")
    try:
        from isal import igzip as gz
    except ImportError:  # pragma: no cover
        gz = gzip
    with gz.open(tmp, "wb", compresslevel=1) as fh:
        fh.write(b"<" + root + b">")
        for k in range(repeat):
            fh.write(ID_PATTERNS[entity].sub(lambda m: m.group(1) + str(int(m.group(2)) + k * SHIFT).encode(), body)
                     if k else body)
        fh.write(b"</" + root + b">\n")
    tmp.rename(out)
    return out


def peak_rss_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, children_kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=100, help="copies of the 1,000-record sample")
    ap.add_argument("--entities", nargs="+", default=["releases", "masters", "artists", "labels"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-mb", type=float, default=4.0)
    ap.add_argument("--folder", type=Path, default=Path(".bench"))
    args = ap.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    for entity in args.entities:
        src = build_input(entity, args.repeat, args.folder)
        ws = Workspace(args.folder / "ws")
        shutil.rmtree(ws.root, ignore_errors=True)
        t = time.perf_counter()
        report = run([src], ws, workers=args.workers, chunk_bytes=int(args.chunk_mb * (1 << 20)),
                     record_manifest=False)
        seconds = time.perf_counter() - t
        d = report.details[0]
        main_mb, worker_mb = peak_rss_mb()
        print(f"{entity}: {d['records']:,} records in {seconds:.2f} s = {d['records'] / seconds:,.0f} records/s; "
              f"{d['bytes'] / 1e6 / seconds:.1f} MB/s gz, {d['xml_bytes'] / 1e6 / seconds:.1f} MB/s XML "
              f"({d['bytes'] / 1e6:.0f} MB gz, {d['xml_bytes'] / 1e6:.0f} MB XML); "
              f"peak RSS main {main_mb:.0f} MB, largest worker {worker_mb:.0f} MB; workers={args.workers}")


if __name__ == "__main__":
    main()
