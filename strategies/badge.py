"""BADGE: diverse, uncertain batches from gradient embeddings (Ash et al. 2020, arXiv:1906.03671).

Each pool item x gets the gradient of the cross-entropy at its predicted label with respect to
the last layer, ``g(x) = (p(x) - e_yhat(x)) (outer) h(x)``: p the class probabilities, e the
one-hot of the most probable class, h the model's embedding. Its norm is large where the model
is unsure (small p_yhat) and the item is far out; k-means++ seeding (Arthur & Vassilvitskii 2007)
over the g picks items that are both uncertain and spread out: the first is the largest g, each
next one is drawn with probability proportional to its squared distance to the nearest pick.

Hand-written (no library computes it) and without forming g, which would be C x D wide per item:
for outer products, <g_i, g_j> = <a_i, a_j> <h_i, h_j> with a = p - e_yhat, so a distance to a
pick costs O(C + D) per item instead of O(C D), and memory stays at the embeddings.
"""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, chunks, register, single_blas_thread


def gradient_factors(proba: np.ndarray) -> np.ndarray:
    """``a = p - e_yhat`` per row, the class factor of the gradient embedding; (n, C) -> (n, C)."""
    a = np.array(proba, dtype=np.float64)
    a[np.arange(a.shape[0]), a.argmax(axis=1)] -= 1.0
    return a


def badge_seeding(
    a: np.ndarray, h: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding over g = a (outer) h without forming g; (positions, |g|^2).

    The first pick is argmax |g| (ties by ``rng``), then D^2 sampling with ``rng``.
    a (n, C), h (n, D), k <= n.
    """
    a = np.asarray(a, dtype=np.float64)
    h = np.asarray(h)  # float32 embeddings stay float32: no copy of the pool's widest array
    a_sq = np.einsum("ij,ij->i", a, a)
    h_sq = np.einsum("ij,ij->i", h, h, dtype=np.float64)
    g_sq = a_sq * h_sq
    best = np.flatnonzero(g_sq == g_sq.max())
    picks = [int(rng.choice(best))]
    nearest = np.full(a.shape[0], np.inf)
    with single_blas_thread():  # k small products over the pool
        for _ in range(1, k):
            i = picks[-1]
            distance = g_sq + g_sq[i] - 2.0 * (a @ a[i]) * (h @ h[i]).astype(np.float64)
            np.minimum(nearest, np.maximum(distance, 0.0), out=nearest)
            nearest[picks] = 0.0
            total = np.cumsum(nearest)
            if total[-1] <= 0:  # every item sits on a pick: any other one
                rest = np.setdiff1d(np.arange(a.shape[0]), picks)
                picks.append(int(rng.choice(rest)))
                continue
            j = min(int(np.searchsorted(total, rng.random() * total[-1], "right")), a.shape[0] - 1)
            if nearest[j] <= 0:  # rounding at the top end landed on a pick
                j = int(np.flatnonzero(nearest > 0)[-1])
            picks.append(j)
    return np.asarray(picks, dtype=np.int64), g_sq


@register("badge", needs=("proba", "features"), listed=10)
class Badge(QueryStrategy):
    """BADGE (see the module docstring). ``scores_``: the gradient embedding's norm |g| of
    every pool item (its uncertainty-and-magnitude; the batch is not its top k)."""

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        a = np.empty((pool_idx.size, view.n_classes))
        for start, stop in chunks(pool_idx.size):
            a[start:stop] = gradient_factors(view.predict_proba(pool_idx[start:stop]))
        h = view.embed(pool_idx)
        picks, g_sq = badge_seeding(a, h, k, rng)
        return picks, np.sqrt(g_sq)
