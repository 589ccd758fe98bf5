"""Fault injection on the real commands (issue 11, items 5 and 6): kill the main process of
``ingest discogs`` and of ``features -j 2`` while their workers run, and check that no worker survives, that SIGTERM cleans
up like Ctrl-C (exit 143, no staging), that SIGKILL's staging is collected by the next run, and
that the previous tables are intact throughout.

The input is the bundled release sample repeated to ~60 MB, so the run lasts long enough to be
killed with both workers busy (a few seconds on 2 cores); the kill comes as soon as they exist.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discogs_tools.io import read_table

from discogs_tools.resources import sample_data_dir
from faults import children, wait_gone

SAMPLES = sample_data_dir() / "discogs"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and fork")


@pytest.fixture(scope="module")
def big_dump(tmp_path_factory) -> Path:
    """A releases dump of the sample's records repeated until ~60 MB."""
    src = next(p for p in sorted(SAMPLES.rglob("*releases*.xml*")))
    text = (gzip.open(src) if src.suffix == ".gz" else open(src, "rb")).read().decode("utf-8")
    records = re.findall(r"<release\b.*?</release>", text, flags=re.S)
    assert records
    block = "\n".join(records)
    out = tmp_path_factory.mktemp("big") / "discogs_20250101_releases.xml"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("<releases>\n")
        written = 0
        while written < 60 << 20:
            fh.write(block)
            written += len(block)
        fh.write("\n</releases>\n")
    return out


def _start(dump: Path, ws: Path, new_session: bool = False) -> tuple[subprocess.Popen, list[int]]:
    env = {**os.environ, "DISCOGS_TOOLS_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "discogs_tools", "ingest", "discogs", str(dump), "-w", str(ws),
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=new_session)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        staging = list((ws / "tables" / "discogs").glob(".releases.tmp-*"))
        if len(workers) >= 2 and staging:
            return proc, workers
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"ingest never had two workers and a staging folder: {proc.communicate()}")


def _ingest_sample(samples: Path, ws: Path) -> int:
    src = next(p for p in sorted(samples.rglob("*releases*.xml*")))
    res = subprocess.run([sys.executable, "-m", "discogs_tools", "ingest", "discogs", str(src), "-w", str(ws)],
                         capture_output=True, text=True, env={**os.environ, "DISCOGS_TOOLS_QUIET": "1"})
    assert res.returncode == 0, res.stderr
    return read_table(ws / "tables" / "discogs" / "releases").num_rows


@pytest.mark.parametrize("group", [False, True], ids=["main-process", "process-group"])
def test_sigterm_cleans_up_like_ctrl_c(big_dump: Path, samples: Path, tmp_path: Path, group: bool):
    ws = tmp_path / "ws"
    rows = _ingest_sample(samples, ws)
    proc, workers = _start(big_dump, ws, new_session=group)
    if group:  # as `timeout`, `kill -- -PGID` and batch schedulers send it
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    assert wait_gone(workers) == []
    assert sorted(p.name for p in (ws / "tables" / "discogs").iterdir()) == ["releases"]
    assert read_table(ws / "tables" / "discogs" / "releases").num_rows == rows


def test_sigkill_leaves_no_worker_and_the_next_run_collects_the_staging(big_dump: Path, samples: Path,
                                                                       tmp_path: Path):
    ws = tmp_path / "ws"
    rows = _ingest_sample(samples, ws)
    proc, workers = _start(big_dump, ws)
    proc.kill()
    proc.communicate(timeout=60)
    assert wait_gone(workers) == [], "a worker outlived its killed parent"
    leftovers = list((ws / "tables" / "discogs").glob(".releases.tmp-*"))
    assert leftovers, "kill -9 is expected to leave the staging folder for the next run"
    assert read_table(ws / "tables" / "discogs" / "releases").num_rows == rows
    assert _ingest_sample(samples, ws) == rows
    assert sorted(p.name for p in (ws / "tables" / "discogs").iterdir()) == ["releases"]


@pytest.fixture(scope="module")
def audio_collection(tmp_path_factory) -> Path:
    """A workspace whose collection is 60 tracks of 20 s (~3 s of `features -j 2` on 2 cores)."""
    import numpy as np
    import pyarrow as pa
    import soundfile as sf

    from discogs_tools.io import write_table

    root = tmp_path_factory.mktemp("audio")
    schema = pa.schema([("track_id", pa.string()), ("path", pa.string()), ("duration_s", pa.float64())])
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        path = root / f"t{i:02d}.wav"
        sf.write(path, (0.1 * rng.standard_normal(16000 * 20)).astype(np.float32), 16000)
        rows.append({"track_id": f"t{i:02d}", "path": str(path), "duration_s": 20.0})
    write_table(root / "ws" / "tables" / "collection" / "tracks", pa.Table.from_pylist(rows, schema=schema),
                schema=schema)
    return root / "ws"


@pytest.mark.parametrize("sig,group", [(signal.SIGTERM, False), (signal.SIGKILL, False), (signal.SIGTERM, True)],
                         ids=["sigterm", "sigkill", "sigterm-to-process-group"])
def test_killed_features_run_leaves_no_worker_and_resumes_cleanly(audio_collection: Path, tmp_path: Path, sig: int,
                                                                  group: bool):
    """``group``: the signal goes to the whole process group, as `timeout`, `kill -- -PGID` and
    batch schedulers send it; the workers then die before their own cleanup, so the main
    process removes their half-written shards."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(audio_collection, ws)
    cmd = [sys.executable, "-m", "discogs_tools", "features", "--name", "f", "-j", "2", "--tracks-per-shard", "2",
           "-w", str(ws)]
    env = {**os.environ, "DISCOGS_TOOLS_QUIET": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=group)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        if len(workers) >= 2 and list((ws / "features" / "f" / "index").glob("*.parquet")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "features finished before it could be killed"
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert wait_gone(workers) == [], "a worker outlived its parent"
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and "Traceback" not in err, err
        assert not list((ws / "features" / "f" / "shards").glob(".*")), "half-written shards left behind"
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)  # resume: collects leftovers, completes
    assert res.returncode == 0, res.stderr
    assert not list((ws / "features" / "f" / "shards").glob(".*"))
    from discogs_tools.features.store import FeatureStore

    assert len(FeatureStore(ws / "features" / "f").track_ids) == 60
