"""BALD: hand-computed mutual information, brute-force picks, exactness over the candidate set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from strategies import BALD, ModelView, mutual_information
from tests.unit.strategies.conftest import FakeProtoNet, sorted_gaps


def test_mutual_information_by_hand():
    # One item, T = 2 samples each: H(mean) - mean H.
    np.testing.assert_allclose(mutual_information([[[1.0, 0.0]], [[0.0, 1.0]]]), [math.log(2)])
    np.testing.assert_allclose(mutual_information([[[0.3, 0.7]], [[0.3, 0.7]]]), [0.0], atol=1e-7)
    # H(0.6, 0.4) = 0.6730117, H(0.8, 0.2) = 0.5004024: 0.6730117 - (0.5004024 + 0.6730117) / 2
    samples = np.array([[[0.8, 0.2]], [[0.4, 0.6]]])
    np.testing.assert_allclose(mutual_information(samples), [0.0863046217], atol=1e-9)
    np.testing.assert_allclose(
        mutual_information(samples.astype(np.float32)), [0.0863046217], atol=1e-6
    )


def _brute_force_bald(samples: np.ndarray) -> np.ndarray:
    """Per item, with scipy: H(mean over T) - mean over T of H."""
    n = samples.shape[1]
    out = np.empty(n)
    for i in range(n):
        p = samples[:, i, :].astype(np.float64)
        out[i] = scipy.stats.entropy(p.mean(axis=0)) - np.mean([scipy.stats.entropy(q) for q in p])
    return out


def _random_samples(rng, T, n, C):
    logits = rng.standard_normal((1, n, C)) * 2 + rng.standard_normal((T, n, C))
    e = np.exp(logits)
    return e / e.sum(axis=2, keepdims=True)


def test_whole_pool_matches_brute_force():
    rng = np.random.default_rng(0)
    samples = _random_samples(rng, T=6, n=120, C=4)
    pool = np.sort(rng.choice(120, 100, replace=False))
    expected = _brute_force_bald(samples[:, pool])
    assert sorted_gaps(expected) > 1e-9
    view = ModelView(mc_samples=samples)
    chosen, scores = BALD(n_candidates=None).select(5, pool, None, view, 0)
    np.testing.assert_allclose(scores, expected, atol=1e-10)
    np.testing.assert_array_equal(chosen, pool[np.argsort(-expected)[:5]])


def test_preselection_is_exact_over_the_candidate_set():
    rng = np.random.default_rng(1)
    samples = _random_samples(rng, T=5, n=200, C=3)
    proba = samples.mean(axis=0) ** 2  # a different ranking than BALD's, on purpose
    proba /= proba.sum(axis=1, keepdims=True)
    pool = np.arange(10, 200)
    chosen, scores = BALD(n_candidates=25).select(
        2, pool, None, ModelView(proba=proba, mc_samples=samples), 0
    )
    candidates = np.argsort(-scipy.stats.entropy(proba[pool], axis=1))[:25]  # m = max(25, 10 k)
    assert np.isnan(np.delete(scores, candidates)).all()
    expected = _brute_force_bald(samples[:, pool[candidates]])
    np.testing.assert_allclose(scores[candidates], expected, atol=1e-10)
    np.testing.assert_array_equal(chosen, pool[candidates[np.argsort(-expected)[:2]]])


def test_candidates_are_at_least_ten_per_pick():
    rng = np.random.default_rng(2)
    samples = _random_samples(rng, T=3, n=300, C=3)
    view = ModelView(proba=samples.mean(axis=0), mc_samples=samples)
    _, scores = BALD(n_candidates=5).select(4, np.arange(300), None, view, 0)
    assert np.count_nonzero(~np.isnan(scores)) == 40


def test_mc_samples_are_computed_for_the_candidates_only():
    X = np.random.default_rng(3).standard_normal((500, 4)).astype(np.float32)
    model = FakeProtoNet(4)
    view = ModelView(model, X)
    BALD(n_candidates=30, n_samples=8).select(2, np.arange(500), None, view, 0)
    assert model.calls["mc_proba"] == 30 and model.calls["predict_proba"] == 500


@pytest.mark.parametrize("n", [5000, 9001])
def test_chunked_scores_equal_one_shot(n):
    rng = np.random.default_rng(n)
    samples = _random_samples(rng, T=3, n=n, C=4).astype(np.float32)
    pool = np.flatnonzero(rng.random(n) > 0.05)
    _, scores = BALD(n_candidates=None).select(3, pool, None, ModelView(mc_samples=samples), 0)
    np.testing.assert_allclose(scores, mutual_information(samples[:, pool]), atol=1e-6)
