"""Worker processes that die with their parent, and SIGTERM handled like Ctrl-C.

A worker pool's processes outlive a main process killed with SIGKILL (or SIGTERM, whose
default action skips every cleanup): they are reparented to init and sleep forever on
their task queue, each holding hundreds of MB. Every pool initialiser calls
:func:`init_worker`, which asks the kernel to send the worker SIGKILL when its parent dies
(Linux ``PR_SET_PDEATHSIG``), and on other platforms falls back to a watchdog thread that
polls the parent pid. The main process calls :func:`handle_sigterm` so that SIGTERM raises
:class:`Terminated` and runs the same cleanup as an interrupt (staging removed, pools
shut down), then exits 143.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM received: unwinds like Ctrl-C (so every ``except KeyboardInterrupt`` and
    ``finally`` cleanup runs) and the CLI exits 143."""


_MAIN_PID: int | None = None   # the process that installed the handler
_FORKING = False               # between the at-fork "before" and "after" hooks of that process
_DEFERRED = False              # a SIGTERM arrived while forking: delivered again once fork returned


def _raise_terminated(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    global _DEFERRED
    if os.getpid() != _MAIN_PID:
        # A child forked by a pool that has not run init_worker yet: die as SIGTERM would.
        os._exit(128 + signum)
    if _FORKING:
        # Python reports an exception raised inside an at-fork hook (logging's lock release,
        # say) as "ignored" and goes on: the signal would be lost. Deliver it again after fork.
        _DEFERRED = True
        return
    raise Terminated()


def _before_fork() -> None:
    global _FORKING
    _FORKING = True


def _redeliver_sigterm() -> None:
    """From a helper thread: SIGTERM to this process again once the fork hooks are over, so that
    the main thread raises :class:`Terminated` in ordinary code."""
    time.sleep(0.01)
    while _FORKING:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)


def _after_fork_in_parent() -> None:
    global _FORKING, _DEFERRED
    if _DEFERRED:
        _DEFERRED = False
        threading.Thread(target=_redeliver_sigterm, daemon=True).start()
    _FORKING = False


def handle_sigterm() -> None:
    """In the main process: turn SIGTERM into :class:`Terminated` (main thread only)."""
    global _MAIN_PID
    if threading.current_thread() is not threading.main_thread():
        return
    if _MAIN_PID is None:
        # Registered late, so "before" runs first and "after" last around every fork.
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)
    _MAIN_PID = os.getpid()
    signal.signal(signal.SIGTERM, _raise_terminated)


def _load_prctl():
    """libc's prctl, looked up once at import in the parent. A forked worker must not look it
    up itself: ``ctypes.util.find_library`` runs subprocesses and takes locks that another
    thread of the parent may have held at fork time (seen: a worker hung on a futex)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _set_parent_death_signal() -> bool:
    if _PRCTL is None:
        return False
    return _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0


def _watch_parent(parent: int, interval: float = 1.0) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


def init_worker(parent_pid: int | None = None) -> None:
    """Call first thing in every worker process (pool ``initializer``).

    Makes the worker die when the parent dies, restores default SIGTERM (the parent's
    handler is inherited at fork) and ignores SIGINT (Ctrl-C reaches the whole process
    group; the parent decides, then shuts the pool down). ``parent_pid`` is the pid of the
    process that created the pool, if known: when the parent already died between fork and
    this call, the worker exits at once.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The death signal first, the parent check after: a parent that dies between the two is then
    # seen by the check (read the other way round, a parent dying after getppid but before prctl
    # left the worker waiting for ever, holding the killed run's pipes).
    has_death_signal = _set_parent_death_signal()
    parent = os.getppid()
    if not has_death_signal:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if (parent_pid is not None and parent != parent_pid) or parent == 1:
        os._exit(1)


def stop_pool(executor, *, interrupted: bool) -> None:
    """Shut a ``ProcessPoolExecutor`` down.

    At a normal end this waits for the workers. When an exception is unwinding (SIGTERM, Ctrl-C,
    an error), the pending results would be thrown away anyway, and waiting can hang for ever:
    a signal to the whole process group kills workers that may hold a queue's lock or leave the
    queue's feeder thread blocked on a full pipe (seen: ``shutdown`` stuck in ``join`` after
    ``kill -TERM -- -PGID``). So the queue's feeder is told not to be joined, the workers are
    killed, and the manager thread gets a bounded wait.
    """
    if not interrupted:
        executor.shutdown(wait=True)
        return
    queue = getattr(executor, "_call_queue", None)
    if queue is not None:
        try:
            queue.cancel_join_thread()
        except Exception:  # noqa: BLE001 - best effort on an executor being torn down
            pass
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for proc in processes:
        try:
            proc.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
    manager = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.join(timeout=5)
    if manager is not None and manager.ident is not None:  # a signal can land before it has started
        manager.join(timeout=10)
