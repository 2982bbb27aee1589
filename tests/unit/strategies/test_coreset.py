"""Greedy k-center: the lazy incremental version equals a naive recompute, pick for pick."""

from __future__ import annotations

import numpy as np
import pytest

import strategies.coreset as coreset
from strategies import Coreset, ModelView, k_center_greedy
from tests.unit.strategies.conftest import FakeProtoNet

try:
    import torch

    _CUDA = torch.cuda.is_available()
except ImportError:
    _CUDA = False
# numpy kernels, the torch kernels a GPU runs (on the CPU), and on the GPU where there is one
DEVICES = ["numpy", "cpu"] + (["cuda"] if _CUDA else [])


def naive_k_center(points: np.ndarray, centers: np.ndarray, k: int) -> list[int]:
    """Recompute every point-to-center distance at each pick (modAL / small-text style)."""
    points = points.astype(np.float64)
    centers = [c for c in centers.astype(np.float64)]
    picks = []
    for _ in range(k):
        d = np.linalg.norm(points[:, None, :] - np.array(centers)[None], axis=2).min(axis=1)
        d[picks] = -np.inf
        picks.append(int(np.argmax(d)))
        centers.append(points[picks[-1]])
    return picks


def _clustered(rng, n, d=6):
    """Gaussian blobs of different spreads: uneven distances, no near-ties."""
    centers = rng.standard_normal((5, d)) * 4
    return (
        centers[rng.integers(5, size=n)] + rng.standard_normal((n, d)) * rng.uniform(0.3, 2)
    ).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("frontier_size", [None, 1, 2, 7, 10_000])
def test_equals_naive_recompute(device, frontier_size):
    rng = np.random.default_rng(0)
    X = _clustered(rng, 400)
    labelled = rng.choice(400, 12, replace=False)
    pool = np.setdiff1d(np.arange(400), labelled)
    picks, dist = k_center_greedy(
        X, 25, rng=rng, centers=X[labelled], rows=pool, frontier_size=frontier_size, device=device
    )
    np.testing.assert_array_equal(pool[picks], pool[naive_k_center(X[pool], X[labelled], 25)])
    expected = np.linalg.norm(X[pool, None] - X[None, labelled], axis=2).min(axis=1)
    np.testing.assert_allclose(dist, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_blocks_of_rows_and_centers(device, monkeypatch):
    """Tiny blocks: passes over many row and center blocks, slices with holes and gathers."""
    monkeypatch.setattr(coreset, "POINT_BLOCK", 16)
    monkeypatch.setattr(coreset, "CENTER_BLOCK", 5)
    rng = np.random.default_rng(1)
    X = _clustered(rng, 700)
    labelled = rng.choice(700, 23, replace=False)
    pool = np.setdiff1d(np.arange(700), labelled)
    pool = np.concatenate([pool[::3], pool[1::3], pool[2::3]])  # unsorted
    picks, dist = k_center_greedy(
        X, 30, rng=rng, centers=X[labelled], rows=pool, frontier_size=3, device=device
    )
    np.testing.assert_array_equal(pool[picks], pool[naive_k_center(X[pool], X[labelled], 30)])
    expected = np.linalg.norm(X[pool, None] - X[None, labelled], axis=2).min(axis=1)
    np.testing.assert_allclose(dist, expected, rtol=1e-4, atol=1e-4)


def test_without_centers_the_first_pick_is_random_then_greedy():
    X = _clustered(np.random.default_rng(2), 300)
    firsts = set()
    for seed in range(6):
        picks, dist = k_center_greedy(X, 10, rng=np.random.default_rng(seed))
        assert np.isinf(dist).all()
        np.testing.assert_array_equal(picks[1:], naive_k_center(X, X[picks[:1]], 10)[:9])
        firsts.add(int(picks[0]))
    assert len(firsts) > 1


@pytest.mark.parametrize("frontier_size", [1, 100])
def test_ties_broken_by_the_rng_inside_and_across_the_frontier(frontier_size):
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [0.1, 0], [0, 0.1]], dtype=np.float32)
    centers = np.zeros((1, 2), dtype=np.float32)
    firsts = []
    for seed in range(16):
        picks, _ = k_center_greedy(
            corners,
            1,
            rng=np.random.default_rng(seed),
            centers=centers,
            frontier_size=frontier_size,
        )
        again, _ = k_center_greedy(
            corners,
            1,
            rng=np.random.default_rng(seed),
            centers=centers,
            frontier_size=frontier_size,
        )
        assert picks[0] == again[0] and picks[0] < 4
        firsts.append(int(picks[0]))
    assert len(set(firsts)) > 2


def test_duplicates_are_never_picked_twice():
    X = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 points, 4 copies each
    picks, _ = k_center_greedy(X, 6, rng=np.random.default_rng(0))
    assert np.unique(picks).size == 6
    assert len({tuple(X[p]) for p in picks[:3]}) == 3  # the three distinct points first


def test_memmap_features(tmp_path):
    rng = np.random.default_rng(3)
    X = _clustered(rng, 500)
    stored = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float32, X.shape)
    stored[:] = X
    stored.flush()
    readonly = np.load(tmp_path / "x.npy", mmap_mode="r")
    view = ModelView(None, readonly)
    labelled, pool = np.arange(10), np.arange(10, 500)
    chosen, scores = Coreset().select(8, pool, labelled, view, 0)
    np.testing.assert_array_equal(chosen, pool[naive_k_center(X[pool], X[labelled], 8)])
    expected = np.linalg.norm(X[pool, None] - X[None, labelled], axis=2).min(axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)


def test_coreset_works_in_the_embedding_space():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    model = FakeProtoNet(4)
    Z = np.tanh(X @ model.weights)
    labelled, pool = np.arange(5), np.arange(5, 200)
    chosen, _ = Coreset().select(6, pool, labelled, ModelView(model, X), 0)
    np.testing.assert_array_equal(chosen, pool[naive_k_center(Z[pool], Z[labelled], 6)])
    assert model.calls["predict_proba"] == 0


def test_nan_in_centers_is_named():
    X = np.ones((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="features of the centers contain NaN"):
        k_center_greedy(X, 2, rng=np.random.default_rng(0), centers=np.array([[np.nan, 0.0]]))


def test_a_large_common_offset_changes_nothing():
    """Distances are translation invariant; float32 must not lose them to the offset."""
    rng = np.random.default_rng(5)
    X = _clustered(rng, 300)
    labelled, pool = np.arange(4), np.arange(4, 300)
    picks, dist = k_center_greedy(X + 3000, 12, rng=rng, centers=X[labelled] + 3000, rows=pool)
    np.testing.assert_array_equal(pool[picks], pool[naive_k_center(X[pool], X[labelled], 12)])
    expected = np.linalg.norm(X[pool, None] - X[None, labelled], axis=2).min(axis=1)
    np.testing.assert_allclose(dist, expected, rtol=1e-3, atol=1e-3)
