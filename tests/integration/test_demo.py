"""The digits demo: created once, even when several processes start together."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from annotator import services
from annotator.config import Settings
from annotator.demo import DIGITS, ensure_demo
from annotator.processes import plain_main
from annotator.store import queries
from annotator.store.db import Store


def test_demo_created_once_with_hidden_labels(store: Store) -> None:
    assert ensure_demo(store) is True
    assert ensure_demo(store) is False
    (p,) = services.list_projects(store)
    assert (p.name, p.items, p.labelled, p.data_kind) == (DIGITS, 1797, 0, "image")
    assert p.labels == [str(d) for d in range(10)]
    features = services.load_features(store, DIGITS)
    assert features.shape[0] == 1797 and np.isfinite(features).all()
    with store.read() as s:  # the digits cluster by class: refined prototypes measured better
        assert queries.get_project(s, DIGITS).semi_supervised is True


def _start(url: str, queue: mp.Queue) -> None:
    store = Store.open(Settings(db_url=url))
    try:
        queue.put(ensure_demo(store))
    except BaseException as exc:  # noqa: BLE001 - sent back to the test
        queue.put(repr(exc))
    finally:
        store.dispose()


def test_two_processes_starting_together_make_one_demo(settings: Settings) -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_start, args=(settings.db_url, queue)) for _ in range(2)]
    with plain_main():
        for p in procs:
            p.start()
    for p in procs:
        p.join(120)
    results = sorted(str(queue.get(timeout=5)) for _ in procs)
    assert results == ["False", "True"]
    store = Store.open(settings)
    try:
        (p,) = services.list_projects(store)
        assert p.items == 1797
        assert np.asarray(services.load_features(store, DIGITS)).shape[0] == 1797
    finally:
        store.dispose()
