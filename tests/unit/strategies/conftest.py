"""Small models and data for the strategy tests (no database, no meta/ import)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from strategies import ModelView

CLASSES = np.array([10, 20, 30])  # not 0..C-1 on purpose


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class FakeProtoNet:
    """Stand-in for ``meta.ProtoNetClassifier``: the same duck-typed contract, deterministic.

    embed(X) = tanh(X W), probabilities = softmax(-|embed - prototype|^2); MC samples and
    committee members perturb the prototypes with offsets fixed per sample. ``calls`` counts the
    rows each method was asked for, to check what a strategy pays for.
    """

    def __init__(self, n_features: int, n_dims: int = 5, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.classes_ = CLASSES
        self.weights = rng.standard_normal((n_features, n_dims)).astype(np.float32)
        self.prototypes = rng.standard_normal((CLASSES.size, n_dims)).astype(np.float32)
        self.offsets = rng.standard_normal((64, CLASSES.size, n_dims)).astype(np.float32) * 0.5
        self.calls: Counter = Counter()

    def embed(self, X):
        self.calls["embed"] += len(X)
        return np.tanh(np.asarray(X) @ self.weights)

    def _proba(self, Z, prototypes):
        return _softmax(-((Z[:, None, :] - prototypes[None]) ** 2).sum(axis=2))

    def predict_proba(self, X):
        self.calls["predict_proba"] += len(X)
        return self._proba(np.tanh(np.asarray(X) @ self.weights), self.prototypes)

    def mc_proba(self, X, T=20):
        self.calls["mc_proba"] += len(X)
        Z = np.tanh(np.asarray(X) @ self.weights)
        return np.stack([self._proba(Z, self.prototypes + self.offsets[t]) for t in range(T)])

    def committee_proba(self, X, M=5):
        self.calls["committee_proba"] += len(X)
        Z = np.tanh(np.asarray(X) @ self.weights)
        return np.stack([self._proba(Z, self.prototypes - self.offsets[-1 - m]) for m in range(M)])


@pytest.fixture
def data():
    """60 rows of 4 features, labels in CLASSES; rows 0..8 labelled (3 per class), rest pool."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    y = CLASSES[np.argmax(X[:, :3], axis=1)]
    labelled = np.concatenate([np.flatnonzero(y == c)[:3] for c in CLASSES])
    pool = np.setdiff1d(np.arange(60), labelled)
    return X, y, labelled, pool


@pytest.fixture
def protonet_view(data):
    X, _, _, _ = data
    return ModelView(FakeProtoNet(X.shape[1]), X)


@pytest.fixture
def sklearn_view(data):
    X, y, labelled, _ = data
    model = LogisticRegression().fit(X[labelled], y[labelled])
    return ModelView(model, X, train_idx=labelled, y_train=y[labelled], n_samples=6, n_members=4)


def precomputed_view(rng: np.random.Generator, n: int = 80, n_classes: int = 4, n_dims: int = 3):
    """A view of random precomputed arrays (features, probabilities, MC, committee)."""
    X = rng.standard_normal((n, n_dims)).astype(np.float32)
    return ModelView(
        None,
        X,
        proba=_softmax(2 * rng.standard_normal((n, n_classes))),
        mc_samples=_softmax(2 * rng.standard_normal((7, n, n_classes))),
        committee=_softmax(2 * rng.standard_normal((5, n, n_classes))),
    )


def sorted_gaps(values: np.ndarray) -> float:
    """Smallest gap between distinct sorted values: the data has no near-ties if it is large."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    return float(np.diff(v).min())
