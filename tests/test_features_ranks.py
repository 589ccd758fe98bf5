"""``features`` under torchrun on CPU (gloo, 2 ranks): each rank computes its blocks of tracks into
its own shards, rank 0 merges counts and rejects, and each rank resumes its own share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from discogs_tools.features.extract import run
from discogs_tools.features.ranks import owns_block
from discogs_tools.features.store import FeatureStore, index_part_path
from discogs_tools.io import read_table
from test_features import write_collection
from torchrun_helper import run_torchrun

SCRIPT = """
import json, os, sys
from pathlib import Path
from discogs_tools.workspace import Workspace
from discogs_tools.features.extract import run
r = run(Workspace(Path({root!r})), "d", tracks_per_shard=2, workers={workers})
sys.stdout.write("REPORT " + os.environ["RANK"] + " " + json.dumps(r.counts, sort_keys=True) + "\\n")
sys.stdout.flush()
"""


def torchrun(script: Path) -> dict[int, dict]:
    out = run_torchrun(script)
    reports = {}
    for line in out.stdout.splitlines():
        if line.startswith("REPORT "):
            _, rank, counts = line.split(" ", 2)
            reports[int(rank)] = json.loads(counts)
    assert sorted(reports) == [0, 1]
    return reports


def test_blocks_go_round_robin_over_ranks():
    assert [b for b in range(7) if owns_block(b, 1, 3)] == [1, 4]
    assert all(sum(owns_block(b, r, 4) for r in range(4)) == 1 for b in range(20))


@pytest.mark.slow
def test_two_ranks_write_their_own_shards_merge_and_resume(ws, tmp_path: Path):
    audio = tmp_path / "audio"
    audio.mkdir()
    write_collection(ws, audio)  # 10 tracks: 7 usable, 3 rejected (corrupt, silent, missing)
    script = tmp_path / "features_ranks.py"
    script.write_text(SCRIPT.format(root=str(ws.root), workers=1))

    reports = torchrun(script)
    merged = reports[0]
    assert merged["tracks_in"] == 10 and merged["written"] == 7 and merged["rejected"] == 3
    assert reports[0]["tracks_in"] > 0 and reports[0] != reports[1]
    # blocks of 2 tracks in collection order: rank 0 blocks 0, 2, 4 (even shards), rank 1 blocks 1, 3 (odd)
    index = read_table(ws.features / "d" / "index").to_pylist()
    order = [f"t{i}" for i in range(7)] + ["broken", "silent", "gone"]
    for row in index:
        block = order.index(row["track_id"]) // 2
        assert row["shard"] % 2 == block % 2
    rejects = (ws.rejects / "features" / "d.jsonl").read_text().splitlines()
    assert sorted(json.loads(r)["record"] for r in rejects) == ["broken", "gone", "silent"]
    assert not list((ws.rejects / "features").glob("d.rank-*"))
    manifest = json.loads(ws.manifest_path.read_text())
    assert manifest["stages"]["features d"]["params"]["ranks"] == 2

    single = run(ws, "single", tracks_per_shard=2)
    a, b = FeatureStore(ws.features / "d"), FeatureStore(ws.features / "single")
    assert sorted(a.track_ids) == sorted(b.track_ids)
    for t in b.track_ids:
        assert np.array_equal(a.get(t), b.get(t))
    assert merged == single.counts

    # resume: rank 1 lost a shard's index part; only its tracks are computed again, by rank 1
    odd = sorted({row["shard"] for row in index if row["shard"] % 2 == 1})[0]
    lost = [row["track_id"] for row in index if row["shard"] == odd]
    index_part_path(ws.features / "d", odd).unlink()
    again = torchrun(script)
    assert again[1]["written"] == len(lost)  # rank 1 redid its lost shard
    assert again[0]["written"] == len(lost) and again[0]["already_done"] == 7 - len(lost)  # merged: rank 0 redid none
    assert sorted(FeatureStore(ws.features / "d").track_ids) == sorted(b.track_ids)


TABLE_SCRIPT = """
import os, sys
import numpy as np, pyarrow as pa
from discogs_tools.features.ranks import RankGroup, RankTableWriter, owns_block
group = RankGroup.join()
out = RankTableWriter(group, {out!r}, "runs/embeddings")
for k in range(7):
    if owns_block(k, group.rank, group.world):
        ids = [f"t{{k}}-{{i}}" for i in range(k % 3 + 1)]
        emb = np.full((len(ids), 4), k, dtype=np.float32)
        flat = pa.array(emb.reshape(-1), type=pa.float32())
        offsets = pa.array(np.arange(0, emb.size + 1, 4, dtype=np.int32))
        out.write_chunk(k, pa.table({{"track_id": ids, "embedding": pa.ListArray.from_arrays(offsets, flat)}}))
out.commit()
group.leave()
sys.stdout.write("REPORT " + os.environ["RANK"] + " " + str(out.rows) + "\\n")
"""


@pytest.mark.slow
def test_rank_table_writer_puts_every_ranks_chunks_in_chunk_order(tmp_path: Path):
    script = tmp_path / "table_ranks.py"
    script.write_text(TABLE_SCRIPT.format(out=str(tmp_path / "emb")))
    out = run_torchrun(script)
    rows = {int(line.split()[1]): int(line.split()[2]) for line in out.stdout.splitlines() if line.startswith("REPORT")}
    assert rows == {0: 1 + 3 + 2 + 1, 1: 2 + 1 + 3}  # rank 0: chunks 0, 2, 4, 6; rank 1: chunks 1, 3, 5
    table = read_table(tmp_path / "emb")
    ids = table.column("track_id").to_pylist()
    assert ids == [f"t{k}-{i}" for k in range(7) for i in range(k % 3 + 1)]
    assert [row[0] for row in table.column("embedding").to_pylist()] == [k for k in range(7) for _ in range(k % 3 + 1)]
    assert not list(tmp_path.glob(".*"))  # no staging folder left


EMBED_SCRIPT = """
import json, os, sys
from pathlib import Path
from discogs_tools.workspace import Workspace
from discogs_tools.train.embed import run
r = run(Workspace(Path({root!r})), {checkpoint!r}, features={features!r}, output={output!r}, tracks_per_chunk=3,
        device="cpu")
sys.stdout.write("REPORT " + os.environ["RANK"] + " " + json.dumps(r.counts, sort_keys=True) + "\\n")
sys.stdout.flush()
"""


@pytest.mark.slow
def test_embed_under_torchrun_writes_the_same_table_as_one_process(ws, tmp_path: Path):
    from discogs_tools.probe.embeddings import read_embeddings
    from discogs_tools.train.embed import run as embed
    from test_probe_finetune import save_checkpoint
    from test_probe_protocols import write_store

    rng = np.random.default_rng(0)
    write_store(tmp_path / "feat", {f"t{i:02d}": rng.normal(size=(150 + 13 * i, 96)).astype(np.float32)
                                    for i in range(11)})
    checkpoint = save_checkpoint(tmp_path / "tiny.pt")
    single = tmp_path / "single"
    embed(ws, str(checkpoint), features=str(tmp_path / "feat"), output=str(single), tracks_per_chunk=3, device="cpu")
    script = tmp_path / "embed_ranks.py"
    script.write_text(EMBED_SCRIPT.format(root=str(ws.root), checkpoint=str(checkpoint),
                                          features=str(tmp_path / "feat"), output=str(tmp_path / "ranks")))
    reports = torchrun(script)
    # 11 tracks in chunks of 3: chunks 0 and 2 on rank 0 (6 tracks), 1 and 3 on rank 1 (5)
    assert reports[0]["tracks"] == 11 and reports[1]["tracks"] == 5
    one, two = read_embeddings(single), read_embeddings(tmp_path / "ranks")
    assert one.ids == two.ids                                       # chunk order, whatever rank wrote them
    assert np.array_equal(one.values, two.values)
    assert not list(tmp_path.glob(".ranks.tmp*"))                   # the staging folder was committed
