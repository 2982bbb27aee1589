"""BADGE against a brute-force reference that forms the gradient embeddings (Ash et al. 2020)."""

from __future__ import annotations

import numpy as np

from strategies import ModelView, badge_seeding, get_strategy
from strategies.badge import gradient_factors


def reference_badge(proba, h, k, rng):
    """Form g = (p - e_yhat) (outer) h explicitly, then k-means++: argmax |g| first (ties by
    rng), then D^2 sampling by the same cumulative-sum draw."""
    a = proba.astype(np.float64).copy()
    a[np.arange(len(a)), a.argmax(1)] -= 1
    g = (a[:, :, None] * h.astype(np.float64)[:, None, :]).reshape(len(a), -1)
    norms = (g**2).sum(1)
    picks = [int(rng.choice(np.flatnonzero(norms == norms.max())))]
    for _ in range(1, k):
        d2 = ((g[:, None, :] - g[picks][None]) ** 2).sum(-1).min(1)
        d2[picks] = 0
        total = np.cumsum(d2)
        picks.append(
            min(int(np.searchsorted(total, rng.random() * total[-1], "right")), len(g) - 1)
        )
    return np.array(picks)


def random_problem(seed, n=80, C=4, D=6):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, C))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return proba, rng.normal(size=(n, D))


def test_gradient_factors_are_p_minus_the_predicted_one_hot():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    np.testing.assert_allclose(gradient_factors(proba), [[-0.3, 0.2, 0.1], [0.1, 0.3, -0.4]])


def test_seeding_matches_the_explicit_gradient_embedding_reference():
    for seed in range(5):
        proba, h = random_problem(seed)
        ours, g_sq = badge_seeding(gradient_factors(proba), h, 12, np.random.default_rng(seed))
        reference = reference_badge(proba, h, 12, np.random.default_rng(seed))
        np.testing.assert_array_equal(ours, reference)
        assert np.unique(ours).size == 12
        a = gradient_factors(proba)
        np.testing.assert_allclose(g_sq, (a**2).sum(1) * (h**2).sum(1))


def test_the_strategy_runs_the_seeding_over_the_pool_rows():
    proba, h = random_problem(7, n=100)
    view = ModelView(proba=proba.astype(np.float32), embeddings=h.astype(np.float32))
    pool = np.arange(10, 100)
    chosen, scores = get_strategy("badge").select(8, pool, np.arange(10), view, 3)
    picks, g_sq = badge_seeding(gradient_factors(proba[pool]), h[pool], 8, np.random.default_rng(3))
    np.testing.assert_array_equal(chosen, pool[picks])
    np.testing.assert_allclose(scores, np.sqrt(g_sq), rtol=1e-5)


def test_confident_items_count_as_one_region():
    """Confident items have gradient embeddings near 0: k-means++ may take one of them (the
    origin is a region like any other), never a second while uncertain items remain."""
    rng = np.random.default_rng(0)
    n = 60
    proba = np.full((n, 3), 1 / 3)
    proba[:40] = [0.999, 0.0005, 0.0005]  # confident: gradient embedding close to 0
    h = rng.normal(size=(n, 5))
    view = ModelView(proba=proba.astype(np.float32), embeddings=h.astype(np.float32))
    for seed in range(5):
        chosen, _ = get_strategy("badge").select(10, np.arange(n), np.array([], int), view, seed)
        assert (chosen < 40).sum() <= 1
