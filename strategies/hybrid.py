"""Diverse uncertainty (``hybrid``) and the default policy (``auto``).

``hybrid`` keeps the ``m = candidate_factor k`` most uncertain pool items by margin, then picks
``k`` of them by greedy k-center in the learner's embedding space, with the labelled items as the initial centers: the
batch is uncertain and spread out, not ten near-copies. The two stages follow Zhdanov 2019
(arXiv:1901.05954: top ``beta k`` by margin, then k-means); the second stage here is the core-set's
greedy k-center (Sener & Savarese 2018, arXiv:1708.00489).

``auto`` starts cold with a coverage strategy (typicality, TypiClust) while there are fewer than
``2 C`` labels in total (C classes), when the model's uncertainty is not yet worth much (Hacohen
et al. 2022 find typicality wins at low budgets), then switches to margin sampling; both and the
switch point are parameters.

Chosen on the suite's tuning half (``bench/label_efficiency.py --suite tuning --sizes small
--seeds 5 --budgets 200``, 7 sets, one label per class to start, batch 10; mean AULC, average
rank among 10 arms; bench/results/suite-tuning-sweep/suite.json): random 0.756 (8.86), margin
0.775 (4.57), badge 0.768 (6.07), hybrid with 10 x batch candidates 0.775 (3.86), with 3 x batch
0.779 (3.00), auto then hybrid (10x) 0.770 (6.14), **auto then margin 0.780 (2.29)**, auto then
badge 0.772 (5.43); logistic regression + margin 0.760 (5.50).
Screened again with the learner's cross-validated head (``--quick``, 6 sets, 3 seeds, budget
200; bench/results/suite-quick-tuning-policies-cv/): auto 0.790, with ProbCover as the cold
strategy 0.785, switching at 1 or 4 labels per class 0.787 / 0.789; margin 0.787, random 0.760.
"""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, get_strategy, register, top_k
from strategies.coreset import k_center_greedy
from strategies.uncertainty import Margin, pool_utility


@register("hybrid", needs=("proba", "features"), listed=11)
class Hybrid(QueryStrategy):
    """Top ``m`` by margin, then greedy k-center among them (see the module docstring).

    Parameters
    ----------
    n_candidates : int or None
        ``m``; None: ``candidate_factor * k``.
    candidate_factor : int
        Candidates per item of the batch when ``n_candidates`` is None: 3 scored above 10 on
        the tuning half (see the module docstring). Until issue 14 the default was
        ``max(10_000, 10 k)``: the whole pool below 10,000 items, so ``hybrid`` and ``auto``
        were k-center over the pool, uncertainty playing no part.
    device : str or None
        For the k-center step, see :func:`strategies.coreset.k_center_greedy`.

    ``scores_``: margin uncertainty ``1 - (p_(1) - p_(2))`` of every pool item.
    """

    def __init__(
        self,
        *,
        n_candidates: int | None = None,
        candidate_factor: float = 3,
        device: str | None = None,
    ):
        self.n_candidates = n_candidates
        self.candidate_factor = candidate_factor
        self.device = device

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        scores = pool_utility(view, pool_idx, Margin.utility)
        m = self.n_candidates
        if m is None:
            m = int(np.ceil(self.candidate_factor * k))
        candidates = np.sort(top_k(scores, max(m, k), rng))
        centers = view.embed(np.sort(labelled_idx)) if labelled_idx.size else None
        picks, _ = k_center_greedy(
            view.embed(pool_idx[candidates]), k, rng=rng, centers=centers, device=self.device
        )
        return candidates[picks], scores


@register("auto", needs=("proba", "features"), listed=12)
class Auto(QueryStrategy):
    """The default policy: a coverage strategy while labels are few, then an uncertainty one.

    ``cold`` while fewer than ``switch_per_class * C`` items are labelled (C classes), when the
    model's uncertainty is not yet worth much, then ``warm``. Both are strategy names; their
    settings are ``cold_params`` / ``warm_params``.

    Parameters
    ----------
    n_classes : int or None
        ``C``; None: ``view.n_classes``.
    cold, warm : str
        The strategies before and after the switch (default typicality, then margin).
    switch_per_class : float
        Labels per class at which ``warm`` takes over.
    cold_params, warm_params : dict or None
        Keyword parameters of the two strategies.

    ``strategy_``: the strategy used by the last query. ``scores_``: its scores.
    """

    def __init__(
        self,
        *,
        n_classes: int | None = None,
        cold: str = "typicality",
        warm: str = "margin",
        switch_per_class: float = 2,
        cold_params: dict | None = None,
        warm_params: dict | None = None,
    ):
        self.n_classes = n_classes
        self.cold = cold
        self.warm = warm
        self.switch_per_class = switch_per_class
        self.cold_params = cold_params
        self.warm_params = warm_params

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        n_classes = self.n_classes if self.n_classes is not None else view.n_classes
        if labelled_idx.size < self.switch_per_class * n_classes:
            name, params = self.cold, dict(self.cold_params or {})
            if name == "probcover":
                params.setdefault("n_clusters", n_classes)
        else:
            name, params = self.warm, dict(self.warm_params or {})
        self.strategy_ = get_strategy(name, **params)
        return self.strategy_._select(k, pool_idx, labelled_idx, view, rng)
