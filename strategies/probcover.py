"""ProbCover: label the items whose delta-balls cover the most of the data (Yehuda et al. 2022,
"Active Learning Through a Covering Lens", arXiv:2205.11320), for the low-budget regime.

In an embedding space, the open ball B(x, delta) "covers" the items closer than ``delta`` to x. ProbCover
greedily picks the pool item whose ball covers the most items not yet covered by the labelled
items or the picks (max coverage, a (1 - 1/e)-approximation); once everything is covered it
picks at random. ``delta`` is the largest radius whose balls stay "pure" for a fraction
``purity`` (0.95) of the items, purity measured against k-means clusters with as many clusters
as classes: a ball is pure when no item of another cluster lies in it, i.e. when the nearest
item of another cluster is at least delta away, so delta is an order statistic of those nearest
distances (one pass, no grid search).

On a large pool the graph is built over a random sample of ``max_points`` items (pool items
and every labelled item up to that size), the picks come from the sample: the pairwise pass is
quadratic in the sample. Hand-written: no library implements it; the graph is a scipy sparse
matrix built block by block, never an N x N dense one.
"""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, chunks, register, single_blas_thread
from strategies.typicality import _sqdist, cluster

#: Rows per block of the pairwise pass.
ROW_BLOCK = 1024


def nearest_other_cluster(points: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest point of another cluster (inf if none); (n,)."""
    points = np.asarray(points, dtype=np.float32)
    points = points - points.mean(axis=0)
    sq = np.einsum("ij,ij->i", points, points)
    out = np.empty(points.shape[0])
    for start, stop in chunks(points.shape[0], ROW_BLOCK):
        d = _sqdist(points[start:stop], points, sq)
        d[clusters[start:stop, None] == clusters[None, :]] = np.inf
        out[start:stop] = np.sqrt(d.min(axis=1))
    return out


def choose_delta(points: np.ndarray, clusters: np.ndarray, purity: float = 0.95) -> float:
    """The largest radius at which at least ``purity`` of the open balls hold one cluster only.

    Ball i is pure at delta iff its nearest other-cluster point is >= delta away, so with those
    distances sorted, o_(0) <= ... <= o_(n-1), it is o_(m) with m = n - ceil(purity n) the
    number of balls allowed to be impure.
    """
    other = np.sort(nearest_other_cluster(points, clusters))
    if not np.isfinite(other[0]):  # one cluster: every ball is pure; use the data's scale
        centred = points - points.mean(axis=0)
        return float(np.sqrt(np.mean(np.einsum("ij,ij->i", centred, centred))))
    allowed = other.size - int(np.ceil(purity * other.size - 1e-9))
    return float(other[min(allowed, other.size - 1)])


def cap_delta(points: np.ndarray, delta: float, max_ball: int, rng) -> float:
    """``delta``, or a smaller radius when the balls would hold more than ``max_ball`` items on
    average (estimated on 256 rows): overlapping clusters make the purity radius as wide as the
    data, and the graph dense (1e8 edges at 10,000 items)."""
    points = np.asarray(points, dtype=np.float32)
    points = points - points.mean(axis=0)
    sample = rng.choice(points.shape[0], min(256, points.shape[0]), replace=False)
    sq = np.einsum("ij,ij->i", points, points)
    d = np.sqrt(_sqdist(points[sample], points, sq))
    if max_ball >= points.shape[0] or (d < delta).sum(axis=1).mean() <= max_ball:
        return delta
    return float(np.median(np.partition(d, max_ball, axis=1)[:, max_ball]))


def ball_graph(points: np.ndarray, delta: float):
    """Symmetric scipy CSR adjacency: i -- j when |x_i - x_j| < delta, and i -- i."""
    from scipy import sparse

    points = np.asarray(points, dtype=np.float32)
    points = points - points.mean(axis=0)
    sq = np.einsum("ij,ij->i", points, points)
    rows, cols = [], []
    with single_blas_thread():
        for start, stop in chunks(points.shape[0], ROW_BLOCK):
            d = _sqdist(points[start:stop], points, sq)
            d[np.arange(stop - start), np.arange(start, stop)] = -1.0  # itself, even at delta 0
            r, c = np.nonzero(d < delta * delta)
            rows.append(r + start)
            cols.append(c)
    n = points.shape[0]
    data = np.ones(sum(r.size for r in rows), dtype=np.int32)
    graph = sparse.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return graph.maximum(graph.T).tocsr()  # float32 rounding could make it one-sided


def max_coverage(graph, candidates: np.ndarray, covered: np.ndarray, k: int, rng) -> list[int]:
    """Greedy max coverage: ``k`` of ``candidates`` (positions in the graph), each covering the
    most points not ``covered`` (updated in place); random once nothing is left to cover."""
    uncovered = (~covered).astype(np.int32)
    degree = graph @ uncovered  # uncovered points in each ball
    available = np.zeros(graph.shape[0], dtype=bool)
    available[candidates] = True
    picks: list[int] = []
    for _ in range(k):
        gain = np.where(available, degree, -1)
        top = gain.max()
        if top <= 0:  # everything covered: at random among the rest
            i = int(rng.choice(np.flatnonzero(available)))
        else:
            i = int(rng.choice(np.flatnonzero(gain == top)))
        picks.append(i)
        available[i] = False
        newly = graph.indices[graph.indptr[i] : graph.indptr[i + 1]]
        newly = newly[~covered[newly]]
        if newly.size:
            covered[newly] = True
            degree -= np.asarray(graph[newly].sum(axis=0)).ravel().astype(degree.dtype)
    return picks


@register("probcover", needs=("features",), listed=9, cold_start=True)
class ProbCover(QueryStrategy):
    """ProbCover (see the module docstring).

    Parameters
    ----------
    purity : float
        Fraction of pure balls that sets delta (the paper's alpha, 0.95).
    max_points : int
        Items in the graph at most (a random sample of the pool, the labelled items first).
    max_ball : int
        Items per ball on average at most (delta is lowered to keep the graph sparse).
    n_clusters : int or None
        Clusters for the purity; None: the number of classes (``view.n_classes``), at least 2.

    ``scores_``: for the sampled pool items, the number of not-yet-covered items in their ball
    before the first pick; NaN outside the sample. ``delta_``: the radius used.
    """

    def __init__(
        self,
        *,
        purity: float = 0.95,
        max_points: int = 10_000,
        max_ball: int = 200,
        n_clusters=None,
    ):
        self.purity = purity
        self.max_points = max_points
        self.max_ball = max_ball
        self.n_clusters = n_clusters

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        labelled = labelled_idx
        if labelled.size > self.max_points:
            labelled = np.sort(rng.choice(labelled_idx, self.max_points, replace=False))
        room = max(self.max_points - labelled.size, k)
        sample = np.arange(pool_idx.size)
        if sample.size > room:
            sample = np.sort(rng.choice(pool_idx.size, room, replace=False))
        rows = np.concatenate([labelled, pool_idx[sample]])
        points = np.asarray(view.embed(rows), dtype=np.float32)
        n_clusters = self.n_clusters
        if n_clusters is None:
            n_clusters = view.n_classes if view.classes_ is not None else 2
        n_clusters = min(max(2, n_clusters), len(points))
        clusters = cluster(points, np.arange(len(points)), n_clusters, rng, len(points))
        delta = choose_delta(points, clusters, self.purity)
        self.delta_ = cap_delta(points, delta, self.max_ball, rng)
        graph = ball_graph(points, self.delta_)
        covered = np.zeros(len(points), dtype=bool)
        for i in range(labelled.size):  # what the labelled items already cover
            covered[graph.indices[graph.indptr[i] : graph.indptr[i + 1]]] = True
        candidates = np.arange(labelled.size, len(points))
        scores = np.full(pool_idx.size, np.nan)
        scores[sample] = graph[candidates] @ (~covered).astype(np.int32)
        picks = max_coverage(graph, candidates, covered, min(k, candidates.size), rng)
        return sample[np.asarray(picks, dtype=np.int64) - labelled.size], scores
