"""The learner on a GPU: runs only where CUDA is available (never in CI; on a lent GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meta import ProtoNetClassifier

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _blobs(n=600, d=32, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)) * 3
    y = rng.integers(classes, size=n)
    return (centers[y] + rng.standard_normal((n, d))).astype(np.float32), y


def test_auto_device_is_cuda_and_fit_learns():
    X, y = _blobs()
    model = ProtoNetClassifier(random_state=0).fit(X[:200], y[:200])
    assert model.device_.type == "cuda"
    assert (model.predict(X[200:]) == y[200:]).mean() > 0.9
    proba = model.predict_proba(X[200:])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_cpu_model_gives_the_same_probabilities_on_the_gpu():
    X, y = _blobs(seed=1)
    cpu = ProtoNetClassifier(random_state=0, device="cpu").fit(X[:200], y[:200])
    gpu = ProtoNetClassifier.from_bytes(cpu.to_bytes(), device="cuda")
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(gpu.embed(X), cpu.embed(X), atol=1e-4)
    back = ProtoNetClassifier.from_bytes(gpu.to_bytes(), device="cpu")
    np.testing.assert_allclose(back.predict_proba(X), cpu.predict_proba(X), atol=1e-5)


def test_gpu_is_deterministic_under_a_seed():
    X, y = _blobs(seed=2)
    a = ProtoNetClassifier(random_state=3, device="cuda").fit(X[:150], y[:150])
    b = ProtoNetClassifier(random_state=3, device="cuda").fit(X[:150], y[:150])
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)


def test_mc_and_committee_on_the_gpu():
    X, y = _blobs(seed=3)
    model = ProtoNetClassifier(random_state=0, device="cuda").fit(X[:200], y[:200])
    mc = model.mc_proba(X, T=8)
    assert mc.shape == (8, len(X), 5)
    np.testing.assert_allclose(mc.sum(axis=-1), 1, atol=1e-5)
    assert np.abs(mc[0] - mc[1]).max() > 0  # dropout varies the samples
    committee = model.committee_proba(X, M=4)
    assert committee.shape == (4, len(X), 5)
    assert np.abs(committee[0] - committee[1]).max() > 0


def test_semi_supervised_fit_on_the_gpu_matches_the_cpu_refinement():
    X, y = _blobs(n=400, seed=4)
    first = np.array([np.flatnonzero(y == c)[0] for c in range(5)])
    rest = np.setdiff1d(np.arange(len(y)), first)
    gpu = ProtoNetClassifier(random_state=0, device="cuda").fit(
        X[first], y[first], unlabelled=X[rest]
    )
    assert gpu._unlabelled_counts.sum() == len(rest)
    assert (gpu.predict(X[rest]) == y[rest]).mean() > 0.9
    committee = gpu.committee_proba(X, M=3)
    assert committee.shape == (3, len(X), 5)
    cpu = ProtoNetClassifier.from_bytes(gpu.to_bytes(), device="cpu")
    np.testing.assert_allclose(cpu.predict_proba(X), gpu.predict_proba(X), atol=1e-4)
