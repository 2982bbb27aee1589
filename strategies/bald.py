"""BALD: Bayesian active learning by disagreement (Houlsby et al. 2011, arXiv:1112.5745).

With MC-dropout samples as posterior draws (Gal, Islam & Ghahramani 2017, arXiv:1703.02910), the
mutual information between an item's label and the model parameters is estimated as
``H[mean_t p_t] - mean_t H[p_t]`` over ``T`` samples ``p_t``, shape (T, n, C).

Hand-written rather than taken from a library: the peers' query code was measured 4-80x slower
than an incremental numpy version on a 1M pool (issue 4). This one streams the pool in chunks laid
out (T, C, n), so memory stays bounded and every reduction runs on contiguous memory.
"""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, pool_blocks, register, top_k
from strategies.uncertainty import entropy, pool_utility, xlogx

#: Rows per chunk for (T, n, C) samples: 4,096 rows x 20 samples x 10 classes = 3.3 MB.
SAMPLE_CHUNK_ROWS = 4096


def mutual_information(samples: np.ndarray) -> np.ndarray:
    """``H[mean_t p_t] - mean_t H[p_t]`` in nats; samples (T, n, C) -> (n,), clipped at 0.

    The same quantity is BALD over MC samples and the consensus KL of a committee
    (``mean_m KL(p_m || mean p) = H[mean p] - mean_m H[p_m]``; McCallum & Nigam 1998).
    """
    samples = np.asarray(samples)
    by_class = np.ascontiguousarray(
        samples.transpose(0, 2, 1), dtype=np.result_type(samples.dtype, np.float32)
    )
    mean = by_class.mean(axis=0)
    total = -xlogx(mean).sum(axis=0) + xlogx(by_class).sum(axis=(0, 1)) / samples.shape[0]
    return np.maximum(total, 0, out=total)


def pool_samples_utility(view, rows: np.ndarray, fetch, utility) -> np.ndarray:
    """``utility(fetch(block))`` over ``rows`` chunk by chunk, for (T, n, C) samples; (len(rows),)."""
    scores = np.empty(rows.size, dtype=np.float64)
    for start, stop, block, take in pool_blocks(rows, SAMPLE_CHUNK_ROWS):
        values = utility(fetch(block))
        scores[start:stop] = values if take is None else values[take]
    return scores


def candidate_positions(
    view, pool_idx: np.ndarray, k: int, n_candidates: int | None, rng
) -> np.ndarray:
    """Sorted positions of the top ``max(n_candidates, 10 k)`` pool rows by predictive entropy.

    The whole pool (no ``predict_proba`` call) when ``n_candidates`` is None or covers it.
    """
    if n_candidates is None or max(n_candidates, 10 * k) >= pool_idx.size:
        return np.arange(pool_idx.size)
    ranked = top_k(pool_utility(view, pool_idx, entropy), max(n_candidates, 10 * k), rng)
    return np.sort(ranked)


@register("bald", needs=("proba", "mc"), listed=5)
class BALD(QueryStrategy):
    """Ask for the items whose MC-dropout samples disagree most (Houlsby et al. 2011; Gal et al. 2017).

    On a pool larger than the candidate set, only the ``m = max(n_candidates, 10 k)`` items with
    the highest entropy of ``predict_proba`` are scored, so MC samples are computed for ``m``
    rows, not the pool. BALD is at most the entropy of the mean MC prediction, which
    ``predict_proba`` approximates, so the pruned items are unlikely winners (on the benchmark's
    1M pool the picks equal the exact ones). The scores are exact over that set;
    ``n_candidates=None`` scores the whole pool (chunked; 1.2 s at 1M, T = 20, on 2 cores).

    Parameters
    ----------
    n_samples : int or None
        ``T``, MC samples per item; None: every precomputed sample, else the view's default.
    n_candidates : int or None
        Lower bound of ``m``; None: no preselection.

    ``scores_``: mutual information in nats; NaN outside the candidate set.
    """

    def __init__(self, *, n_samples: int | None = None, n_candidates: int | None = 10_000):
        self.n_samples = n_samples
        self.n_candidates = n_candidates

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        candidates = candidate_positions(view, pool_idx, k, self.n_candidates, rng)
        scores = np.full(pool_idx.size, np.nan)
        scores[candidates] = pool_samples_utility(
            view,
            pool_idx[candidates],
            lambda block: view.mc_proba(block, self.n_samples),
            mutual_information,
        )
        return candidates[top_k(scores[candidates], k, rng)], scores
