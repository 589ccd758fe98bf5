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


def _raise_terminated(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    raise Terminated()


def handle_sigterm() -> None:
    """In the main process: turn SIGTERM into :class:`Terminated` (main thread only)."""
    if threading.current_thread() is threading.main_thread():
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
    parent = os.getppid()
    if not _set_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if (parent_pid is not None and parent != parent_pid) or parent == 1:
        os._exit(1)
