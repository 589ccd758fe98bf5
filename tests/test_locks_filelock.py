"""Issue 15: the output lock is `filelock`'s (flock where the file system has it, its own soft lock
where it does not) plus a small record of the holder written after acquiring; the second writer's
one-line error names a live holder and never the pid of a dead one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import filelock
import pytest
from faults import process_alive, wait_gone

from discogs_tools.locks import OutputLockedError, lock_path, output_lock

HOLD = textwrap.dedent("""
    import sys, time
    from discogs_tools.locks import output_lock
    with output_lock(sys.argv[1], sys.argv[2], sys.argv[3]):
        print("held", flush=True)
        time.sleep(60)
""")

HOLD_BARE = textwrap.dedent("""
    import sys, time, filelock
    lock = filelock.FileLock(sys.argv[1])
    lock.acquire(timeout=0)
    print("held", flush=True)
    time.sleep(60)
""")


def _start(code: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def test_output_lock_is_a_filelock_on_the_lock_path(tmp_path: Path):
    path = lock_path(tmp_path, "features", "demo")
    with output_lock(tmp_path, "features", "demo") as held:
        assert held == path
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(path).acquire(timeout=0)
    other = filelock.FileLock(path)
    other.acquire(timeout=0)     # released at the end of the block
    other.release()


def test_a_filelock_holder_blocks_the_stage(tmp_path: Path):
    bare = _start(HOLD_BARE, str(lock_path(tmp_path, "train", "r")))
    try:
        with pytest.raises(OutputLockedError, match="train r: output is being written by another process"):
            with output_lock(tmp_path, "train", "r"):
                pass
    finally:
        _stop(bare)


def test_the_record_of_a_killed_holder_is_never_named(tmp_path: Path):
    """kill -9 leaves the dead holder's record behind. A new holder that has the lock but has not
    written its record yet (here: a bare filelock holder) must not be reported as the dead pid."""
    dead = _start(HOLD, str(tmp_path), "embed", "out")
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    assert not wait_gone([dead.pid]) and not process_alive(dead.pid)
    live = _start(HOLD_BARE, str(lock_path(tmp_path, "embed", "out")))
    try:
        with pytest.raises(OutputLockedError) as refused:
            with output_lock(tmp_path, "embed", "out"):
                pass
        assert f"pid {dead.pid} " not in str(refused.value)
        assert "another process" in str(refused.value)
    finally:
        _stop(live)
    with output_lock(tmp_path, "embed", "out"):       # free again, and the record is ours now
        holder = _start(HOLD, str(tmp_path), "embed", "other")
        _stop(holder)
    second = _start(HOLD, str(tmp_path), "embed", "out")
    try:
        with pytest.raises(OutputLockedError, match=rf"pid {second.pid} "):
            with output_lock(tmp_path, "embed", "out"):
                pass
    finally:
        _stop(second)


def test_release_leaves_no_holder_named(tmp_path: Path):
    with output_lock(tmp_path, "warehouse"):
        pass
    bare = _start(HOLD_BARE, str(lock_path(tmp_path, "warehouse")))
    try:
        with pytest.raises(OutputLockedError) as refused:
            with output_lock(tmp_path, "warehouse"):
                pass
        assert f"pid {os.getpid()} " not in str(refused.value)
    finally:
        _stop(bare)
