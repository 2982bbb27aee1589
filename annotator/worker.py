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
import multiprocessing as mp
import os
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
    """One pass: retrain if a round completed, then top up the shared queue."""
    from annotator.errors import ProjectNotFoundError

    try:
        did = "idle"
        if session.retrain_pending(store, project_name):
            version = session.train(store, project_name)
            if version is not None:
                session.plan_round(store, project_name, replace_stale=True)
                did = f"trained v{version}"
        if (
            session.unclaimed_count(store, project_name) == 0
            and session.plan_round(store, project_name) is not None
            and did == "idle"
        ):
            did = "planned"
        return did
    except ProjectNotFoundError:
        return "gone"


def _target(settings: Settings, project_name: str, parent_pid: int) -> None:
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(settings, project_name, parent_pid)


@dataclass
class WorkerPool:
    """The server's workers, one per project (share one pool per server process)."""

    settings: Settings
    _procs: dict[str, mp.process.BaseProcess] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, project_name: str) -> bool:
        """Start the project's worker unless it runs; True if it was started now."""
        with self._lock:
            proc = self._procs.get(project_name)
            if proc is not None and proc.is_alive():
                return False
            ctx = mp.get_context("spawn")
            proc = ctx.Process(
                target=_target,
                args=(self.settings, project_name, os.getpid()),
                name=f"protolabel-worker-{project_name}",
                daemon=True,
            )
            proc.start()
            self._procs[project_name] = proc
            return True

    def alive(self, project_name: str) -> bool:
        proc = self._procs.get(project_name)
        return proc is not None and proc.is_alive()

    def stop_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            for proc in self._procs.values():
                if proc.is_alive():
                    proc.terminate()
            for proc in self._procs.values():
                proc.join(timeout)
            self._procs.clear()
