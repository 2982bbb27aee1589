"""The contract every strategy keeps, checked for every registered name (small-text's mixin)."""

from __future__ import annotations

import numpy as np
import pytest

from strategies import (
    COLD_START,
    NAMES,
    POOL_STRATEGIES,
    STRATEGIES,
    EmptyPoolError,
    ModelView,
    get_strategy,
)
from tests.unit.strategies.conftest import precomputed_view

ISSUE_NAMES = [
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "bald",
    "coreset",
    "qbc",
    "typicality",
    "probcover",
    "badge",
    "hybrid",
    "auto",
]
VIEWS = ["protonet_view", "sklearn_view", "precomputed"]


def _view(request, kind):
    if kind == "precomputed":
        return precomputed_view(np.random.default_rng(3), n=60)
    return request.getfixturevalue(kind)


def test_registry_has_the_issue_names_in_their_order():
    """The issue's strategies, listed in its order; a new strategy joins by registering."""
    assert [name for name in NAMES if name in ISSUE_NAMES] == ISSUE_NAMES
    assert sorted(NAMES) == sorted(STRATEGIES)
    assert all(STRATEGIES[name].name == name for name in NAMES)
    assert COLD_START == ("random", "typicality", "probcover")
    assert sorted(POOL_STRATEGIES) == [
        "auto",
        "badge",
        "coreset",
        "hybrid",
        "probcover",
        "typicality",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_a_strategy_reads_only_what_it_declares(name):
    """Each strategy chooses from a view holding only the outputs of its ``needs`` (the rest
    would raise): what the benchmarks load and the planner's cold start rely on."""
    rng = np.random.default_rng(5)
    full = precomputed_view(rng, n=60)
    given = {
        "proba": {"proba": full.proba},
        "mc": {"mc_samples": full.mc_samples},
        "committee": {"committee": full.committee},
        "features": {},
    }
    kwargs = {k: v for need in STRATEGIES[name].needs for k, v in given[need].items()}
    view = ModelView(None, full.X, **kwargs)
    chosen, scores = get_strategy(name).select(5, np.arange(10, 60), np.arange(10), view, rng)
    assert len(chosen) == 5 and len(scores) == 50
    if STRATEGIES[name].cold_start:  # no model and no label at all
        cold = get_strategy(name).select(5, np.arange(60), None, ModelView(None, full.X), rng)
        assert len(cold[0]) == 5


def test_register_refuses_what_a_strategy_cannot_keep():
    from strategies.base import register

    with pytest.raises(ValueError, match="unknown outputs"):
        register("x", needs=("gradients",), listed=99)
    with pytest.raises(ValueError, match="cannot start cold"):
        register("x", needs=("proba",), listed=99, cold_start=True)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown strategy 'nope'.*margin"):
        get_strategy("nope")


@pytest.mark.parametrize("kind", VIEWS)
@pytest.mark.parametrize("name", NAMES)
def test_returns_k_unique_pool_rows_with_scores(name, kind, request, data):
    _, _, labelled, pool = data
    strategy = get_strategy(name)
    chosen, scores = strategy.select(
        5, pool, labelled, _view(request, kind), np.random.default_rng(0)
    )
    assert chosen.shape == (5,) and chosen.dtype == np.int64
    assert np.unique(chosen).size == 5
    assert np.isin(chosen, pool).all()
    assert scores.shape == pool.shape and strategy.scores_ is scores
    assert not np.isnan(scores[np.searchsorted(pool, chosen)]).any()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_picks_and_scores(name, data, protonet_view):
    _, _, labelled, pool = data
    first = get_strategy(name).select(6, pool, labelled, protonet_view, np.random.default_rng(11))
    again = get_strategy(name).select(6, pool, labelled, protonet_view, np.random.default_rng(11))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


@pytest.mark.parametrize("name", NAMES)
def test_an_int_seed_is_a_generator_seed(name, data, protonet_view):
    _, _, labelled, pool = data
    by_int = get_strategy(name).select(4, pool, labelled, protonet_view, 5)
    by_rng = get_strategy(name).select(4, pool, labelled, protonet_view, np.random.default_rng(5))
    np.testing.assert_array_equal(by_int[0], by_rng[0])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [51, 52, 1000])
def test_k_at_least_pool_returns_the_pool(name, k, data, protonet_view):
    _, _, labelled, pool = data
    assert pool.size == 51
    chosen, scores = get_strategy(name).select(k, pool, labelled, protonet_view, 0)
    np.testing.assert_array_equal(chosen, pool)
    assert np.isnan(scores).all()
    assert sum(protonet_view.model.calls.values()) == 0  # nothing to choose: no model call


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pool", [[], np.array([], dtype=np.int64)])
def test_empty_pool_is_a_clear_error(name, pool, protonet_view):
    with pytest.raises(EmptyPoolError, match="pool is empty"):
        get_strategy(name).select(3, pool, [0, 1], protonet_view, 0)
    assert issubclass(EmptyPoolError, ValueError)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [0, -2, 2.5, True, "3"])
def test_k_must_be_a_positive_integer(name, k, data, protonet_view):
    _, _, labelled, pool = data
    with pytest.raises(ValueError, match="k must be a positive integer"):
        get_strategy(name).select(k, pool, labelled, protonet_view, 0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [[-1, 3], [3, 60], [[1, 2]], [1.0, 2.0]])
def test_pool_rows_must_be_rows_of_the_matrix(name, bad, protonet_view):
    with pytest.raises(ValueError, match="pool_idx"):
        get_strategy(name).select(1, bad, None, protonet_view, 0)


@pytest.mark.parametrize("name", NAMES)
def test_rng_must_be_a_generator_or_seed(name, data, protonet_view):
    _, _, labelled, pool = data
    with pytest.raises(TypeError, match="rng must be"):
        get_strategy(name).select(2, pool, labelled, protonet_view, np.random.RandomState(0))


def _poisoned_view(value: float) -> ModelView:
    """A precomputed view with ``value`` at pool row 30 of every array."""
    view = precomputed_view(np.random.default_rng(3), n=60)
    for array in (view.X, view.proba):
        array[30, 1] = value
    for array in (view.mc_samples, view.committee):
        array[2, 30, 1] = value
    return view


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", NAMES)
def test_nan_or_inf_in_what_a_strategy_reads_is_an_error_naming_the_row(name, value, data):
    _, _, labelled, pool = data
    select = get_strategy(name).select
    if name == "random":  # reads no model output and no feature: nothing to check
        assert select(5, pool, labelled, _poisoned_view(value), 0)[0].size == 5
        return
    with pytest.raises(ValueError, match=r"contain NaN or inf \(row 30\)"):
        select(5, pool, labelled, _poisoned_view(value), 0)


def test_the_error_names_probabilities_or_features(data):
    _, _, labelled, pool = data
    view = precomputed_view(np.random.default_rng(3), n=60)
    view.proba[40, 0] = np.nan
    with pytest.raises(ValueError, match=r"probabilities \(predict_proba\) contain NaN"):
        get_strategy("margin").select(3, pool, labelled, view, 0)
    view = precomputed_view(np.random.default_rng(3), n=60)
    view.X[40, 2] = np.inf
    with pytest.raises(ValueError, match="^features contain NaN or inf"):
        get_strategy("coreset").select(3, pool, labelled, view, 0)


@pytest.mark.parametrize(
    ("name", "params"),
    [("margin", {}), ("coreset", {}), ("bald", {}), ("qbc", {"method": "consensus_kl"})],
)
def test_an_unsorted_pool_gives_the_same_picks(name, params, data, protonet_view):
    """Continuous scores, no ties: the order of pool_idx must not matter."""
    _, _, labelled, pool = data
    shuffled = np.random.default_rng(0).permutation(pool)
    a, scores = get_strategy(name, **params).select(4, pool, labelled, protonet_view, 1)
    b, shuffled_scores = get_strategy(name, **params).select(
        4, shuffled, labelled, protonet_view, 1
    )
    assert set(a) == set(b)
    np.testing.assert_allclose(scores, shuffled_scores[np.argsort(shuffled)], rtol=1e-6)
