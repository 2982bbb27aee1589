"""Query by committee: vote entropy and consensus KL by hand, brute-force picks, agreement."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import scipy.stats

from strategies import QBC, ModelView, consensus_kl, vote_entropy
from strategies.qbc import vote_counts
from tests.unit.strategies.conftest import sorted_gaps


def _one_hot_members(predicted: list[int], n_classes: int = 3) -> np.ndarray:
    """(M, 1, C) committee whose member m puts 0.9 on class predicted[m]."""
    members = np.full((len(predicted), 1, n_classes), 0.1 / (n_classes - 1))
    members[np.arange(len(predicted)), 0, predicted] = 0.9
    return members


def test_vote_entropy_by_hand():
    # votes 0, 0, 1, 1, 2 -> shares 0.4, 0.4, 0.2 -> 1.0549202 nats
    np.testing.assert_allclose(vote_entropy(_one_hot_members([0, 0, 1, 1, 2])), [1.0549201680])
    np.testing.assert_allclose(vote_entropy(_one_hot_members([1, 1, 1, 1])), [0.0])
    np.testing.assert_allclose(vote_entropy(_one_hot_members([0, 2])), [math.log(2)])


def test_votes_take_the_first_class_on_ties():
    committee = np.array([[[0.4, 0.4, 0.2], [0.1, 0.1, 0.8]], [[0.2, 0.4, 0.4], [0.5, 0.2, 0.3]]])
    np.testing.assert_array_equal(vote_counts(committee), [[1, 1], [1, 0], [0, 1]])


def test_vote_counts_match_argmax():
    rng = np.random.default_rng(4)
    committee = rng.dirichlet(np.ones(4), size=(6, 500)).astype(np.float32)
    committee[:, :50] = np.round(committee[:, :50], 1)  # many tied maxima
    predicted = committee.argmax(axis=2)
    expected = np.stack([(predicted == c).sum(axis=0) for c in range(4)])
    np.testing.assert_array_equal(vote_counts(committee), expected)


def test_consensus_kl_by_hand():
    # KL([1, 0] || [.5, .5]) = KL([0, 1] || [.5, .5]) = ln 2
    np.testing.assert_allclose(consensus_kl([[[1.0, 0.0]], [[0.0, 1.0]]]), [math.log(2)])
    np.testing.assert_allclose(
        consensus_kl([[[0.8, 0.2]], [[0.4, 0.6]]]), [0.0863046217], atol=1e-9
    )


@pytest.mark.parametrize("method", ["vote_entropy", "consensus_kl"])
def test_disagreement_is_zero_when_members_agree(method):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=50)
    committee = np.stack([p] * 5)
    _, scores = QBC(method=method).select(3, np.arange(50), None, ModelView(committee=committee), 0)
    np.testing.assert_allclose(scores, 0, atol=1e-12)


def test_vote_entropy_is_zero_when_members_agree_on_the_class_only():
    rng = np.random.default_rng(1)
    committee = rng.dirichlet(np.ones(3), size=(4, 30))
    committee[..., 0] += 5  # everyone votes class 0, with different confidences
    committee /= committee.sum(axis=2, keepdims=True)
    assert np.all(consensus_kl(committee) > 0)
    np.testing.assert_allclose(vote_entropy(committee), 0)


def _brute_force(committee: np.ndarray, method: str) -> np.ndarray:
    M, n, _ = committee.shape
    out = np.empty(n)
    for i in range(n):
        members = committee[:, i, :]
        if method == "vote_entropy":
            counts = Counter(int(np.argmax(p)) for p in members)
            out[i] = scipy.stats.entropy([c / M for c in counts.values()])
        else:
            mean = members.mean(axis=0)
            out[i] = np.mean([scipy.stats.entropy(p, mean) for p in members])
    return out


def test_consensus_kl_picks_match_brute_force():
    rng = np.random.default_rng(2)
    committee = rng.dirichlet(np.ones(4) * 0.7, size=(5, 150))
    pool = np.arange(20, 150)
    expected = _brute_force(committee[:, pool], "consensus_kl")
    assert sorted_gaps(expected) > 1e-9
    chosen, scores = QBC(method="consensus_kl").select(
        6, pool, None, ModelView(committee=committee), 0
    )
    np.testing.assert_allclose(scores, expected, atol=1e-10)
    np.testing.assert_array_equal(chosen, pool[np.argsort(-expected)[:6]])


def test_vote_entropy_matches_brute_force_and_picks_the_top_level():
    rng = np.random.default_rng(3)
    committee = rng.dirichlet(np.ones(3) * 0.5, size=(5, 400))
    pool = np.arange(400)
    expected = _brute_force(committee, "vote_entropy")
    chosen, scores = QBC().select(5, pool, None, ModelView(committee=committee), 0)
    np.testing.assert_allclose(scores, expected, atol=1e-12)
    # votes make discrete levels: the picks are 5 of the items at the highest level
    assert np.all(expected[chosen] == expected.max())


def test_bagged_committee_of_a_sklearn_classifier(sklearn_view, data):
    _, _, labelled, pool = data
    committee = sklearn_view.committee_proba(pool)
    assert committee.shape == (4, pool.size, 3)
    assert np.ptp(committee, axis=0).max() > 0  # members differ: bootstrap resamples
    chosen, scores = QBC(method="consensus_kl").select(4, pool, labelled, sklearn_view, 0)
    np.testing.assert_allclose(scores, _brute_force(committee, "consensus_kl"), atol=1e-6)


def test_unknown_method_is_an_error(data, protonet_view):
    _, _, labelled, pool = data
    with pytest.raises(ValueError, match="method must be one of"):
        QBC(method="kl").select(2, pool, labelled, protonet_view, 0)
