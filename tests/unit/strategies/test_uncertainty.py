"""Least confidence, margin, entropy: hand-computed values and brute-force picks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from strategies import ModelView, entropy, get_strategy, least_confidence, margin
from tests.unit.strategies.conftest import sorted_gaps

HAND = np.array(
    [
        [0.5, 0.5, 0.0],
        [1.0, 0.0, 0.0],
        [0.7, 0.2, 0.1],
        [0.2, 0.3, 0.5],
        [1 / 3, 1 / 3, 1 / 3],
    ]
)


def test_entropy_by_hand():
    expected = [
        math.log(2),
        0.0,
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)),  # 0.8018
        -(0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.5 * math.log(0.5)),  # 1.0297
        math.log(3),
    ]
    np.testing.assert_allclose(entropy(HAND), expected, atol=1e-12)
    np.testing.assert_allclose(entropy(HAND[2:3]), [0.8018185525], atol=1e-9)
    np.testing.assert_allclose(entropy(HAND.astype(np.float32)), expected, atol=1e-6)


def test_margin_by_hand():
    np.testing.assert_allclose(margin(HAND), [0.0, 1.0, 0.5, 0.2, 0.0], atol=1e-12)
    np.testing.assert_allclose(margin([[0.9]]), [0.9])  # one class: the gap to nothing


def test_least_confidence_by_hand():
    np.testing.assert_allclose(least_confidence(HAND), [0.5, 0.0, 0.3, 0.5, 2 / 3], atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_utilities_match_independent_references(n_classes):
    rng = np.random.default_rng(n_classes)
    p = rng.dirichlet(np.ones(n_classes), size=200)
    ranked = np.sort(p, axis=1)[:, ::-1]
    np.testing.assert_allclose(entropy(p), scipy.stats.entropy(p, axis=1), rtol=1e-10)
    np.testing.assert_allclose(margin(p), ranked[:, 0] - ranked[:, 1], atol=1e-12)
    np.testing.assert_allclose(least_confidence(p), 1 - ranked[:, 0], atol=1e-12)


REFERENCE = {
    "least_confidence": lambda p: 1 - p.max(axis=1),
    "margin": lambda p: 1 - (np.sort(p, axis=1)[:, -1] - np.sort(p, axis=1)[:, -2]),
    "entropy": lambda p: scipy.stats.entropy(p, axis=1),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_picks_match_brute_force(name):
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(4), size=300)
    pool = np.sort(rng.choice(300, 250, replace=False))
    utility = REFERENCE[name](proba[pool])
    assert sorted_gaps(utility) > 1e-9  # no near-ties
    chosen, scores = get_strategy(name).select(7, pool, None, ModelView(proba=proba), 0)
    np.testing.assert_array_equal(chosen, pool[np.argsort(-utility)[:7]])  # best first
    np.testing.assert_allclose(scores, utility, atol=1e-12)


def test_ties_are_broken_by_the_rng_deterministically():
    proba = np.full((40, 2), 0.5)
    view = ModelView(proba=proba)
    pool = np.arange(40)
    picks = {
        tuple(get_strategy("entropy").select(3, pool, None, view, seed)[0]) for seed in range(20)
    }
    assert len(picks) > 10  # not always the first rows
    a = get_strategy("entropy").select(3, pool, None, view, 4)[0]
    b = get_strategy("entropy").select(3, pool, None, view, 4)[0]
    np.testing.assert_array_equal(a, b)


def test_strict_winners_always_beat_ties():
    proba = np.full((30, 2), 0.9)
    proba[:, 1] = 0.1
    proba[[4, 17], :] = 0.5  # the two most uncertain; the 28 others tie
    for seed in range(5):
        chosen, _ = get_strategy("margin").select(
            3, np.arange(30), None, ModelView(proba=proba), seed
        )
        assert set(chosen[:2]) == {4, 17} and chosen[2] not in (4, 17)


def test_a_large_pool_is_streamed_in_chunks_the_same():
    rng = np.random.default_rng(2)
    proba = rng.dirichlet(np.ones(5), size=40_000).astype(np.float32)
    pool = np.flatnonzero(rng.random(40_000) > 0.1)  # sorted with holes: slices with a take
    chosen, scores = get_strategy("entropy").select(20, pool, None, ModelView(proba=proba), 0)
    expected = scipy.stats.entropy(proba[pool].astype(np.float64), axis=1)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    ranked = np.sort(expected)[::-1]
    assert ranked[19] - ranked[20] > 1e-5  # no near-tie at the cut
    assert set(chosen) == set(pool[np.argsort(-expected)[:20]])
