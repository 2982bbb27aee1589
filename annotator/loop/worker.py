"""The background trainer: one spawned process per project and server.

It retrains the prototypical network when a round has been completed, then replans the open
rounds with the new model (``loop.plan_round``: what nobody has seen is replaced, rounds keep
their batch size). A planner thread keeps items waiting in the shared queue meanwhile, so a tab
never runs dry and never waits for a retrain. It runs
with one torch thread so the server stays responsive, exits when the server that started it
goes away, and on start picks up a retrain left pending by a previous server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from annotator.config import Settings

POLL_SECONDS = 0.5
#: The planner thread looks again this soon after planning (a tab may be running dry).
PLAN_POLL_SECONDS = 0.05
log = logging.getLogger(__name__)


def run_worker(
    settings: Settings, project_name: str, parent_pid: int, *, once: bool = False
) -> None:
    """The worker loop (the body of the spawned process); ``once`` runs one pass (tests)."""
    import torch

    # SIGTERM (the server stopping its workers) ends the process through the finally blocks,
    # so the locks and connections it holds are given back at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    torch.set_num_threads(1)
    from annotator.store.db import Store

    store = Store.open(settings)
    stop = threading.Event()
    planner = threading.Thread(
        target=plan_loop, args=(store, project_name, stop), name="planner", daemon=True
    )
    if not once:
        planner.start()
    try:
        while True:
            step(store, project_name)
            if once or os.getppid() != parent_pid:
                return
            time.sleep(POLL_SECONDS)
    finally:
        stop.set()
        if planner.is_alive():
            planner.join(timeout=30)
        store.dispose()


def plan_loop(store, project_name: str, stop: threading.Event) -> None:
    """The planner thread: keeps the shared queue stocked and replans after each retrain,
    so choosing items never waits for a retrain (``loop.needs_planning``)."""
    from annotator import loop
    from annotator.errors import ProjectNotFoundError

    while not stop.is_set():
        try:
            planned = loop.needs_planning(store, project_name) and (
                loop.plan_round(store, project_name) is not None
            )
        except ProjectNotFoundError:
            return
        except Exception:  # noqa: BLE001 - logged; the next pass tries again
            log.exception("planning %s failed", project_name)
            planned = False
        stop.wait(PLAN_POLL_SECONDS if planned else POLL_SECONDS)


def step(store, project_name: str) -> str:
    """One pass: retrain if a round completed, then plan if the queue needs it.

    Training (``annotator.loop.training``) runs under the
    project's trainer lock (``annotator.store.locks``): with several app instances on one
    database only one trains at a time; the others skip ("locked") and read the newest model
    version like everyone else. After a retrain the open rounds are replanned with the new
    model; between retrains one batch waits in the shared queue, so a tab never runs dry.
    """
    from annotator import loop
    from annotator.errors import ProjectNotFoundError
    from annotator.loop import training

    try:
        did = "idle"
        if training.retrain_pending(store, project_name):
            did = _train_locked(store, project_name)
        if (
            loop.needs_planning(store, project_name)
            and loop.plan_round(store, project_name) is not None
            and did == "idle"
        ):
            did = "planned"
        return did
    except ProjectNotFoundError:
        return "gone"


def _train_locked(store, project_name: str) -> str:
    from annotator import loop
    from annotator.loop import training
    from annotator.store.locks import trainer_lock

    with trainer_lock(store, loop.project_id(store, project_name)) as got:
        if not got:
            return "locked"
        if not training.retrain_pending(store, project_name):
            return "idle"  # another instance trained while this one waited for the lock
        version = training.train(store, project_name)
        if version is None:
            return "idle"
        loop.plan_round(store, project_name)  # replan the open rounds with the new model
        return f"trained v{version}"


def main(argv: list[str] | None = None) -> int:
    """``python -m annotator.loop.worker PROJECT PARENT_PID``; the database comes from the environment."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m annotator.loop.worker PROJECT PARENT_PID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(Settings.from_env(), args[0], int(args[1]))
    return 0


@dataclass
class WorkerPool:
    """The server's workers, one per project (share one pool per server process).

    A worker is a fresh ``python -m annotator.loop.worker`` process, not a multiprocessing child:
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
                [sys.executable, "-m", "annotator.loop.worker", project_name, str(os.getpid())],
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
