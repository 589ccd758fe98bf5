"""Reliability of the shared machinery (issue 11): dead staging collected, aborts that cannot be
skipped, table + description committed together, one writer per output, workers that die with
their parent, SIGTERM like Ctrl-C, disk errors and a wrong workspace as one-line errors."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.errors import InputError
from discogs_tools.features.extract import run as features_run
from discogs_tools.io import TableWriter, read_table, remove_dead_staging, table_info, write_table
from discogs_tools.locks import OutputLockedError, output_lock
from faults import dead_pid, process_alive, small_tmpfs

SCHEMA = pa.schema([("track_id", pa.string()), ("path", pa.string()), ("duration_s", pa.float64())])
REPO = Path(__file__).resolve().parents[1]


def _rows(n: int) -> pa.Table:
    return pa.Table.from_pylist([{"track_id": f"t{i}", "path": f"/a/{i}.wav", "duration_s": 1.0 + i}
                                 for i in range(n)], schema=SCHEMA)


# --- staging leftovers -----------------------------------------------------------------------

def test_next_writer_removes_dead_staging_but_not_a_live_one(tmp_path: Path):
    table = tmp_path / "tables" / "t"
    write_table(table, _rows(3), schema=SCHEMA)
    dead, live = dead_pid(), os.getpid()
    dead_dir = tmp_path / "tables" / f".t.tmp-{dead}-0123abcd"
    dead_dir.mkdir()
    (dead_dir / "part-00000.parquet").write_bytes(b"half")
    dead_wal = tmp_path / "tables" / f".t.tmp-{dead}-0123abcd.wal"  # a side file (DuckDB's WAL)
    dead_wal.write_bytes(b"wal")
    live_dir = tmp_path / "tables" / f".t.tmp-{live}-89abcdef"
    live_dir.mkdir()
    other = tmp_path / "tables" / f".u.tmp-{dead}-0123abcd"  # another output's: not ours to judge
    other.mkdir()
    write_table(table, _rows(2), schema=SCHEMA)
    assert not dead_dir.exists() and not dead_wal.exists()
    assert live_dir.exists() and other.exists()
    assert read_table(table).num_rows == 2


def test_killed_between_renames_restores_the_previous_output(tmp_path: Path):
    """replace_path moves the old folder aside, then renames the new one in: a kill between the
    two leaves only the aside copy, and the next writer puts it back instead of deleting it."""
    table = tmp_path / "t"
    write_table(table, _rows(4), schema=SCHEMA)
    aside = table.with_name(f".t.old-{dead_pid()}-0123abcd")
    os.replace(table, aside)
    assert remove_dead_staging(table) == []
    assert read_table(table).num_rows == 4 and not aside.exists()


def test_abort_removes_staging_even_when_closing_the_part_fails(tmp_path: Path, monkeypatch):
    """ENOSPC during ingest: the part's close raises, and the staging folder used to stay."""
    table = tmp_path / "t"
    write_table(table, _rows(3), schema=SCHEMA)

    real_close, calls = pq.ParquetWriter.close, []

    def full_disk(self):  # the first close fails as on a full disk; the garbage collector's retry works
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_close(self)

    with pytest.raises(RuntimeError):
        with TableWriter(table, schema=SCHEMA) as writer:
            writer.write(_rows(5))
            monkeypatch.setattr(pq.ParquetWriter, "close", full_disk)
            raise RuntimeError("the stage failed")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert read_table(table).num_rows == 3


def test_commit_failure_keeps_previous_table_and_leaves_nothing(tmp_path: Path, monkeypatch):
    table = tmp_path / "t"
    write_table(table, _rows(3), schema=SCHEMA)
    writer = TableWriter(table, schema=SCHEMA)
    writer.write(_rows(5))
    real_close, calls = pq.ParquetWriter.close, []

    def full_disk(self):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_close(self)

    monkeypatch.setattr(pq.ParquetWriter, "close", full_disk)
    with pytest.raises(OSError):
        writer.commit()
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert read_table(table).num_rows == 3


def test_table_description_is_committed_with_the_table(tmp_path: Path):
    table = tmp_path / "t"
    with TableWriter(table, schema=SCHEMA, rows_per_part=2) as writer:
        for i in range(5):
            writer.write(_rows(5).slice(i, 1))
        writer.info["made_from"] = {"dataset_version": "abc"}
    first = table_info(table)
    assert first["rows"] == 5 == sum(pq.ParquetFile(p).metadata.num_rows for p in table.glob("*.parquet"))
    assert first["parts"] == 3 and first["made_from"] == {"dataset_version": "abc"}
    write_table(table, _rows(1), schema=SCHEMA)
    second = table_info(table)
    assert second["rows"] == 1 and second["version"] != first["version"]


def test_real_full_disk_leaves_no_staging_and_the_previous_table(tmp_path: Path):
    with small_tmpfs(tmp_path / "small", "256k") as mnt:
        table = mnt / "t"
        write_table(table, _rows(3), schema=SCHEMA)
        rng = np.random.default_rng(0)
        noise = pa.table({"track_id": [rng.bytes(64).hex() for _ in range(20_000)],
                          "path": ["x"] * 20_000, "duration_s": rng.random(20_000)}, schema=SCHEMA)
        with pytest.raises(OSError) as exc:
            write_table(table, noise, schema=SCHEMA, compression="none")
        assert exc.value.errno == errno.ENOSPC or "No space left" in str(exc.value)
        assert sorted(p.name for p in mnt.iterdir()) == ["t"]
        assert read_table(table).num_rows == 3


# --- one writer per output -------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from discogs_tools.locks import output_lock
    with output_lock(sys.argv[1], sys.argv[2], sys.argv[3]):
        print("held", flush=True)
        time.sleep(60)
""")


def _hold(root: Path, stage: str, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root), stage, name], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_of_an_output_is_refused_naming_the_holder(tmp_path: Path):
    holder = _hold(tmp_path, "features", "demo")
    try:
        with pytest.raises(OutputLockedError, match=rf"features demo: output is being written by pid {holder.pid}"):
            with output_lock(tmp_path, "features", "demo"):
                pass
        with output_lock(tmp_path, "features", "other"):  # another output: free
            pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(tmp_path, "features", "demo"):  # kill -9 released it: never stale
        pass


def write_collection(ws, folder: Path, *, playable: int = 2, broken: int = 1) -> None:
    rows = []
    for i in range(playable):
        path = folder / f"t{i}.wav"
        t = np.arange(16000 * 2) / 16000
        sf.write(path, (0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t)).astype(np.float32), 16000)
        rows.append({"track_id": f"t{i}", "path": str(path), "duration_s": 2.0})
    for i in range(broken):
        path = folder / f"b{i}.wav"
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
        rows.append({"track_id": f"b{i}", "path": str(path), "duration_s": 2.0})
    write_table(ws.table("collection/tracks"), pa.Table.from_pylist(rows, schema=SCHEMA), schema=SCHEMA)


def test_concurrent_features_run_is_refused_and_cannot_delete_a_live_shard(ws, tmp_path: Path):
    """The second run's orphan cleanup used to delete the first run's shard being written."""
    write_collection(ws, tmp_path)
    shards = ws.features / "f" / "shards"
    shards.mkdir(parents=True)
    live = shards / ".00000.f16.tmp-1-live"  # what the first run is writing right now
    live.write_bytes(b"in progress")
    holder = _hold(ws.root, "features", "f")
    try:
        res = CliRunner().invoke(app, ["features", "--name", "f", "-w", str(ws.root)])
        assert res.exit_code == 2
        assert f"pid {holder.pid}" in res.output and "Traceback" not in res.output
        assert live.exists()
    finally:
        holder.kill()
        holder.wait()


def test_features_of_an_empty_collection_fail(ws):
    write_table(ws.table("collection/tracks"), _rows(0), schema=SCHEMA)
    res = CliRunner().invoke(app, ["features", "--name", "f", "-w", str(ws.root)])
    assert res.exit_code == 2 and "collection/tracks is empty" in res.output


def test_features_where_every_track_is_rejected_fail_and_keep_the_earlier_shards(ws, tmp_path: Path):
    write_collection(ws, tmp_path)
    assert features_run(ws, "f").counts["written"] == 2
    before = {p.name: p.read_bytes() for p in (ws.features / "f" / "shards").iterdir()}
    other = tmp_path / "other"
    other.mkdir()
    write_collection(ws, other, playable=0, broken=3)
    kept_rejects = (ws.rejects / "features" / "f.jsonl").read_bytes()
    with pytest.raises(InputError, match="all 3 tracks were rejected"):
        features_run(ws, "f")
    assert {p.name: p.read_bytes() for p in (ws.features / "f" / "shards").iterdir()} == before
    assert (ws.rejects / "features" / "f.jsonl").read_bytes() == kept_rejects
    assert (ws.rejects / "features" / "f.failed.jsonl").read_text().count("\n") == 3
    write_collection(ws, tmp_path)  # usable again: the failed run's rejects are removed
    features_run(ws, "f")
    assert not (ws.rejects / "features" / "f.failed.jsonl").exists()


# --- one-line errors -------------------------------------------------------------------------

def test_workspace_that_is_a_file_is_one_line(tmp_path: Path):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    for args in (["warehouse"], ["sql", "SELECT 1"], ["features", "--name", "x"]):
        res = CliRunner().invoke(app, [*args, "-w", str(f)])
        assert res.exit_code == 2, (args, res.output)
        assert "is a file, not a folder" in res.output and "Traceback" not in res.output


def test_full_disk_inside_a_stage_is_one_line(ws, tmp_path: Path, monkeypatch):
    write_collection(ws, tmp_path)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(ws.features / "f" / "shards" / "x"))

    monkeypatch.setattr("discogs_tools.features.extract.write_settings", full)
    res = CliRunner().invoke(app, ["features", "--name", "f", "-w", str(ws.root)])
    assert res.exit_code == 2, res.output
    assert "no space left on device" in res.output and "Traceback" not in res.output


# --- worker processes --------------------------------------------------------------------------

POOL_PARENT = textwrap.dedent("""
    import os, sys, time
    from discogs_tools.discogs.pool import ChunkPool
    from discogs_tools.playlists.parallel import ordered_map
    import concurrent.futures as cf
    from discogs_tools.processes import init_worker

    def pid(_):
        return os.getpid()

    kind = sys.argv[1]
    if kind == "chunkpool":
        pool = ChunkPool(2, slot_bytes=1 << 16)
        ex = pool._executor
    else:
        ex = cf.ProcessPoolExecutor(2, initializer=init_worker, initargs=(os.getpid(),))
    pids = set()
    while len(pids) < 2:
        pids |= set(ex.map(pid, range(8)))
        pids |= {p.pid for p in ex._processes.values()}
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(120)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG are Linux")
@pytest.mark.parametrize("kind", ["chunkpool", "executor"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(kind: str, sig: int):
    parent = subprocess.Popen([sys.executable, "-c", POOL_PARENT, kind], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) >= 2 and all(process_alive(p) for p in workers)
        parent.send_signal(sig)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(process_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(process_alive(p) for p in workers), "worker survived its parent"
    finally:
        parent.kill()
        parent.wait()


def test_manifest_entry_names_the_table_versions_it_describes(tmp_path: Path):
    from discogs_tools import manifest

    table = tmp_path / "t"
    write_table(table, _rows(2), schema=SCHEMA)
    entry = manifest.record(tmp_path / "manifest.json", "stage", {"outputs": {"t": str(table)}})
    assert entry["output_versions"] == {"t": table_info(table)["version"]}
    write_table(table, _rows(1), schema=SCHEMA)  # e.g. the manifest write after this failed
    assert manifest.get(tmp_path / "manifest.json", "stage")["output_versions"]["t"] != table_info(table)["version"]


@pytest.mark.usefixtures("one_torch_thread")
def test_embed_with_nothing_to_embed_fails_and_keeps_the_previous_embeddings(ws):
    from discogs_tools.features.extract import settings_for
    from discogs_tools.features.mel import MelFrontEnd
    from discogs_tools.features.store import write_settings
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.embed import run as embed_run
    from discogs_tools.train.loop import run as train_run
    from test_train_data import GroupPairs, make_feature_set

    ids = make_feature_set(ws.features / "syn", n_groups=4, per_group=4, frames=(40, 60))
    cfg = TrainConfig(run="e", features="syn", objective="cola", associations=("artist",), backbone="small_cnn",
                      cnn_width=8, epochs=1, batch_size=8, crop_frames=16, seed=3)
    train_run(ws, cfg, source=GroupPairs(ids))
    out = ws.runs / "e" / "embeddings" / "kept"
    assert embed_run(ws, "e", which="last", device="cpu", output=str(out)).counts["tracks"] == len(ids)
    empty = ws.features / "empty"
    write_settings(empty, settings_for(MelFrontEnd(), None))
    (empty / "index").mkdir()
    with pytest.raises(InputError, match="feature set empty holds no track"):
        embed_run(ws, "e", which="last", device="cpu", features="empty", output=str(out))
    assert read_table(out).num_rows == len(ids)


def test_full_disk_during_ingest_is_one_line_and_keeps_the_previous_table(tmp_path: Path):
    from discogs_tools.resources import sample_data_dir

    samples = sample_data_dir() / "discogs"
    with small_tmpfs(tmp_path / "small", "200k") as mnt:
        ws = mnt / "ws"
        small = samples / "alexquintino_2015" / "releases_sample.xml"
        big = samples / "xml2db_20200806" / "discogs_20200806_releases.sample1000.xml.gz"
        runner = CliRunner()
        assert runner.invoke(app, ["ingest", "discogs", str(small), "-w", str(ws)]).exit_code == 0
        res = runner.invoke(app, ["ingest", "discogs", str(big), "-w", str(ws)])
        assert res.exit_code == 2, res.output
        assert "no space left on device" in res.output and "Traceback" not in res.output
        assert read_table(ws / "tables" / "discogs" / "releases").num_rows == 6
        assert sorted(p.name for p in (ws / "tables" / "discogs").iterdir()) == ["releases"]


def test_rejects_staging_of_a_killed_run_is_collected_by_the_next(tmp_path: Path):
    from discogs_tools.errors import RejectsWriter

    target = tmp_path / "rejects" / "stage.jsonl"
    with RejectsWriter(target) as first:
        first.add(file="a", reason="bad")
        staged = first._tmp
        first._fh.flush()
        killed = staged.with_name(staged.name.replace(f"-{os.getpid()}-", f"-{dead_pid()}-"))
        os.link(staged, killed)  # what a kill -9 at this point leaves behind
    assert killed.exists()
    with RejectsWriter(target) as second:
        second.add(file="b", reason="bad")
    assert sorted(p.name for p in target.parent.iterdir()) == ["stage.jsonl"]


def test_duckdb_spill_on_a_full_disk_is_recognised_as_a_disk_problem():
    from discogs_tools.errors import disk_problem

    spill = ("Out of Memory Error: failed to offload data block of size 256.0 KiB (1.6 MiB/1.7 MiB used). "
             "This limit was set by the 'max_temp_directory_size' setting.")  # DuckDB's text, seen on a full tmpfs
    assert "spill" in disk_problem(RuntimeError(spill))
    assert disk_problem(RuntimeError("Binder Error: column x not found")) is None


@pytest.mark.usefixtures("one_torch_thread")
def test_train_embed_and_probe_refuse_a_second_writer_of_the_same_output(ws, tmp_path: Path):
    from discogs_tools.probe.run import run as probe_run
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.embed import run as embed_run
    from discogs_tools.train.loop import run as train_run
    from test_train_data import GroupPairs, make_feature_set

    ids = make_feature_set(ws.features / "syn", n_groups=4, per_group=4, frames=(40, 60))
    cfg = TrainConfig(run="r", features="syn", objective="cola", associations=("artist",), backbone="small_cnn",
                      cnn_width=8, epochs=1, batch_size=8, crop_frames=16, seed=3)
    holder = _hold(ws.root, "train", "r")
    try:
        with pytest.raises(OutputLockedError, match=f"pid {holder.pid}"):
            train_run(ws, cfg, source=GroupPairs(ids))
        assert not (ws.runs / "r").exists()
    finally:
        holder.kill()
        holder.wait()
    train_run(ws, cfg, source=GroupPairs(ids))
    out = tmp_path / "emb"
    holder = _hold(ws.root, "embed", str(out.resolve()))
    try:
        with pytest.raises(OutputLockedError):
            embed_run(ws, "r", which="last", device="cpu", output=str(out))
    finally:
        holder.kill()
        holder.wait()
    embed_run(ws, "r", which="last", device="cpu", output=str(out))
    task = tmp_path / "task.csv"
    task.write_text("track_id,label,split\n" + "".join(f"{t},{t.split('-')[0]},{('train', 'validation', 'test')[i % 3]}\n"
                                                       for i, t in enumerate(ids)))
    holder = _hold(ws.root, "probe", "p.task")
    try:
        with pytest.raises(OutputLockedError):
            probe_run(task, workspace=ws, models=[str(out)], name="p", seeds=1, baseline=False, plot=False)
    finally:
        holder.kill()
        holder.wait()


def test_interrupted_force_run_keeps_the_previous_feature_set(ws, tmp_path: Path, monkeypatch):
    """--force used to delete the complete feature set before computing the new one."""
    from discogs_tools.features import extract

    write_collection(ws, tmp_path)
    features_run(ws, "f", tracks_per_shard=1)
    before = {p.name: p.read_bytes() for p in (ws.features / "f" / "shards").iterdir()}
    real, calls = extract.compute_unit, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(extract, "compute_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        features_run(ws, "f", tracks_per_shard=1, force=True)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in (ws.features / "f" / "shards").iterdir()} == before
    assert sorted(p.name for p in ws.features.iterdir()) == ["f"]
    report = features_run(ws, "f", tracks_per_shard=1, force=True)  # a complete forced run replaces it
    assert report.counts["written"] == 2 and report.outputs["features"] == str(ws.features / "f")


def test_output_lock_on_a_read_only_workspace_lets_readers_through(tmp_path: Path):
    """Audit: `sql` on a read-only workspace failed opening `.locks/warehouse.lock` for writing."""
    with small_tmpfs(tmp_path / "ro", "1m") as mnt:
        with output_lock(mnt, "warehouse"):  # creates .locks/warehouse.lock while writable
            pass
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with output_lock(mnt, "warehouse"):  # the file exists: locked read-only
            pass
        with output_lock(mnt, "features", "never-locked-before"):  # cannot exist: no lock needed
            pass
