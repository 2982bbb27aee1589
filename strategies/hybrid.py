"""Diverse uncertainty (``hybrid``) and the default policy (``auto``).

``hybrid`` keeps the ``m`` most uncertain pool items by margin, then picks ``k`` of them by greedy
k-center in the learner's embedding space, with the labelled items as the initial centers: the
batch is uncertain and spread out, not ten near-copies. The two stages follow Zhdanov 2019
(arXiv:1901.05954: top ``beta k`` by margin, then k-means); the second stage here is the core-set's
greedy k-center (Sener & Savarese 2018, arXiv:1708.00489).

``auto`` starts cold with typicality (TypiClust) while there are fewer than ``2 C`` labels in
total (C classes), when the model's uncertainty is not yet worth much (Hacohen et al. 2022 find
typicality wins at low budgets), then switches to ``hybrid``.
"""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, register, top_k
from strategies.coreset import k_center_greedy
from strategies.typicality import Typicality
from strategies.uncertainty import Margin, pool_utility


@register("hybrid")
class Hybrid(QueryStrategy):
    """Top ``m`` by margin, then greedy k-center among them (see the module docstring).

    Parameters
    ----------
    n_candidates : int or None
        ``m``; None: ``max(10_000, 10 k)``.
    device : str or None
        For the k-center step, see :func:`strategies.coreset.k_center_greedy`.

    ``scores_``: margin uncertainty ``1 - (p_(1) - p_(2))`` of every pool item.
    """

    def __init__(self, *, n_candidates: int | None = None, device: str | None = None):
        self.n_candidates = n_candidates
        self.device = device

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        scores = pool_utility(view, pool_idx, Margin.utility)
        m = self.n_candidates if self.n_candidates is not None else max(10_000, 10 * k)
        candidates = np.sort(top_k(scores, max(m, k), rng))
        centers = view.embed(np.sort(labelled_idx)) if labelled_idx.size else None
        picks, _ = k_center_greedy(
            view.embed(pool_idx[candidates]), k, rng=rng, centers=centers, device=self.device
        )
        return candidates[picks], scores


@register("auto")
class Auto(QueryStrategy):
    """Typicality while fewer than ``2 C`` items are labelled, then hybrid.

    Parameters
    ----------
    n_classes : int or None
        ``C``; None: ``view.n_classes``.
    typicality, hybrid : dict or None
        Keyword parameters of the two strategies.

    ``strategy_``: the strategy used by the last query. ``scores_``: its scores.
    """

    def __init__(
        self,
        *,
        n_classes: int | None = None,
        typicality: dict | None = None,
        hybrid: dict | None = None,
    ):
        self.n_classes = n_classes
        self.typicality = typicality
        self.hybrid = hybrid

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        n_classes = self.n_classes if self.n_classes is not None else view.n_classes
        if labelled_idx.size < 2 * n_classes:
            self.strategy_ = Typicality(**(self.typicality or {}))
        else:
            self.strategy_ = Hybrid(**(self.hybrid or {}))
        return self.strategy_._select(k, pool_idx, labelled_idx, view, rng)
