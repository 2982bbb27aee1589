"""planning.choose_batch passes benchmark settings to the strategy (the app passes none)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from annotator.planning import choose_batch


def test_settings_reach_the_strategy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    labelled = np.arange(20)
    model = LogisticRegression().fit(X[labelled], y[labelled])
    pool = np.arange(20, 300)

    def choose(strategy, params=None):
        return choose_batch(
            strategy, 7, X, pool, labelled, y[labelled], model,
            n_classes=2, rng=np.random.default_rng(1), params=params,
        ).rows  # fmt: skip

    # seven candidates for seven picks: hybrid takes exactly margin's top seven
    narrowed = choose("hybrid", {"n_candidates": 7})
    assert set(narrowed) == set(choose("margin"))
    assert set(choose("hybrid")) != set(narrowed)  # 21 candidates by default: spread out


def test_without_a_model_auto_starts_with_its_own_cold_strategy():
    X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)

    def cold(params):
        return choose_batch(
            "auto", 5, X, np.arange(200), np.empty(0, np.int64), None, None,
            n_classes=3, rng=np.random.default_rng(0), params=params,
        )  # fmt: skip

    assert cold(None).strategy == "auto:typicality"
    assert cold({"cold": "probcover"}).strategy == "auto:probcover"
    assert cold({"cold": "margin"}).strategy == "auto:typicality"  # margin needs a model
