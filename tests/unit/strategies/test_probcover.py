"""ProbCover against brute-force references (Yehuda et al. 2022)."""

from __future__ import annotations

import numpy as np

from strategies import ModelView, get_strategy
from strategies.probcover import ball_graph, choose_delta, max_coverage


def blobs(seed=0, n_per=30, centres=((0, 0), (6, 0), (0, 6), (6, 6))):
    rng = np.random.default_rng(seed)
    points = np.vstack([np.asarray(c) + rng.normal(size=(n_per, 2)) for c in centres])
    return points.astype(np.float32), np.repeat(np.arange(len(centres)), n_per)


def pairwise(points):
    return np.sqrt(((points[:, None].astype(np.float64) - points[None]) ** 2).sum(-1))


def test_delta_is_the_largest_radius_with_enough_pure_balls():
    points, clusters = blobs()
    dist = pairwise(points)
    for purity in (0.8, 0.95, 1.0):
        delta = choose_delta(points, clusters, purity)

        def pure_share(r):
            inside = dist < r  # open balls
            return np.mean([(clusters[inside[i]] == clusters[i]).all() for i in range(len(points))])

        # float32 distances inside, float64 here: compare just below and just above delta
        assert pure_share(delta - 1e-4) >= purity
        assert pure_share(delta + 1e-4) < purity


def test_ball_graph_is_the_open_ball_adjacency():
    points, _ = blobs(1, n_per=15)
    dist = pairwise(points)
    delta = float(np.median(dist))
    graph = ball_graph(points, delta).toarray().astype(bool)
    expected = dist < delta
    np.fill_diagonal(expected, True)
    np.testing.assert_array_equal(graph, expected)


def test_each_greedy_pick_covers_the_most_uncovered_points():
    points, _ = blobs(2, n_per=20)
    dist = pairwise(points)
    delta = float(np.quantile(dist, 0.1))
    graph = ball_graph(points, delta)
    balls = [set(np.flatnonzero(dist[i] < delta)) | {i} for i in range(len(points))]
    covered = np.zeros(len(points), dtype=bool)
    covered[list(balls[0])] = True  # item 0 is labelled
    candidates = np.arange(1, len(points))
    seen = set(np.flatnonzero(covered))
    picks = max_coverage(graph, candidates, covered.copy(), 8, np.random.default_rng(0))
    for pick in picks:
        gains = {c: len(balls[c] - seen) for c in candidates if c not in picks[: picks.index(pick)]}
        assert len(balls[pick] - seen) == max(gains.values())
        seen |= balls[pick]


def test_first_picks_cover_the_clusters_nothing_labelled_covers():
    points, clusters = blobs(3, n_per=40)
    view = ModelView(embeddings=points, classes=np.arange(4))
    labelled = np.flatnonzero(clusters == 0)[:5]
    pool = np.setdiff1d(np.arange(len(points)), labelled)
    chosen, scores = get_strategy("probcover").select(3, pool, labelled, view, 0)
    assert sorted(clusters[chosen]) == [1, 2, 3]
    assert np.isfinite(scores).all()


def test_a_large_pool_is_sampled_and_unscored_rows_are_nan():
    points, _ = blobs(4, n_per=100)
    view = ModelView(embeddings=points, classes=np.arange(4))
    pool = np.arange(len(points))
    strategy = get_strategy("probcover", max_points=150)
    chosen, scores = strategy.select(5, pool, np.array([], int), view, 0)
    assert np.isfinite(scores).sum() == 150 and np.isfinite(scores[chosen]).all()
    assert strategy.delta_ > 0


def test_overlapping_clusters_do_not_make_the_graph_dense():
    from strategies.probcover import cap_delta

    rng = np.random.default_rng(5)
    points = rng.normal(size=(2000, 3)).astype(np.float32)  # one blob: purity says "everything"
    wide = float(np.sqrt(3.0)) * 3
    capped = cap_delta(points, wide, 50, np.random.default_rng(0))
    assert capped < wide
    graph = ball_graph(points, capped)
    assert 25 < graph.nnz / len(points) < 100
    assert cap_delta(points, 0.05, 50, np.random.default_rng(0)) == 0.05  # small balls kept
