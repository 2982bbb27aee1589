"""planning.choose_batch passes benchmark settings to the strategy (the app passes none)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from annotator.loop import planning
from annotator.loop.planning import choose_batch
from strategies import ModelView, get_strategy


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


@pytest.mark.parametrize("pool", [[3, 8, 9, 20, 41], [41, 3, 20, 9, 8]])
def test_each_chosen_row_keeps_its_own_score(pool) -> None:
    features = np.arange(50, dtype=np.float32)[:, None]
    rng = np.random.default_rng(0)
    choice = planning.choose_batch(
        "random", 3, features, np.array(pool), np.array([], dtype=np.int64), None,
        None, n_classes=2, rng=rng,
    )  # fmt: skip
    again = get_strategy("random").select(3, np.array(pool), np.array([], dtype=np.int64),
                                          ModelView(None, features), np.random.default_rng(0))  # fmt: skip
    by_row = dict(zip(pool, again[1], strict=True))
    assert list(choice.rows) == list(again[0])
    assert list(choice.scores) == [by_row[r] for r in choice.rows]


def test_without_a_label_a_model_from_the_class_names_still_starts_cold():
    """A zero-shot model (issue 18) exists before the first label; the first round is the
    cold start on the features all the same, exactly as without the model."""
    from meta import ProtoNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    names = ProtoNetClassifier(random_state=0).fit(
        np.empty((0, 3)), [], priors={"a": np.ones(3), "b": -np.ones(3)}
    )
    pool, none = np.arange(200), np.empty(0, np.int64)

    def first(model):
        return choose_batch(
            "margin", 5, X, pool, none, None, model, n_classes=2, rng=np.random.default_rng(0)
        )

    with_names, without = first(names), first(None)
    assert with_names.strategy == without.strategy == "typicality"
    np.testing.assert_array_equal(with_names.rows, without.rows)
