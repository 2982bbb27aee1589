"""Query by committee (Seung, Opper & Sompolinsky 1992; McCallum & Nigam 1998).

A committee of ``M`` models votes on each item; the items they disagree on most are asked.
Disagreement is the vote entropy (Dagan & Engelson 1995) or the consensus KL divergence
``mean_m KL(p_m || mean p)`` (McCallum & Nigam 1998), from probabilities of shape (M, n, C).

Hand-written rather than taken from a library: the peers' query code was measured 4-80x slower
than an incremental numpy version on a 1M pool (issue 4; scikit-activeml QBC vote 4.1 s). Votes
are counted by elementwise passes over a (C, M, n) layout, never ``argmax`` over 10 columns.
"""

from __future__ import annotations

import numpy as np

from strategies.bald import mutual_information, pool_samples_utility
from strategies.base import QueryStrategy, register, top_k
from strategies.uncertainty import xlogx


def vote_counts(committee: np.ndarray) -> np.ndarray:
    """Members voting for each class (argmax, first class on ties); (M, n, C) -> (C, n) int64.

    Counted as ``p_c == max_c p`` on a (C, M, n) layout, all contiguous elementwise passes
    (2.5x faster than ``argmax(axis=2)`` on a 1M pool); the rare members with a tied maximum
    are counted once, by ``argmax``, afterwards.
    """
    committee = np.asarray(committee)
    n_members, n, n_classes = committee.shape
    by_class = np.ascontiguousarray(np.moveaxis(committee, 2, 0))
    top = by_class.max(axis=0)
    counts = np.empty((n_classes, n), dtype=np.int64)
    for c in range(n_classes):
        counts[c] = np.count_nonzero(by_class[c] == top, axis=0)
    tied = np.flatnonzero(counts.sum(axis=0) > n_members)
    if tied.size:
        counts[:, tied] = 0
        for member_votes in committee[:, tied].argmax(axis=2):
            counts[member_votes, tied] += 1
    return counts


def vote_entropy(committee: np.ndarray) -> np.ndarray:
    """Entropy of the vote shares, ``-sum_c V(c)/M log V(c)/M`` (Dagan & Engelson 1995); (n,)."""
    shares = vote_counts(committee) / np.shape(committee)[0]
    return -xlogx(shares).sum(axis=0)


def consensus_kl(committee: np.ndarray) -> np.ndarray:
    """Mean KL divergence of each member from the consensus, ``mean_m KL(p_m || mean p)``; (n,).

    Computed as ``H[mean p] - mean_m H[p_m]``, the same identity BALD uses.
    """
    return mutual_information(committee)


DISAGREEMENTS = {"vote_entropy": vote_entropy, "consensus_kl": consensus_kl}


@register("qbc", needs=("committee",), listed=7)
class QBC(QueryStrategy):
    """Ask for the items a committee disagrees on most (Seung et al. 1992; McCallum & Nigam 1998).

    The committee comes from ``view.committee_proba`` (the network's own, or a bagged committee
    of a scikit-learn classifier).

    Parameters
    ----------
    method : {"vote_entropy", "consensus_kl"}
        Disagreement measure.
    n_members : int or None
        ``M``; None: every precomputed member, else the view's default.

    ``scores_``: the disagreement, in nats.
    """

    def __init__(self, *, method: str = "vote_entropy", n_members: int | None = None):
        self.method = method
        self.n_members = n_members

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        if self.method not in DISAGREEMENTS:
            raise ValueError(f"method must be one of {sorted(DISAGREEMENTS)}, got {self.method!r}")
        scores = pool_samples_utility(
            view,
            pool_idx,
            lambda block: view.committee_proba(block, self.n_members),
            DISAGREEMENTS[self.method],
        )
        return top_k(scores, k, rng), scores
