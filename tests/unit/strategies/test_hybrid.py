"""Hybrid (margin top-m, then k-center) and auto (typicality, then hybrid)."""

from __future__ import annotations

import numpy as np
import pytest

from strategies import Auto, Hybrid, Margin, ModelView, Typicality
from tests.unit.strategies.conftest import FakeProtoNet, sorted_gaps
from tests.unit.strategies.test_coreset import naive_k_center


def _brute_force_hybrid(Z, proba, labelled, pool, k, m):
    top2 = np.sort(proba[pool], axis=1)[:, -2:]
    uncertainty = 1 - (top2[:, 1] - top2[:, 0])
    candidates = np.sort(np.argsort(-uncertainty)[:m])
    picks = naive_k_center(Z[pool[candidates]], Z[labelled], k)
    return pool[candidates[picks]], uncertainty


@pytest.mark.parametrize("m", [12, 40, None])
def test_hybrid_matches_brute_force_in_the_embedding_space(m):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    model = FakeProtoNet(4)
    view = ModelView(model, X)
    Z, proba = np.tanh(X @ model.weights), model.predict_proba(X)
    labelled, pool = np.arange(9), np.arange(9, 300)
    expected, uncertainty = _brute_force_hybrid(Z, proba, labelled, pool, 4, m or 3 * 4)
    assert sorted_gaps(uncertainty) > 1e-7
    chosen, scores = Hybrid(n_candidates=m).select(4, pool, labelled, view, 0)
    np.testing.assert_array_equal(chosen, expected)
    np.testing.assert_allclose(scores, uncertainty, atol=1e-6)


def test_hybrid_default_m_is_a_multiple_of_the_batch():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=12_000)
    X = rng.standard_normal((12_000, 2)).astype(np.float32)
    view = ModelView(None, X, proba=proba)
    calls = []
    original = view.embed
    view.embed = lambda rows: calls.append(len(rows)) or original(rows)
    Hybrid().select(5, np.arange(100, 12_000), np.arange(100), view, 0)  # 3 x 5
    Hybrid(candidate_factor=3.0).select(1100, np.arange(100, 12_000), np.arange(100), view, 0)
    assert calls == [100, 15, 100, 3300]  # labelled, then the candidates


def test_a_batch_is_not_near_copies():
    """Margin alone takes the tight cluster of uncertain copies; hybrid spreads out."""
    rng = np.random.default_rng(2)
    copies = rng.normal(0, 1e-3, size=(20, 2)) + [5, 5]
    others = rng.uniform(-10, 10, size=(180, 2))
    X = np.concatenate([copies, others]).astype(np.float32)
    proba = np.tile([0.9, 0.1], (200, 1))
    proba[:20] = [0.5, 0.5]  # the copies are the most uncertain
    proba[20:60] = [0.6, 0.4]
    view = ModelView(None, X, proba=proba)
    assert np.all(Margin().select(5, np.arange(200), None, view, 0)[0] < 20)
    chosen, _ = Hybrid(n_candidates=60).select(5, np.arange(200), None, view, 0)
    assert np.sum(chosen < 20) <= 1


@pytest.mark.parametrize(
    ("n_labelled", "expected"), [(0, "typicality"), (5, "typicality"), (6, "margin")]
)
def test_auto_switches_at_twice_the_number_of_classes(n_labelled, expected, protonet_view):
    pool = np.arange(n_labelled, 60)
    labelled = np.arange(n_labelled)
    auto = Auto()
    chosen, scores = auto.select(4, pool, labelled, protonet_view, 3)
    assert auto.strategy_.name == expected  # C = 3 classes
    direct = (Typicality() if expected == "typicality" else Margin()).select(
        4, pool, labelled, protonet_view, 3
    )
    np.testing.assert_array_equal(chosen, direct[0])
    np.testing.assert_array_equal(scores, direct[1])


def test_auto_takes_the_number_of_classes_as_a_parameter(protonet_view):
    auto = Auto(n_classes=10, warm="hybrid", warm_params={"n_candidates": 5})
    auto.select(2, np.arange(10, 60), np.arange(10), protonet_view, 0)
    assert auto.strategy_.name == "typicality"
    auto = Auto(n_classes=2, warm="hybrid", warm_params={"n_candidates": 5})
    auto.select(2, np.arange(10, 60), np.arange(10), protonet_view, 0)
    assert auto.strategy_.name == "hybrid" and auto.strategy_.n_candidates == 5


def test_auto_without_classes_says_so():
    view = ModelView(None, np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="knows no classes"):
        Auto().select(2, np.arange(10), None, view, 0)


def test_auto_runs_the_named_cold_and_warm_strategies(protonet_view):
    auto = Auto(n_classes=3, cold="probcover", warm="margin", switch_per_class=1)
    auto.select(2, np.arange(2, 60), np.arange(2), protonet_view, 0)
    assert auto.strategy_.name == "probcover" and auto.strategy_.n_clusters == 3
    chosen, _ = auto.select(2, np.arange(3, 60), np.arange(3), protonet_view, 0)
    assert auto.strategy_.name == "margin"
    direct, _ = Margin().select(2, np.arange(3, 60), np.arange(3), protonet_view, 0)
    np.testing.assert_array_equal(chosen, direct)
