"""A pool worker started with ``exit_with_parent`` ends when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# The parent: a spawn pool whose one worker writes its pid and then sleeps far longer than
# the test waits; the parent blocks on the result until it is killed.
PARENT = textwrap.dedent(
    """
    import concurrent.futures, multiprocessing, os, sys, time
    from annotator.processes import exit_with_parent

    def hold(path):
        open(path, "w").write(str(os.getpid()))
        time.sleep(600)

    if __name__ == "__main__":
        initializer = exit_with_parent if sys.argv[2] == "watch" else None
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=context, initializer=initializer
        ) as pool:
            pool.submit(hold, sys.argv[1]).result()
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _worker_after_parent_killed(tmp_path: Path, mode: str, wait_s: float) -> bool:
    """Start the parent, kill it once its worker runs; whether the worker lives after ``wait_s``."""
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(PARENT)
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root)}
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file), mode], env=env)
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_s
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    return alive


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_watched_worker_ends_with_its_parent(tmp_path):
    assert not _worker_after_parent_killed(tmp_path, "watch", wait_s=30)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_an_unwatched_worker_outlives_its_parent(tmp_path):
    # the control: without the watcher the worker keeps sleeping (why the watcher exists)
    assert _worker_after_parent_killed(tmp_path, "none", wait_s=3)
