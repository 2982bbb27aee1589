"""The background trainer: one spawned process per project and server.

It retrains the prototypical network when a round has been completed, then queues the next
batch chosen by the new model (replacing unreserved items of batches that an older model chose
meanwhile), and keeps one batch waiting in the shared queue so a tab never runs dry. It runs
with one torch thread so the server stays responsive, exits when the server that started it
goes away, and on start picks up a retrain left pending by a previous server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from annotator.config import Settings

POLL_SECONDS = 0.5
log = logging.getLogger(__name__)


def run_worker(
    settings: Settings, project_name: str, parent_pid: int, *, once: bool = False
) -> None:
    """The worker loop (the body of the spawned process); ``once`` runs one pass (tests)."""
    import torch

    torch.set_num_threads(1)
    from annotator import session
    from annotator.store.db import Store

    store = Store.open(settings)
    try:
        while True:
            step(store, project_name, session)
            if once or os.getppid() != parent_pid:
                return
            time.sleep(POLL_SECONDS)
    finally:
        store.dispose()


def step(store, project_name: str, session) -> str:
    """One pass: retrain if a round completed, then top up the shared queue.

    Training runs under the project's trainer lock (``annotator.store.locks``): with several
    app instances on one database only one trains at a time; the others skip ("locked") and
    read the newest model version like everyone else.
    """
    from annotator.errors import ProjectNotFoundError

    try:
        did = "idle"
        if session.retrain_pending(store, project_name):
            did = _train_locked(store, project_name, session)
        if (
            session.unclaimed_count(store, project_name) == 0
            and session.plan_round(store, project_name) is not None
            and did == "idle"
        ):
            did = "planned"
        return did
    except ProjectNotFoundError:
        return "gone"


def _train_locked(store, project_name: str, session) -> str:
    from annotator.store.locks import trainer_lock

    with trainer_lock(store, session.project_id(store, project_name)) as got:
        if not got:
            return "locked"
        if not session.retrain_pending(store, project_name):
            return "idle"  # another instance trained while this one waited for the lock
        version = session.train(store, project_name)
        if version is None:
            return "idle"
        session.plan_round(store, project_name, replace_stale=True)
        return f"trained v{version}"


def main(argv: list[str] | None = None) -> int:
    """``python -m annotator.worker PROJECT PARENT_PID``; the database comes from the environment."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m annotator.worker PROJECT PARENT_PID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(Settings.from_env(), args[0], int(args[1]))
    return 0


@dataclass
class WorkerPool:
    """The server's workers, one per project (share one pool per server process).

    A worker is a fresh ``python -m annotator.worker`` process, not a multiprocessing child:
    spawn would re-run the caller's ``__main__``, which under Streamlit is the page script.
    """

    settings: Settings
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, project_name: str) -> bool:
        """Start the project's worker unless it runs; True if it was started now."""
        with self._lock:
            proc = self._procs.get(project_name)
            if proc is not None and proc.poll() is None:
                return False
            env = dict(os.environ, PROTOLABEL_DB=self.settings.db_url, PROTOLABEL_SEED=str(self.settings.seed),
                       PROTOLABEL_DEVICE=self.settings.device, OMP_NUM_THREADS="1")  # fmt: skip
            if self.settings.data_dir is not None:
                env["PROTOLABEL_DATA_DIR"] = str(self.settings.data_dir)
            self._procs[project_name] = subprocess.Popen(
                [sys.executable, "-m", "annotator.worker", project_name, str(os.getpid())],
                env=env, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            return True

    def alive(self, project_name: str) -> bool:
        proc = self._procs.get(project_name)
        return proc is not None and proc.poll() is None

    def stop_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in self._procs.values():
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
            self._procs.clear()


if __name__ == "__main__":
    sys.exit(main())
