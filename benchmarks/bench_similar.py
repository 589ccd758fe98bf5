"""Nearest-neighbour index benchmark (not a test): build time and peak memory of the index over
generated 1280-d float16 embeddings, query latency p50/p99 and recall@10 against exact search,
for the toolkit's index (usearch HNSW, ``discogs_tools.similar.index``) and the other candidate
libraries, each next to the bare exact search (numpy, float32, chunked) in the same invocation.

    python benchmarks/bench_similar.py --sizes 100000 --libraries usearch,faiss-hnsw,hnswlib
    python benchmarks/bench_similar.py --sizes 100000 --libraries usearch --dtype i8,f16,bf16,f32
    python benchmarks/bench_similar.py --sizes 1000000 --libraries usearch --offset 1.5

Defaults are the toolkit's index settings (M 12, efConstruction 64, efSearch 1024, vectors auto).

Data (seeded, written once per size as a float16 memory-mapped .npy in a temporary folder):
embeddings with the structure of a music collection, not uniform noise (on which no ANN index
has meaning): 64-d latent vectors, a track = its artist's centre + N(0, 0.35^2), an artist = its
style's centre + N(0, 0.5^2), styles N(0, 1), 8 tracks per artist on average and 400 styles (the
Discogs20 top-400, seed 004 sec. 3.3.3); projected to 1280 dimensions (EfficientNet-B0's
embedding size) by a fixed random matrix, plus N(0, 0.05^2) noise in every dimension.
Queries are new tracks drawn the same way (as an audio query is a track the index does not hold).
These vectors are centred (random tracks at cosine ~0); a trained CNN's pooled activations are
mostly positive and share a direction, which ``--offset`` adds (a common |N(0, offset^2)| vector:
1.0 puts random tracks at cosine ~0.4, 2.0 at ~0.75, and brings the exact neighbours closer
together). Each size prints how the data look to a cosine index: the mean cosine of random pairs
and of a query's 1st and 10th exact neighbours. The latent clusters are 64-d: real embeddings
may spread over more dimensions, which makes any graph index work harder; read the figures with
that in mind.

usearch runs once per ``--dtype`` kind (i8 scaled per vector as the toolkit stores it, or f16,
bf16, f32), in the same invocation, so their build CPU can be compared under the same load; the
header names the SIMD kernel usearch picked for each kind on this CPU (``serial`` = emulated).

Each library runs in its own child process, so its peak RSS (reported) is its own: the memory-
mapped data it read plus the index it built. Build uses ``--threads`` threads (2 = the target
machine); queries run one at a time on one thread, as ``similar`` and ``serve`` run them.
Recall@10 = |ANN top-10 ∩ exact top-10| / 10, averaged over the queries. The 4M extrapolation
(seed 004 sec. 4.3: about 4 million tracks mapped to Discogs) scales the largest size's build
time and index memory linearly (HNSW insertion costs grow slightly faster than linearly: read it
as a lower bound). The machine's load average is printed with the figures (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIM = 1280
LATENT = 64
STYLES = 400
TRACKS_PER_ARTIST = 8
K = 10
FULL_COLLECTION = 4_000_000  # seed 004 sec. 4.3
LIBRARIES = ("usearch", "faiss-hnsw", "faiss-ivf", "hnswlib")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def hardware(dtype: str) -> str:
    """The SIMD kernel usearch picked for this scalar kind on this CPU (``auto`` or ``serial`` = emulated)."""
    if dtype == "auto":
        return "i8 or f16, chosen on the first batch"
    try:
        from usearch.index import Index

        return f"distance kernel {Index(ndim=DIM, metric='cos', dtype=dtype).hardware_acceleration}"
    except ImportError:
        return "usearch not installed"


class Generator:
    """Seeded collection-like embeddings (see module docstring)."""

    def __init__(self, n: int, seed: int = 0, offset: float = 0.0) -> None:
        rng = np.random.default_rng(seed)
        self.artists = max(1, n // TRACKS_PER_ARTIST)
        styles = rng.normal(0, 1, (STYLES, LATENT)).astype(np.float32)
        self.artist_centres = (styles[rng.integers(0, STYLES, self.artists)]
                               + rng.normal(0, 0.5, (self.artists, LATENT))).astype(np.float32)
        self.projection = (rng.normal(0, 1, (LATENT, DIM)) / np.sqrt(LATENT)).astype(np.float32)
        # a common non-negative vector added to every track (--offset): pooled activations of a CNN are
        # mostly positive, so real embeddings share a direction and random tracks have a cosine well above 0
        self.common = (offset * np.abs(np.random.default_rng([seed, 1]).normal(0, 1, DIM))).astype(np.float32)
        self.seed = seed

    def tracks(self, n: int, part: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, part])
        latent = self.artist_centres[rng.integers(0, self.artists, n)] + rng.normal(0, 0.35, (n, LATENT))
        x = latent.astype(np.float32) @ self.projection + rng.normal(0, 0.05, (n, DIM)).astype(np.float32)
        return (x + self.common).astype(np.float16)


def describe(data: np.ndarray, exact_keys: list[list[int]], queries: np.ndarray, sample: int = 2000) -> str:
    """How the data look to a cosine index: mean cosine of random pairs, and of a query's 1st and 10th
    exact neighbour (close values = hard to rank)."""
    x = np.asarray(data[:sample], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    pairs = x[: sample // 2] @ x[sample // 2:].T
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    first, tenth = [], []
    for row, keys in enumerate(exact_keys[:50]):
        v = np.asarray(data[[keys[0], keys[K - 1]]], dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        first.append(float(v[0] @ q[row]))
        tenth.append(float(v[1] @ q[row]))
    return (f"cosine of random pairs {pairs.mean():.3f}; a query's 1st / 10th exact neighbour "
            f"{np.mean(first):.3f} / {np.mean(tenth):.3f}")


def write_data(folder: Path, n: int, queries: int, seed: int, offset: float = 0.0,
               chunk: int = 50_000) -> tuple[Path, Path]:
    tag = f"{n}-{seed}" + (f"-offset{offset:g}" if offset else "")
    data = folder / f"emb-{tag}.npy"
    query = folder / f"queries-{tag}-{queries}.npy"
    if data.exists() and query.exists():
        return data, query
    gen = Generator(n, seed, offset)
    out = np.lib.format.open_memmap(data, mode="w+", dtype=np.float16, shape=(n, DIM))
    for i, start in enumerate(range(0, n, chunk)):
        out[start:start + chunk] = gen.tracks(min(chunk, n - start), i)
    out.flush()
    del out
    np.save(query, gen.tracks(queries, 10_000_000))
    return data, query


# ---------------------------------------------------------------------------------------------
# Children: one library per process


def batches(data: np.ndarray, rows: int = 16_384):
    for start in range(0, len(data), rows):
        yield start, np.asarray(data[start:start + rows], dtype=np.float32)


def child_exact(data: np.ndarray, queries: np.ndarray) -> dict:
    from discogs_tools.similar.index import exact_search

    t = time.perf_counter()
    keys = exact_search(data, queries, K)
    seconds = time.perf_counter() - t
    return {"keys": keys.tolist(), "query_ms_mean": 1000 * seconds / len(queries)}


def child_usearch(data, queries, threads, params):
    from discogs_tools.similar.index import IndexSettings, build_index, encode, vector_kind

    settings = IndexSettings(connectivity=params["m"], expansion_add=params["ef_construction"],
                             expansion_search=params["ef_search"], dtype=params["dtype"])
    ids = (f"t{i}" for i in range(len(data)))

    def named():
        for start, block in batches(data):
            yield [next(ids) for _ in range(len(block))], block

    t = time.perf_counter()
    index, _ = build_index(named(), settings, threads=threads)
    build_s = time.perf_counter() - t
    index.expansion_search = params["ef_search"]
    kind = vector_kind(index)  # what "auto" chose

    def search(q):
        return np.asarray(index.search(encode(q, kind)[0], K, threads=1).keys, dtype=np.int64)

    def set_ef(ef):
        index.expansion_search = ef

    return build_s, search, index.memory_usage, set_ef


def child_faiss(data, queries, threads, params):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_fp16, params["m"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params["ef_construction"]
    t = time.perf_counter()
    for _, block in batches(data):
        faiss.normalize_L2(block)
        index.add(block)
    build_s = time.perf_counter() - t
    index.hnsw.efSearch = params["ef_search"]
    faiss.omp_set_num_threads(1)

    def search(q):
        q = q.reshape(1, -1).copy()
        faiss.normalize_L2(q)
        return index.search(q, K)[1][0].astype(np.int64)

    def set_ef(ef):
        index.hnsw.efSearch = ef

    return build_s, search, None, set_ef


def child_faiss_ivf(data, queries, threads, params):
    import faiss

    faiss.omp_set_num_threads(threads)
    nlist = params["nlist"] or int(4 * np.sqrt(len(data)))
    quantizer = faiss.IndexFlatIP(DIM)
    index = faiss.IndexIVFScalarQuantizer(quantizer, DIM, nlist, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    sample = np.asarray(data[np.sort(rng.choice(len(data), min(len(data), 40 * nlist), replace=False))],
                        dtype=np.float32)
    faiss.normalize_L2(sample)
    index.train(sample)
    for _, block in batches(data):
        faiss.normalize_L2(block)
        index.add(block)
    build_s = time.perf_counter() - t
    index.nprobe = params["nprobe"]
    faiss.omp_set_num_threads(1)

    def search(q):
        q = q.reshape(1, -1).copy()
        faiss.normalize_L2(q)
        return index.search(q, K)[1][0].astype(np.int64)

    def set_ef(nprobe):  # the IVF knob that plays efSearch's part: lists probed
        index.nprobe = nprobe if nprobe != params["ef_search"] else params["nprobe"]

    return build_s, search, None, set_ef


def child_hnswlib(data, queries, threads, params):
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=DIM)
    index.init_index(max_elements=len(data), M=params["m"], ef_construction=params["ef_construction"])
    t = time.perf_counter()
    for start, block in batches(data):
        index.add_items(block, np.arange(start, start + len(block)), num_threads=threads)
    build_s = time.perf_counter() - t
    index.set_ef(params["ef_search"])
    index.set_num_threads(1)

    def search(q):
        return index.knn_query(q.reshape(1, -1), k=K)[0][0].astype(np.int64)

    return build_s, search, None, index.set_ef


def run_child(args: argparse.Namespace) -> None:
    data = np.load(args.data, mmap_mode="r")
    queries = np.load(args.query_file).astype(np.float32)
    if args.child == "exact":
        result = child_exact(data, queries)
    else:
        params = {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search,
                  "nlist": args.nlist, "nprobe": args.nprobe, "dtype": args.dtype}
        cpu = cpu_seconds()
        build_s, search, index_bytes, set_ef = {"usearch": child_usearch, "faiss-hnsw": child_faiss, "faiss-ivf": child_faiss_ivf,
                                        "hnswlib": child_hnswlib}[args.child](data, queries, args.threads, params)
        build_cpu_s = cpu_seconds() - cpu
        rss_after_build = peak_rss_mb()
        result = {"build_s": build_s, "build_cpu_s": build_cpu_s, "peak_rss_build_mb": rss_after_build,
                  "index_mb": index_bytes / 2**20 if index_bytes else None, "searches": []}
        for ef in (args.ef_search_values or [args.ef_search]):
            set_ef(ef)
            latencies, cpu_latencies, found = [], [], []
            for q in queries:
                t, c = time.perf_counter(), time.thread_time()
                found.append(search(q))
                cpu_latencies.append(time.thread_time() - c)
                latencies.append(time.perf_counter() - t)
            lat = np.array(latencies) * 1000
            cpu_lat = np.array(cpu_latencies) * 1000
            result["searches"].append({"ef_search": ef, "p50_ms": float(np.percentile(lat, 50)),
                                       "p99_ms": float(np.percentile(lat, 99)),
                                       "cpu_p50_ms": float(np.percentile(cpu_lat, 50)),
                                       "cpu_p99_ms": float(np.percentile(cpu_lat, 99)),
                                       "keys": [k.tolist() for k in found]})
    result["peak_rss_mb"] = peak_rss_mb()
    Path(args.out).write_text(json.dumps(result))


def child(script_args: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    try:
        subprocess.run([sys.executable, __file__, *script_args, "--out", out], check=True)
        return json.loads(Path(out).read_text())
    finally:
        os.unlink(out)


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return float(np.mean([len(set(f[:K]) & set(e[:K])) / K for f, e in zip(found, exact)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100000", help="comma-separated collection sizes")
    p.add_argument("--libraries", default="usearch", help=f"comma-separated, of {', '.join(LIBRARIES)}")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--m", type=int, default=12, help="HNSW connectivity (M; the toolkit's: 12)")
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--dtype", default="auto", help="usearch scalar kinds of the stored vectors, comma-separated, "
                   "each built and measured in turn: i8 (scaled per vector), f16, bf16, f32, or auto (the "
                   "toolkit's: i8 where it keeps a sample's neighbours, else f16)")
    p.add_argument("--ef-search", default="1024", help="efSearch; comma-separated values are each measured on "
                   "the same index")
    p.add_argument("--nlist", type=int, default=0, help="faiss-ivf lists (default 4 sqrt(n))")
    p.add_argument("--nprobe", type=int, default=16, help="faiss-ivf lists searched per query")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--offset", type=float, default=0.0, help="scale of a common non-negative vector added to "
                   "every embedding (0: centred clusters; 1-2: random tracks at a cosine of about 0.3-0.6, "
                   "as pooled CNN activations share a direction)")
    p.add_argument("--data-dir", default=None, help="keep the generated data here (default: a temporary folder)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    p.add_argument("--query-file", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.ef_search_values = [int(v) for v in str(args.ef_search).split(",")]
    args.ef_search = args.ef_search_values[0]
    if args.child:
        run_child(args)
        return
    keep = Path(args.data_dir) if args.data_dir else None
    with tempfile.TemporaryDirectory(prefix="bench-similar-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"# {load()}; build threads {args.threads}; queries one at a time on one thread; "
              f"HNSW M={args.m} efConstruction={args.ef_construction} efSearch={args.ef_search}; "
              f"usearch kinds " + ", ".join(f"{d} ({hardware(d)})" for d in args.dtype.split(",")) + "; "
              f"IVF nlist={args.nlist or '4 sqrt(n)'} nprobe={args.nprobe}", flush=True)
        for n in (int(s) for s in args.sizes.split(",")):
            t = time.perf_counter()
            data, queries = write_data(folder, n, args.queries, args.seed, args.offset)
            print(f"\n## {n:,} x {DIM} float16 embeddings ({n * DIM * 2 / 2**30:.2f} GiB), generated in "
                  f"{time.perf_counter() - t:.1f} s; {args.queries} queries", flush=True)
            base = ["--data", str(data), "--query-file", str(queries), "--threads", str(args.threads),
                    "--m", str(args.m), "--ef-construction", str(args.ef_construction),
                    "--ef-search", ",".join(map(str, args.ef_search_values)), "--nlist", str(args.nlist), "--nprobe", str(args.nprobe)]
            exact = child(["--child", "exact", *base])
            print(f"# data: {describe(np.load(data, mmap_mode='r'), exact['keys'], np.load(queries).astype(np.float32))}",
                  flush=True)
            print(f"{'exact (numpy, reference)':28s} build      -        query mean {exact['query_ms_mean']:8.2f} ms "
                  f"(batched)  recall@10 1.000  peak RSS {exact['peak_rss_mb']:8.0f} MB   [{load()}]", flush=True)
            runs = [(lib, dtype) for lib in args.libraries.split(",")
                    for dtype in (args.dtype.split(",") if lib == "usearch" else [""])]
            for lib, dtype in runs:
                r = child(["--child", lib, *base, "--dtype", dtype or "f16"])
                lib = f"{lib} {dtype}".strip()
                extra = f"  index {r['index_mb']:.0f} MB" if r.get("index_mb") else ""
                print(f"{lib:28s} build {r['build_s']:8.1f} s ({n / r['build_s']:8.0f} /s; {r['build_cpu_s']:.0f} CPU-s)  "
                      f"peak RSS {r['peak_rss_mb']:8.0f} MB{extra}   [{load()}]", flush=True)
                for q in r["searches"]:
                    rec = recall(q["keys"], exact["keys"])
                    print(f"{'':28s} efSearch {q['ef_search']:4d}: query p50 {q['p50_ms']:6.2f} ms p99 {q['p99_ms']:6.2f} ms "
                          f"(CPU time p50 {q['cpu_p50_ms']:.2f} ms p99 {q['cpu_p99_ms']:.2f} ms)  recall@10 {rec:.3f}",
                          flush=True)
                scale = FULL_COLLECTION / n
                print(f"{'':28s} extrapolated to {FULL_COLLECTION:,}: build >= {r['build_s'] * scale / 60:.1f} min "
                      f"(on {args.threads} idle cores >= {r['build_cpu_s'] / args.threads * scale / 60:.1f} min), "
                      f"peak RSS >= {r['peak_rss_mb'] * scale / 1024:.1f} GB"
                      + (f", index {r['index_mb'] * scale / 1024:.1f} GB" if r.get("index_mb") else ""), flush=True)


if __name__ == "__main__":
    main()
