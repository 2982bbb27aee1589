"""Small synthetic datasets for the simulation tests (seconds, not minutes)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.io.dataset import ImportedData
from annotator.simulation import SimulationConfig


def blobs(n_per_class: int = 40, n_classes: int = 3, dim: int = 5, seed: int = 0) -> ImportedData:
    """Well-separated Gaussian blobs as a features import with ground truth c0, c1, ..."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(n_classes, dim))
    X = np.concatenate([c + rng.normal(size=(n_per_class, dim)) for c in centres])
    labels = [f"c{k}" for k in range(n_classes) for _ in range(n_per_class)]
    return ImportedData(
        kind="features",
        source="blobs",
        ids=[f"item-{i}" for i in range(len(labels))],
        features=X,
        feature_names=[f"x{j}" for j in range(dim)],
        labels=labels,
    )


@pytest.fixture
def data() -> ImportedData:
    return blobs()


@pytest.fixture
def config() -> SimulationConfig:
    return SimulationConfig(
        data="blobs",
        strategies=("random", "margin"),
        seeds=2,
        init_size=3,
        batch=3,
        budget=12,
        test_size=30,
        learner="logreg",
    )
