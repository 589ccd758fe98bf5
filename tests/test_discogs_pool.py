"""The worker pool of `ingest discogs`: chunks through shared-memory slots or, when larger than
a slot, through the pipe; results identical to in-process runs and in submission order."""

from __future__ import annotations

import gzip

from discogs_tools.discogs.chunk import ChunkTask
from discogs_tools.discogs.detect import ENTITIES
from discogs_tools.discogs.pool import ChunkPool
from discogs_tools.discogs.stream import record_spans

LABELS_GZ = "xml2db_20200806/discogs_20200806_labels.sample1000.xml.gz"


def _tasks(samples, sizes: list[int]) -> list[ChunkTask]:
    """Consecutive chunks of the 2020 labels sample holding ``sizes`` records each."""
    xml = gzip.decompress((samples / LABELS_GZ).read_bytes())
    body = xml[xml.index(b"<label>"):xml.rindex(b"</labels>")]
    spans = record_spans(body, ENTITIES["labels"])
    tasks, first = [], 0
    for index, n in enumerate(sizes):
        start, end = spans[first][0], spans[first + n - 1][1]
        tasks.append(ChunkTask("labels", "labels.xml", "labels.xml", index, body[start:end], start, first, n, None))
        first += n
    return tasks


def _run(pool: ChunkPool, tasks: list[ChunkTask]) -> list:
    results = []
    try:
        for task in tasks:
            results.extend(pool.submit(task))
        results.extend(pool.drain())
    finally:
        pool.close()
    return results


def test_slots_and_pipe_give_the_same_results_in_order(samples):
    sizes = [3, 200, 5, 150, 1, 300, 2, 100, 4]
    tasks = _tasks(samples, sizes)
    small = max(len(t.data) for t in tasks if t.records < 10)
    assert small < min(len(t.data) for t in tasks if t.records >= 100)
    local = _run(ChunkPool(0, slot_bytes=small), tasks)
    pooled = _run(ChunkPool(2, slot_bytes=small), tasks)  # big chunks do not fit a slot: pipe
    assert [r.index for r in pooled] == list(range(len(sizes)))
    assert [r.records for r in pooled] == sizes
    for a, b in zip(local, pooled):
        assert a.table.equals(b.table) and a.rejects == b.rejects
    ids = [i for r in pooled for i in r.table.column("label_id").to_pylist()]
    assert len(ids) == sum(sizes) == len(set(ids))


def test_slots_are_reused_only_after_their_result_was_taken(samples):
    tasks = _tasks(samples, [20] * 30)  # many more chunks than slots
    pool = ChunkPool(2, slot_bytes=max(len(t.data) for t in tasks))
    assert pool._shared is not None
    results = _run(pool, tasks)
    local = _run(ChunkPool(0, slot_bytes=1), tasks)
    assert [r.table for r in results] == [r.table for r in local]
    assert pool._shared is None  # closed with the pool
