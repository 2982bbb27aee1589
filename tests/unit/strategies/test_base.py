"""Shared helpers: rng tie-breaking top-k, pool blocks, finiteness checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.base import check_finite, pool_blocks, top_k


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 5), min_size=1, max_size=40),  # small ints: many ties
    k=st.integers(1, 45),
    seed=st.integers(0, 2**16),
)
def test_top_k_takes_every_strictly_better_item_best_first(scores, k, seed):
    scores = np.array(scores, dtype=float)
    chosen = top_k(scores, k, np.random.default_rng(seed))
    k = min(k, scores.size)
    assert chosen.size == k and np.unique(chosen).size == k
    assert np.all(np.diff(scores[chosen]) <= 0)  # best first
    cut = np.sort(scores)[::-1][k - 1]
    assert set(np.flatnonzero(scores > cut)) <= set(chosen)
    np.testing.assert_array_equal(chosen, top_k(scores, k, np.random.default_rng(seed)))


def test_top_k_breaks_ties_uniformly():
    counts = np.zeros(10)
    for seed in range(2000):
        counts[top_k(np.zeros(10), 3, np.random.default_rng(seed))] += 1
    np.testing.assert_allclose(counts / 2000, 0.3, atol=0.05)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.integers(0, 300), min_size=1, max_size=120, unique=True),
    sort=st.booleans(),
    size=st.integers(1, 50),
)
def test_pool_blocks_cover_the_pool_in_order(rows, sort, size):
    pool = np.array(sorted(rows) if sort else rows)
    covered = []
    previous_stop = 0
    for start, stop, block, take in pool_blocks(pool, size):
        assert start == previous_stop and 0 < stop - start <= size
        previous_stop = stop
        if isinstance(block, slice):
            block_rows = np.arange(block.start, block.stop)
            assert block_rows.size <= 1.25 * (stop - start)
            covered.extend(block_rows if take is None else block_rows[take])
        else:
            assert take is None
            covered.extend(block)
    assert previous_stop == pool.size
    np.testing.assert_array_equal(covered, pool)


def test_a_dense_sorted_pool_is_read_as_slices():
    pool = np.setdiff1d(np.arange(1000), [5, 500])
    blocks = list(pool_blocks(pool, 400))
    assert all(isinstance(block, slice) for _, _, block, _ in blocks)


@pytest.mark.parametrize(
    ("values", "rows", "row"),
    [
        (np.array([[0.0, 1.0], [np.nan, 0.0]]), None, 1),
        (np.array([[0.0, 1.0], [0.0, np.inf]]), np.array([7, 9]), 9),
        (np.array([[0.0, 1.0], [-np.inf, 0.0]]), slice(40, 42), 41),
        (np.where(np.arange(24).reshape(3, 4, 2) == 23, np.nan, 1.0), None, 3),  # (T, n, C)
        (np.array([1.0, np.nan]), None, 1),
    ],
)
def test_check_finite_names_the_first_bad_row(values, rows, row):
    with pytest.raises(ValueError, match=rf"^things contain NaN or inf \(row {row}\)"):
        check_finite(values, "things", rows)


def test_check_finite_passes_finite_values():
    check_finite(np.ones((3, 2)), "things")
    check_finite(np.finfo(np.float32).max * np.ones((2, 3), dtype=np.float32), "things")
