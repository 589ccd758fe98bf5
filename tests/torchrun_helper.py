"""Run a script under ``torchrun --standalone`` with 2 CPU ranks, and say why when it fails.

torchrun ends a failed run with a long ``ChildFailedError`` summary, so the tail of its stderr
alone hides the rank's own error (a rank's SIGABRT was once reported with nothing else): the
failure message keeps the head of stderr, every line that names an error, and the tail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_ERROR_LINE = re.compile(r"error|exception|terminate|abort|signal|killed|gloo", re.IGNORECASE)


def why_it_failed(stderr: str, keep: int = 2000) -> str:
    """Head, error-naming lines and tail of a failed torchrun's stderr."""
    if len(stderr) <= 3 * keep:
        return stderr
    lines = stderr[keep:-keep].splitlines()
    named = [line for line in lines if _ERROR_LINE.search(line)][:40]
    return stderr[:keep] + "\n[...]\n" + "\n".join(named) + "\n[...]\n" + stderr[-keep:]


def run_torchrun(script: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 script`` with one OpenMP thread per rank;
    skips the test when torchrun is not installed next to this python, fails it with the ranks'
    errors when the run fails."""
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("torchrun not installed next to this python")
    out = subprocess.run([exe, "--standalone", "--nproc_per_node", "2", str(script)], capture_output=True,
                         text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, why_it_failed(out.stderr)
    return out
