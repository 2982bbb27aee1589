"""The background trainer's lifecycle without a browser: started once per project, trains
after a completed round, stops when asked and when the server that started it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from annotator import loop
from annotator.loop import training, worker
from annotator.store.db import Store
from tests.integration.helpers import blob_project
from tests.polling import wait_for

PROJECT = "blobs"


def _model_version(store: Store) -> int | None:
    from annotator.store import queries

    with store.read() as s:
        latest = queries.latest_model(s, queries.get_project(s, PROJECT).id)
        return None if latest is None else latest.version


def _label_round(store: Store) -> None:
    for item in loop.claim_next(store, PROJECT, "tab", n=6):
        label = "a" if item.row % 3 == 0 else "b" if item.row % 3 == 1 else "c"
        loop.submit(store, PROJECT, item.item_id, label, annotator="ann", owner="tab")


def test_the_pool_starts_one_worker_that_trains_and_stops(store: Store, tmp_path: Path) -> None:
    blob_project(store, tmp_path, PROJECT, per_class=20, batch_size=6)
    _label_round(store)
    assert training.retrain_pending(store, PROJECT)
    pool = worker.WorkerPool(store.settings)
    try:
        assert pool.ensure(PROJECT) is True
        assert pool.ensure(PROJECT) is False  # one per project
        assert pool.alive(PROJECT)
        wait_for(lambda: _model_version(store) == 1, 180, "the worker's retrain")
        wait_for(lambda: not training.retrain_pending(store, PROJECT), 60, "the retrain noted")
        proc = pool._procs[PROJECT]
    finally:
        pool.stop_all()
    assert not pool.alive(PROJECT) and proc.poll() is not None
    assert pool.ensure(PROJECT) is True  # a stopped worker can be started again
    pool.stop_all()


SERVER = """
import os, subprocess, sys, time
worker = subprocess.Popen(
    [sys.executable, "-m", "annotator.loop.worker", sys.argv[1], str(os.getpid())],
    stdin=subprocess.DEVNULL,
)
print(worker.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (Linux's /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_the_worker_ends_when_its_server_is_gone(store: Store, tmp_path: Path) -> None:
    """A stand-in server starts the worker with its own pid, as ``WorkerPool`` does, and is
    then killed (no chance to stop its workers): the worker notices its parent is gone."""
    blob_project(store, tmp_path, PROJECT, per_class=20, batch_size=6)
    env = dict(os.environ, PROTOLABEL_DB=store.settings.db_url, OMP_NUM_THREADS="1")
    if store.settings.data_dir is not None:
        env["PROTOLABEL_DATA_DIR"] = str(store.settings.data_dir)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, PROJECT], env=env, stdout=subprocess.PIPE, text=True
    )
    pid = int(server.stdout.readline())
    try:
        time.sleep(3.0)  # not a bound: with its server alive the worker keeps running
        assert _running(pid)
        server.kill()
        server.wait()
        wait_for(lambda: not _running(pid), 120, "the worker to end")
    finally:
        server.kill()
        if _running(pid):
            os.kill(pid, 9)
