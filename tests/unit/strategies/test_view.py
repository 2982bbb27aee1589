"""ModelView: lazy per-row caching, precomputed arrays, bagged committees, checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from strategies import ModelView
from strategies.view import _align_columns
from tests.unit.strategies.conftest import CLASSES, FakeProtoNet


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)


def test_outputs_are_computed_once_per_row_and_returned_in_the_order_asked(X):
    model = FakeProtoNet(4)
    view = ModelView(model, X)
    first = view.predict_proba([5, 1, 9])
    again = view.predict_proba([9, 9, 2, 1, 5])
    assert model.calls["predict_proba"] == 4  # rows 1, 2, 5, 9
    np.testing.assert_allclose(first, model.predict_proba(X[[5, 1, 9]]), atol=1e-7)
    np.testing.assert_array_equal(again[[0, 1, 3, 4]], first[[2, 2, 1, 0]])
    np.testing.assert_allclose(view.predict_proba(slice(0, 50)), model.predict_proba(X), atol=1e-7)


def test_a_run_of_consecutive_rows_is_read_in_place(X):
    """Missing rows that form one run reach the model as a view of X, never a gathered copy."""

    class Recording(FakeProtoNet):
        def predict_proba(self, rows):
            self.inputs.append(rows)
            return super().predict_proba(rows)

    model = Recording(4)
    model.inputs = []
    memmap_like = X.copy()
    view = ModelView(model, memmap_like)
    view.predict_proba(slice(10, 30))
    view.predict_proba(np.array([3, 40, 7]))
    run, scattered = model.inputs
    assert np.shares_memory(run, memmap_like) and run.shape == (20, 4)
    assert not np.shares_memory(scattered, memmap_like)
    np.testing.assert_array_equal(scattered, X[[3, 7, 40]])
    np.testing.assert_allclose(view.predict_proba(slice(0, 50)), model.predict_proba(X), atol=1e-7)


def test_each_output_is_paid_only_when_asked(X):
    model = FakeProtoNet(4)
    view = ModelView(model, X)
    view.embed(np.arange(10))
    assert dict(model.calls) == {"embed": 10}
    samples = view.mc_proba(np.arange(3), 7)
    assert samples.shape == (7, 3, 3) and dict(model.calls) == {"embed": 10, "mc_proba": 3}
    np.testing.assert_allclose(samples, model.mc_proba(X[:3], 7), atol=1e-7)
    view.mc_proba(np.arange(3), 4)  # another T is another output
    assert model.calls["mc_proba"] == 3 + 3 + 3
    members = view.committee_proba(np.arange(5, 8))
    assert members.shape == (5, 3, 3)
    np.testing.assert_allclose(members, model.committee_proba(X[5:8], 5), atol=1e-7)


def test_update_drops_the_cache_of_the_old_model(X):
    model = FakeProtoNet(4)
    view = ModelView(model, X, version="v1")
    view.predict_proba(np.arange(4))
    other = FakeProtoNet(4, seed=1)
    view.update(other, version="v2")
    assert view.version == "v2"
    np.testing.assert_allclose(
        view.predict_proba(np.arange(4)), other.predict_proba(X[:4]), atol=1e-7
    )
    assert other.calls["predict_proba"] == 4 + 4  # recomputed by the view, then by the test
    assert view.update(other).version == 2  # the number of updates so far


def test_update_without_a_version_counts_up(X):
    view = ModelView(FakeProtoNet(4), X)
    assert view.update(FakeProtoNet(4)).version == 1 and view.update(FakeProtoNet(4)).version == 2


def test_precomputed_arrays_are_read_not_computed(X, tmp_path):
    proba = np.random.default_rng(1).dirichlet(np.ones(3), size=50).astype(np.float32)
    np.save(tmp_path / "p.npy", proba)
    view = ModelView(FakeProtoNet(4), X, proba=np.load(tmp_path / "p.npy", mmap_mode="r"))
    np.testing.assert_array_equal(view.predict_proba([3, 1]), proba[[3, 1]])
    np.testing.assert_array_equal(view.predict_proba(slice(10, 20)), proba[10:20])
    assert view.model.calls["predict_proba"] == 0
    assert view.n_classes == 3


def test_a_model_without_embed_is_embedded_by_its_features(X):
    y = CLASSES[np.arange(50) % 3]
    view = ModelView(LogisticRegression().fit(X, y), X)
    assert view.embedding_matrix() is X
    np.testing.assert_array_equal(view.embed([4, 2]), X[[4, 2]])
    assert ModelView(FakeProtoNet(4), X).embedding_matrix() is None
    matrix, rows = ModelView(FakeProtoNet(4), X).embedding_source(np.array([7, 3]))
    np.testing.assert_array_equal(rows, [0, 1])
    assert matrix.shape == (2, 5)


def test_bagged_committee_of_sklearn_clones(X):
    y = CLASSES[np.argmax(X[:, :3], axis=1)]
    train = np.arange(30)
    model = LogisticRegression().fit(X[train], y[train])
    view = ModelView(model, X, train_idx=train, y_train=y[train], random_state=3)
    members = view.committee_proba(np.arange(30, 50), 6)
    assert members.shape == (6, 20, 3)
    np.testing.assert_allclose(members.sum(axis=2), 1, atol=1e-5)
    assert len({m.tobytes() for m in members}) == 6  # different resamples
    samples = view.mc_proba(np.arange(30, 50), 4)  # the first 4 members stand in for MC samples
    np.testing.assert_allclose(samples, members[:4], atol=1e-7)
    again = ModelView(model, X, train_idx=train, y_train=y[train], random_state=3)
    np.testing.assert_array_equal(again.committee_proba(np.arange(30, 50), 6), members)


def test_bagging_needs_the_training_rows(X):
    y = CLASSES[np.arange(50) % 3]
    view = ModelView(LogisticRegression().fit(X, y), X)
    with pytest.raises(ValueError, match="pass train_idx and y_train"):
        view.committee_proba([0, 1])


def test_columns_follow_the_views_classes():
    proba = np.array([[0.2, 0.8]])
    np.testing.assert_array_equal(_align_columns(proba, [10, 30], CLASSES), [[0.2, 0.0, 0.8]])
    assert _align_columns(proba, [10, 20], np.array([10, 20])) is proba
    np.testing.assert_array_equal(
        _align_columns(proba, ["b", "a"], np.array(["a", "c", "b"])), [[0.8, 0, 0.2]]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs X or a precomputed array"),
        ({"X": np.zeros((3, 2)), "proba": np.zeros((4, 2))}, "row counts disagree"),
        ({"proba": np.zeros((4, 2)), "classes": [1, 2, 3]}, "widths"),
        ({"proba": np.zeros((4, 2)), "committee": np.zeros((2, 4, 3))}, "widths"),
    ],
)
def test_inconsistent_inputs_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelView(**kwargs)


def test_missing_outputs_are_errors():
    view = ModelView(proba=np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="no features X"):
        view.embed([0])
    with pytest.raises(ValueError, match="no model"):
        ModelView(None, np.zeros((4, 2), dtype=np.float32)).predict_proba([0])
    with pytest.raises(ValueError, match="3 committee samples asked, 2 precomputed"):
        ModelView(committee=np.full((2, 4, 2), 0.5)).committee_proba([0], 3)
