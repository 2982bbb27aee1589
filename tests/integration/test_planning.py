"""One planner (issue #14, item 3): the app's rounds (worker and claim) and the simulation's
rounds choose their items with the same function, ``annotator.loop.planning.choose_batch``, so a
fault in how the app chooses shows in every benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator import loop
from annotator import simulation as sim
from annotator.loop import planning
from annotator.simulation import SimulationConfig
from annotator.store.db import Store
from tests.integration.helpers import blob_project
from tests.unit.simulation.conftest import blobs


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The strategies ``choose_batch`` was asked to run, wherever it was called from."""
    seen: list[str] = []
    real = planning.choose_batch

    def spy(strategy, *args, **kwargs):
        seen.append(strategy)
        return real(strategy, *args, **kwargs)

    monkeypatch.setattr(planning, "choose_batch", spy)
    return seen


def test_the_simulation_and_the_app_plan_with_the_same_function(
    calls: list[str], store: Store, tmp_path: Path
) -> None:
    split = sim.prepare_seed(blobs(), "raw", n_test=30, seed=0)
    config = SimulationConfig(data="blobs", init_size=3, batch=3, budget=12)
    sim.simulate_run(split, "margin", config)
    assert calls == ["margin"] * 3  # rounds 2-4 (the first is the initial set)
    calls.clear()
    blob_project(store, tmp_path, "p", per_class=10, batch_size=4)
    loop.configure(store, "p", strategy="margin")
    assert loop.plan_round(store, "p") is not None
    assert calls == ["margin"]  # no model yet: choose_batch starts cold (typicality)


def test_a_cold_start_and_autos_delegation_are_recorded_as_the_app_records_them() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    pool = np.arange(40)
    none = np.array([], dtype=np.int64)
    cold = planning.choose_batch("margin", 5, X, pool, none, None, None, n_classes=2, rng=rng)
    assert cold.strategy == "typicality" and len(cold.rows) == len(set(cold.rows)) == 5
    auto = planning.choose_batch("auto", 5, X, pool, none, None, None, n_classes=2, rng=rng)
    assert auto.strategy == "auto:typicality"
    few = planning.choose_batch("random", 99, X, pool[:7], none, None, None, n_classes=2, rng=rng)
    assert sorted(few.rows) == list(range(7))  # k is capped by the pool
