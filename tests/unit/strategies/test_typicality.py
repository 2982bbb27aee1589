"""TypiClust: typicality values, cluster visiting order, picks against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from strategies import ModelView, Typicality, typicality
from strategies.typicality import cluster, kmeans_plusplus, nearest_center


def brute_typicality(points: np.ndarray, n_neighbors: int) -> np.ndarray:
    d = cdist(points, points)
    np.fill_diagonal(d, np.inf)
    return 1 / np.sort(d, axis=1)[:, :n_neighbors].mean(axis=1)


def test_typicality_by_hand():
    # points 0, 1, 3 on a line; K = 1: nearest distances 1, 1, 2
    np.testing.assert_allclose(typicality(np.array([[0.0], [1.0], [3.0]]), 1), [1, 1, 0.5])
    # K = 2: mean distances (1 + 3) / 2, (1 + 2) / 2, (3 + 2) / 2
    np.testing.assert_allclose(typicality(np.array([[0.0], [1.0], [3.0]]), 2), [0.5, 2 / 3, 0.4])
    np.testing.assert_array_equal(typicality(np.zeros((1, 3)), 20), [1.0])


@pytest.mark.parametrize(("n", "k"), [(30, 20), (1500, 20), (7, 20)])
def test_typicality_matches_brute_force(n, k):
    points = np.random.default_rng(n).standard_normal((n, 5)).astype(np.float32)
    np.testing.assert_allclose(
        typicality(points, k), brute_typicality(points, min(k, n - 1)), rtol=1e-4
    )


def test_nearest_center_matches_brute_force():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4)).astype(np.float32)
    centers = rng.standard_normal((9, 4)).astype(np.float32)
    rows = np.concatenate([np.arange(2000, 3000), rng.choice(2000, 500, replace=False)])
    np.testing.assert_array_equal(
        nearest_center(X, rows, centers), cdist(X[rows], centers).argmin(axis=1)
    )


def _blobs(rng, sizes, spacing=50.0, d=3):
    """Well-separated blobs, blob b of sizes[b] points around (50 b, 0, ...)."""
    points = [
        rng.standard_normal((size, d)) + np.eye(d)[0] * spacing * b for b, size in enumerate(sizes)
    ]
    return np.concatenate(points).astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)


def test_kmeans_plusplus_puts_one_seed_per_blob():
    X, blob = _blobs(np.random.default_rng(1), [30, 30, 30, 30])
    seeds = kmeans_plusplus(X, 4, np.random.default_rng(2))
    assert sorted(blob[cdist(seeds, X).argmin(axis=1)]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(seeds, kmeans_plusplus(X, 4, np.random.default_rng(2)))


@pytest.mark.parametrize("fit_rows", [20_000, 60])  # KMeans on all, MiniBatchKMeans on a sample
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_most_typical_of_the_largest_uncovered_blobs(fit_rows, seed):
    rng = np.random.default_rng(10)
    X, blob = _blobs(rng, [40, 35, 30, 25, 20])
    labelled = np.array([np.flatnonzero(blob == 0)[3], np.flatnonzero(blob == 1)[5]])
    pool = np.setdiff1d(np.arange(X.shape[0]), labelled)
    # |L| + k = 5 clusters = the blobs; blobs 2, 3, 4 are uncovered, largest first
    expected = []
    for b in (2, 3, 4):
        members = np.flatnonzero(blob == b)
        expected.append(members[np.argmax(brute_typicality(X[members], members.size // 2))])
    strategy = Typicality(fit_rows=fit_rows)
    chosen, scores = strategy.select(3, pool, labelled, ModelView(None, X), seed)
    np.testing.assert_array_equal(chosen, expected)
    in_blob_2 = np.isin(pool, np.flatnonzero(blob == 2))
    np.testing.assert_allclose(
        scores[in_blob_2], brute_typicality(X[pool[in_blob_2]], 15), rtol=1e-4
    )
    assert np.isnan(scores[np.isin(pool, np.flatnonzero(blob <= 1))]).all()  # never visited


def brute_typiclust(X, labelled, pool, labels, k, n_neighbors=20, min_size=5):
    """TypiClust's selection loop (Hacohen et al. 2022 reference code) given the clusters."""
    n_clusters = labels.max() + 1
    sizes = np.bincount(labels, minlength=n_clusters)
    covered = np.bincount(labels[: labelled.size], minlength=n_clusters)
    order = sorted(range(n_clusters), key=lambda c: (covered[c], -sizes[c], c))
    remaining = {c: list(np.flatnonzero(labels[labelled.size :] == c)) for c in range(n_clusters)}
    picks = []
    for visit in (
        [c for c in order if sizes[c] > min_size],
        [c for c in order if sizes[c] <= min_size],
    ):
        while len(picks) < k and any(remaining[c] for c in visit):
            for c in visit:
                if len(picks) < k and remaining[c]:
                    members = np.array(remaining[c])
                    K = min(n_neighbors, members.size // 2)
                    typical = brute_typicality(X[pool[members]], K) if K else np.ones(1)
                    picks.append(int(members[np.argmax(typical)]))
                    remaining[c].remove(picks[-1])
    return pool[picks]


@pytest.mark.parametrize(("k", "n_labelled"), [(4, 6), (12, 3), (25, 0)])
def test_picks_match_brute_force_with_a_fixed_kmeans_seed(k, n_labelled):
    """Same generator seed -> same k-means -> the reference loop gives the same picks."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((140, 2)).astype(np.float32) * rng.uniform(0.5, 2, size=(140, 1))
    labelled = np.arange(n_labelled)
    pool = np.arange(n_labelled, 140)
    rows = np.concatenate([labelled, pool])
    labels = cluster(X, rows, n_labelled + k, np.random.default_rng(42), fit_rows=20_000)
    assert np.bincount(labels).min() <= 5 < np.bincount(labels).max()  # both lists are visited
    expected = brute_typiclust(X, labelled, pool, labels, k)
    chosen, _ = Typicality().select(
        k, pool, labelled, ModelView(None, X), np.random.default_rng(42)
    )
    np.testing.assert_array_equal(chosen, expected)


def test_max_clusters_caps_the_clusters():
    X, _ = _blobs(np.random.default_rng(3), [20, 20, 20])
    chosen, _ = Typicality(max_clusters=1, min_cluster_size=0).select(
        3, np.arange(60), None, ModelView(None, X), 0
    )
    assert chosen.size == 3  # one cluster, visited three times


def test_a_large_pool_is_sampled_and_a_small_one_is_not():
    X, blob = _blobs(np.random.default_rng(4), [60, 50, 40])
    pool = np.arange(X.shape[0])
    whole = Typicality(max_points=None).select(3, pool, None, ModelView(None, X), 7)
    fits = Typicality(max_points=150).select(3, pool, None, ModelView(None, X), 7)
    np.testing.assert_array_equal(whole[0], fits[0])  # the pool fits: nothing is sampled
    strategy = Typicality(max_points=60)
    chosen, scores = strategy.select(3, pool, None, ModelView(None, X), 7)
    sampled = np.isfinite(scores)
    assert 0 < sampled.sum() <= 60 and sampled[chosen].all()  # picks come from the sample
    assert sorted(blob[chosen]) == [0, 1, 2]  # still one per blob
    again, _ = Typicality(max_points=60).select(3, pool, None, ModelView(None, X), 7)
    np.testing.assert_array_equal(chosen, again)
