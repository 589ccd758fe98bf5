"""Benchmark of `ingest discogs`: throughput, CPU cost and peak memory on a large synthetic dump.

The input is a real 2020 sample (1,000 records) repeated N times with shifted ids, gzipped into
a folder outside the repository (default .bench/, git-ignored). For each entity it prints
records/s, MB/s (compressed and XML), peak RSS of the main process and of the largest worker,
and the CPU time spent per 1,000 records (main process and workers), which gives the rate an
unloaded machine with N cores would reach (records / (CPU seconds / N)), the figure to trust
when other work shares the machine.

    python benchmarks/bench_ingest_discogs.py --repeat 100 --entities releases --workers 2
    python benchmarks/bench_ingest_discogs.py --repeat 100 --entities releases --bare   # the bare reference

``--bare`` runs the bare reference instead: lxml iterparse over the same gzip file on one core
(stdlib gzip, each record cleared with its preceding siblings), records/s wall and per CPU second.
Alternate it with the default mode in one shell loop to compare in the same minutes.

``--stages`` instead profiles one chunk (the 1,000-record sample) on one core, stage by stage
(CPU time, best of --rounds): record split, the tree-free parse and walk (the default path when
the walker is built), the tree path's lxml parse and conversion (compiled walker, else the Python
converters, or both with --both), Arrow assembly and Parquet write, in ms per 1,000 records:

    python benchmarks/bench_ingest_discogs.py --stages --both
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import resource
import shutil
import time
from pathlib import Path

from discogs_tools.discogs.ingest import run
from discogs_tools.discogs.stream import DEFAULT_CHUNK_BYTES
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
ENTITIES = ["releases", "masters", "artists", "labels"]


def sample_body(entity: str) -> bytes:
    """The records of the 1,000-record 2020 sample, without the root element."""
    data = gzip.decompress((sample_data_dir() / "discogs" / SAMPLE.format(entity=entity)).read_bytes())
    root = entity.encode()
    return data[data.index(b">") + 1: data.rindex(b"</" + root + b">")]


_MARKUP = re.compile(rb"(<[^>]*>|&[#A-Za-z0-9]+;)")  # tags (with attributes) and entity references
_LOWER = bytes(range(ord("a"), ord("z") + 1))


def _rotated(parts: list[bytes], k: int) -> bytes:
    """The record text with the lowercase ASCII letters of element text rotated by ``k``
    (markup, attributes, entity references, digits and non-ASCII text unchanged)."""
    table = bytes.maketrans(_LOWER, _LOWER[k % 26:] + _LOWER[:k % 26])
    return b"".join(part.translate(table) if i % 2 == 0 else part for i, part in enumerate(parts))


def build_input(entity: str, repeat: int, folder: Path, distinct: bool = False) -> Path:
    """The sample's records repeated ``repeat`` times with ids shifted by SHIFT each time.

    With ``distinct`` each copy's element text also has its letters rotated (copy k by k
    places, so copies 26 apart share text): the copies then no longer repeat each other
    within a Parquet part, so the Parquet compression does the work it would do on a real
    dump (on plain copies zstd finds the previous copy in the same part and compresses
    several times better, which makes bigger chunks look cheaper than they are)."""
    out = folder / f"bench_{entity}_x{repeat}{'_distinct' if distinct else ''}.xml.gz"
    if out.exists():
        return out
    body = sample_body(entity)
    parts = _MARKUP.split(body) if distinct else []
    root = entity.encode()
    tmp = out.with_suffix(".tmp")
    try:
        from isal import igzip as gz
    except ImportError:  # pragma: no cover
        gz = gzip
    with gz.open(tmp, "wb", compresslevel=1) as fh:
        fh.write(b"<" + root + b">")
        for k in range(repeat):
            copy = _rotated(parts, k) if distinct and k % 26 else body
            fh.write(ID_PATTERNS[entity].sub(lambda m: m.group(1) + str(int(m.group(2)) + k * SHIFT).encode(), copy)
                     if k else copy)
        fh.write(b"</" + root + b">\n")
    tmp.rename(out)
    return out


def peak_rss_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, children_kb / 1024


def cpu_seconds() -> tuple[float, float]:
    """(main process, reaped children) user+system CPU seconds so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, ch.ru_utime + ch.ru_stime


def end_to_end(args: argparse.Namespace) -> None:
    for entity in args.entities:
        src = build_input(entity, args.repeat, args.folder, args.distinct)
        ws = Workspace(args.folder / "ws")
        shutil.rmtree(ws.root, ignore_errors=True)
        cpu0 = cpu_seconds()
        t = time.perf_counter()
        report = run([src], ws, workers=args.workers, chunk_bytes=int(args.chunk_mb * (1 << 20)),
                     record_manifest=False)
        seconds = time.perf_counter() - t
        cpu1 = cpu_seconds()
        main_cpu, workers_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        d = report.details[0]
        n = d["records"]
        parquet_mb = sum(p.stat().st_size for p in ws.table(f"discogs/{entity}").glob("*.parquet")) / 1e6
        main_mb, worker_mb = peak_rss_mb()
        cores = os.cpu_count() or 1
        print(f"{entity}: {n:,} records in {seconds:.2f} s = {n / seconds:,.0f} records/s; "
              f"{d['bytes'] / 1e6 / seconds:.1f} MB/s gz, {d['xml_bytes'] / 1e6 / seconds:.1f} MB/s XML "
              f"({d['bytes'] / 1e6:.0f} MB gz, {d['xml_bytes'] / 1e6:.0f} MB XML, {parquet_mb:.0f} MB Parquet); "
              f"peak RSS main {main_mb:.0f} MB, largest worker {worker_mb:.0f} MB; workers={args.workers}")
        print(f"  CPU per 1,000 records: main {1000 * main_cpu / n * 1000:.1f} ms, workers "
              f"{1000 * workers_cpu / n * 1000:.1f} ms -> unloaded {cores} cores would do "
              f"~{n / ((main_cpu + workers_cpu) / cores):,.0f} records/s "
              f"(load average now {os.getloadavg()[0]:.1f})")


RECORD_TAG = {"releases": "release", "masters": "master", "artists": "artist", "labels": "label"}


def bare_iterparse(path: Path, entity: str) -> tuple[int, float, float]:
    """The bare reference: lxml iterparse over the gzip file (stdlib gzip), each record element
    cleared with its preceding siblings; (records, wall seconds, CPU seconds), one core."""
    from lxml import etree

    t, c = time.perf_counter(), time.process_time()
    n = 0
    with gzip.open(path) as fh:
        for _, el in etree.iterparse(fh, tag=RECORD_TAG[entity]):
            n += 1
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
    return n, time.perf_counter() - t, time.process_time() - c


def bare(args: argparse.Namespace) -> None:
    for entity in args.entities:
        src = build_input(entity, args.repeat, args.folder, args.distinct)
        n, wall, cpu = bare_iterparse(src, entity)
        print(f"bare iterparse {entity}: {n:,} records in {wall:.2f} s = {n / wall:,.0f} records/s wall; "
              f"CPU {1000 * cpu / n * 1000:.1f} ms per 1,000 = {n / cpu:,.0f} records per CPU second "
              f"(load average now {os.getloadavg()[0]:.1f})")


def stages(args: argparse.Namespace) -> None:
    import tempfile

    import pyarrow.parquet as pq
    from pyarrow.types import is_nested

    from discogs_tools.allocator import tune_for_tree_parsing
    from discogs_tools.discogs import chunk, fastpath
    from discogs_tools.discogs.detect import ENTITIES as KINDS
    from discogs_tools.schemas import load_schema

    tune_for_tree_parsing()  # as in the workers (DISCOGS_TOOLS_MALLOC_DEFAULTS=1 to compare)

    def best(fn):
        least, out = float("inf"), None
        for _ in range(args.rounds):
            t = time.process_time()
            out = fn()
            least = min(least, time.process_time() - t)
        return least, out

    def write(table, path):
        stats = [f.name for f in table.schema if not is_nested(f.type)]
        pq.write_table(table, path, write_statistics=stats, **chunk.PARQUET_OPTIONS)
        return path.tell() if hasattr(path, "tell") else 0

    tmp = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    for entity in args.entities:
        body = sample_body(entity)
        kind = KINDS[entity]
        task = chunk.ChunkTask(entity, "sample", "sample", 0, body, 0, 0, 0, None)
        times: dict[str, float] = {}
        times["split records"], spans = best(lambda: chunk.record_spans(body, kind))
        times["lxml parse (tree path)"], root = best(lambda: chunk._parse(task, kind, body))
        records = list(enumerate(root))
        n = len(records)
        schema = load_schema(kind.table)
        if fastpath.tree_free(entity, b""):  # the default path: SAX events -> arena nodes -> walker

            def tree_free():
                w = fastpath.new_walker(entity)
                for batch in chunk._batches(spans, chunk.PARSE_BATCH_BYTES):
                    fastpath.walk_batch(w, body, spans, batch, kind)
                return w

            times["tree-free parse+walk"], free_walker = best(tree_free)
            times["  + arrow"] = best(lambda: fastpath.columns(entity, free_walker, schema))[0]
        modes = []
        if fastpath.enabled(entity):
            modes.append("walker")
        if args.both or not modes:
            modes.append("python")
        for mode in modes:
            if mode == "walker":
                times["tree walker+arrow"], _ = best(lambda: fastpath.walk(entity, records, schema))
                times["  walker only"], _ = best(lambda: fastpath.new_walker(entity).walk(records))
                walker = fastpath.new_walker(entity)
                walker.walk(records)
                times["  arrow only"], _ = best(lambda: fastpath.columns(entity, walker, schema))
            else:
                times["python converters"], rows = best(lambda: chunk._convert(task, kind, spans, records, []))
                times["rows -> arrow"], _ = best(lambda: chunk._to_table(rows, task, kind, []))
        table = chunk.process_chunk(task).table
        times["parquet write"], size = best(lambda: write(table, io.BytesIO()))
        times["whole chunk"], _ = best(lambda: chunk.process_chunk(task))
        # A default-size chunk: 4 copies of the sample, text letters rotated so the copies do not
        # compress against each other; parsed in batches, written as one part file.
        parts = _MARKUP.split(body)
        big = b"".join(_rotated(parts, k) if k else body for k in range(4))
        big_task = chunk.ChunkTask(entity, "sample", "sample", 0, big, 0, 0, 0, None)
        big_table = chunk.process_chunk(big_task).table
        times["parquet write x4"] = best(lambda: write(big_table, io.BytesIO()))[0] / 4
        rounds = iter(range(1 << 30))
        times["whole chunk x4+file"] = best(lambda: chunk.process_chunk(chunk.ChunkTask(
            entity, "sample", "sample", 0, big, 0, 0, 0, str(tmp / f"{entity}-{next(rounds)}.parquet"))))[0] / 4
        print(f"{entity}: {n} records, {len(body) / 1e6:.2f} MB XML -> {size / 1e6:.2f} MB Parquet; "
              f"ms per 1,000 records on one core (CPU time, best of {args.rounds}; paths: {', '.join(modes)}; "
              "x4 = a 4-copy chunk, the default chunk size):")
        for name, sec in times.items():
            print(f"  {name:24s} {sec * 1e6 / n:8.1f}")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=100, help="copies of the 1,000-record sample")
    ap.add_argument("--entities", nargs="+", default=ENTITIES, choices=ENTITIES)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-mb", type=float, default=DEFAULT_CHUNK_BYTES / (1 << 20))
    ap.add_argument("--folder", type=Path, default=Path(".bench"))
    ap.add_argument("--distinct", action="store_true",
                    help="rotate the letters of each copy's text, so copies do not compress against each other")
    ap.add_argument("--stages", action="store_true", help="single-core per-stage profile of one chunk")
    ap.add_argument("--both", action="store_true", help="with --stages: also time the Python converters")
    ap.add_argument("--rounds", type=int, default=5, help="with --stages: repetitions (the best is kept)")
    ap.add_argument("--bare", action="store_true",
                    help="the bare single-core lxml iterparse reference on the same input, instead of ours")
    args = ap.parse_args()
    if args.bare:
        args.folder.mkdir(parents=True, exist_ok=True)
        bare(args)
        return
    if args.stages:
        stages(args)
        return
    args.folder.mkdir(parents=True, exist_ok=True)
    end_to_end(args)


if __name__ == "__main__":
    main()
