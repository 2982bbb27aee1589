"""Uncertainty sampling: least confidence, margin and entropy (Lewis & Gale 1994; Settles 2009).

Each utility is a pure function of the probabilities, shape (n, C) -> (n,); the strategies stream
the pool through it in chunks (one pass, no (n_pool, C) copy) and keep the ``k`` best. Inside,
the chunk is transposed to (C, n) so every reduction over classes runs on contiguous rows: numpy's
``max(axis=1)`` / ``sum(axis=1)`` over 10 columns is 5x slower than that on a 1M pool.
"""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, pool_blocks, register, top_k


def by_class(proba: np.ndarray) -> np.ndarray:
    """Probabilities (n, C) as a contiguous float (C, n) array (a copy)."""
    proba = np.asarray(proba)
    return np.ascontiguousarray(proba.T, dtype=np.result_type(proba.dtype, np.float32))


def xlogx(p: np.ndarray) -> np.ndarray:
    """Elementwise ``p * log(p)`` with ``0 log 0 = 0``; same shape as ``p``."""
    out = np.maximum(p, np.finfo(p.dtype).tiny)
    np.log(out, out=out)
    out *= p
    return out


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats, ``-sum_c p_c log p_c`` (Shannon 1948; Settles 2009), (n, C) -> (n,)."""
    return -xlogx(by_class(proba)).sum(axis=0)


def margin(proba: np.ndarray) -> np.ndarray:
    """Gap between the two most likely classes, ``p_(1) - p_(2)`` (Scheffer et al. 2001), (n,).

    Small means uncertain. With one class the gap is ``p_(1)``.
    """
    columns = by_class(proba)
    first = columns[0].copy()
    second = np.zeros_like(first)
    for column in columns[1:]:
        np.maximum(second, np.minimum(first, column), out=second)
        np.maximum(first, column, out=first)
    return first - second


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """One minus the top probability, ``1 - p_(1)`` (Lewis & Gale 1994; Culotta & McCallum 2005)."""
    return 1 - by_class(proba).max(axis=0)


def pool_utility(view, pool_idx: np.ndarray, utility) -> np.ndarray:
    """``utility(view.predict_proba(rows))`` over the whole pool, chunk by chunk; shape (n_pool,)."""
    scores = None
    for start, stop, block, take in pool_blocks(pool_idx):
        values = utility(view.predict_proba(block))
        if scores is None:
            scores = np.empty(pool_idx.size, dtype=values.dtype)
        scores[start:stop] = values if take is None else values[take]
    return scores


class UncertaintyStrategy(QueryStrategy):
    """Template for strategies that rank the pool by a utility of the probabilities alone.

    Subclasses set ``utility``: a function (n, C) -> (n,), larger = more uncertain.
    """

    @staticmethod
    def utility(proba: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        scores = pool_utility(view, pool_idx, self.utility)
        return top_k(scores, k, rng), scores


@register("least_confidence", needs=("proba",), listed=2)
class LeastConfidence(UncertaintyStrategy):
    """Ask for the items whose most likely class is least likely (Lewis & Gale 1994).

    ``scores_``: ``1 - max_c p_c``.
    """

    utility = staticmethod(least_confidence)


@register("margin", needs=("proba",), listed=3)
class Margin(UncertaintyStrategy):
    """Ask for the items with the smallest gap between the top two classes (Scheffer et al. 2001).

    ``scores_``: ``1 - (p_(1) - p_(2))``, so larger is more uncertain as for every strategy.
    """

    @staticmethod
    def utility(proba: np.ndarray) -> np.ndarray:
        return 1 - margin(proba)


@register("entropy", needs=("proba",), listed=4)
class Entropy(UncertaintyStrategy):
    """Ask for the items with the highest predictive entropy (Settles 2009, section 3.1).

    ``scores_``: entropy in nats.
    """

    utility = staticmethod(entropy)
