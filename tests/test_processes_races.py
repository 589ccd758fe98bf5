"""Two races of worker-process handling, seen under load in the test suite's two-process run."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor

from discogs_tools import processes


def test_stop_pool_when_the_signal_lands_before_the_manager_thread_started():
    """SIGTERM between the executor creating its manager thread and starting it: the shutdown
    must not try to join a thread that never started ("cannot join thread before it is started")."""
    executor = ProcessPoolExecutor(max_workers=1)
    executor._executor_manager_thread = threading.Thread(target=lambda: None)  # created, not started
    processes.stop_pool(executor, interrupted=True)


def test_worker_sets_its_death_signal_before_it_reads_its_parent(monkeypatch):
    """A parent killed between the two calls must be seen: prctl first, then getppid."""
    calls: list[str] = []
    monkeypatch.setattr(processes, "_set_parent_death_signal", lambda: calls.append("prctl") or True)
    monkeypatch.setattr(processes.os, "getppid", lambda: calls.append("getppid") or 4242)
    monkeypatch.setattr(processes.signal, "signal", lambda *a: None)
    exits: list[int] = []
    monkeypatch.setattr(processes.os, "_exit", exits.append)
    processes.init_worker(parent_pid=4242)
    assert calls == ["prctl", "getppid"] and exits == []
    processes.init_worker(parent_pid=1234)  # the parent is gone: reparented to another pid
    assert exits == [1]
