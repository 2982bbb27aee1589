"""Typicality for the cold start: TypiClust (Hacohen, Dekel & Weinshall 2022, arXiv:2202.02794).

With few labels, the most informative items are typical ones from regions nothing labelled
covers. TypiClust clusters labelled + pool items into ``|L| + k`` clusters (k-means), visits the
clusters with the fewest labelled items first (largest first among equals; clusters of at most
``min_cluster_size`` items only after all others) and takes from each the pool item of highest
typicality, ``1 / mean distance to its K nearest neighbours`` among the cluster's pool items,
``K = min(20, size // 2)``; with more picks than clusters, it goes round again.

The paper's code uses faiss squared L2 distances and ``1 / (mean + 1e-5)``; here the paper's
definition (Euclidean distance, eq. 2) is used. k-means: scikit-learn ``KMeans`` (Lloyd) on pools
of up to ``fit_rows`` items, else ``MiniBatchKMeans`` fit on ``fit_rows`` sampled items and every
item assigned to its nearest center in chunks. On a pool of more than ``max_points`` items the
whole selection runs on a uniform random sample of that many pool items (with every labelled
item): typicality is quadratic in a cluster's size, and a new project of 1,000,000 items, ten
clusters of 100,000, took eleven minutes to its first item; the sample keeps it to seconds
(bench/results/coldstart_sample.json measures what the sample costs in label efficiency).
Seeding is k-means++ D^2 sampling (Arthur &
Vassilvitskii 2007) written here on at most ``3 x n_clusters`` items: scikit-learn's greedy
k-means++ took 8-22 s for 1,100 clusters of 3,300 items on this 2-core box. Every random choice,
the k-means seed included, comes from ``rng``.
"""

from __future__ import annotations

import numpy as np

from strategies.base import (
    QueryStrategy,
    check_finite,
    chunks,
    pool_blocks,
    register,
    single_blas_thread,
    top_k,
)

#: Rows per chunk for nearest-center and nearest-neighbour distances.
ROW_BLOCK = 1024


def _sqdist(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared distances (n, m) of rows ``a`` (n, d) to rows ``b`` (m, d), clipped at 0."""
    d = a @ b.T
    d *= -2
    d += np.einsum("ij,ij->i", a, a)[:, None]
    d += b_sq
    return np.maximum(d, 0, out=d)


def kmeans_plusplus(points: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds by D^2 sampling (Arthur & Vassilvitskii 2007); (n, d) -> (n_clusters, d)."""
    seeds = np.empty((n_clusters, points.shape[1]), dtype=points.dtype)
    original, points = points, points - points.mean(axis=0)  # same distances, fewer lost digits
    sq = np.einsum("ij,ij->i", points, points)
    nearest = np.zeros(points.shape[0])
    with single_blas_thread():  # 1,000s of small products
        for j in range(n_clusters):
            total = np.cumsum(nearest, dtype=np.float64)
            if total[-1] > 0:
                i = int(np.searchsorted(total, rng.random() * total[-1], "right"))
                i = min(i, total.size - 1)
            else:  # the first seed, or every point already a seed
                i = int(rng.integers(points.shape[0]))
            seeds[j] = original[i]
            distance = _sqdist(points, points[i : i + 1], sq[i : i + 1])[:, 0]
            nearest = distance if j == 0 else np.minimum(nearest, distance)
    return seeds


def typicality(points: np.ndarray, n_neighbors: int = 20) -> np.ndarray:
    """``1 / mean_i |x - x_i|`` over the ``n_neighbors`` nearest other points (TypiClust eq. 2).

    points (n, d) -> (n,); ``n_neighbors`` is capped at ``n - 1``; a single point gets 1.
    """
    points = np.asarray(points, dtype=np.float32)
    points = points - points.mean(axis=0)  # same distances, fewer digits lost in float32
    n = points.shape[0]
    n_neighbors = min(n_neighbors, n - 1)
    if n_neighbors < 1:
        return np.ones(n)
    sq = np.einsum("ij,ij->i", points, points)
    out = np.empty(n)
    for start, stop in chunks(n, ROW_BLOCK):
        d = _sqdist(points[start:stop], points, sq)
        d[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        nearest = np.partition(d, n_neighbors - 1, axis=1)[:, :n_neighbors]
        out[start:stop] = np.sqrt(nearest).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 1 / out


def nearest_center(features, rows: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``centers`` (K, d) for each of ``features[rows]``; (len(rows),)."""
    shift = np.mean(centers, axis=0, dtype=np.float64).astype(np.float32)
    centers = np.asarray(centers, dtype=np.float32) - shift  # same distances, fewer lost digits
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(rows.size, dtype=np.int64)
    for start, stop, block, take in pool_blocks(rows, ROW_BLOCK):
        points = np.asarray(features[block], dtype=np.float32)
        check_finite(points, "features", block)
        d = (points - shift) @ centers.T
        d *= -2
        d += c_sq
        best = d.argmin(axis=1)
        labels[start:stop] = best if take is None else best[take]
    return labels


def cluster(features, rows: np.ndarray, n_clusters: int, rng, fit_rows: int) -> np.ndarray:
    """k-means cluster of each of ``features[rows]`` (len(rows),); see the module docstring."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n_fit = min(rows.size, max(fit_rows, 3 * n_clusters))
    fit = np.sort(rng.choice(rows.size, n_fit, replace=False)) if n_fit < rows.size else None
    points = np.asarray(features[rows if fit is None else rows[fit]], dtype=np.float32)
    check_finite(points, "features")
    n_seed = min(n_fit, 3 * n_clusters)
    seeds = kmeans_plusplus(
        points[np.sort(rng.choice(n_fit, n_seed, replace=False))], n_clusters, rng
    )
    seed = int(rng.integers(2**31 - 1))
    if fit is None:
        return KMeans(n_clusters, init=seeds, n_init=1, random_state=seed).fit(points).labels_
    model = MiniBatchKMeans(
        n_clusters, init=seeds, n_init=1, random_state=seed, batch_size=2048, max_iter=10
    )
    return nearest_center(features, rows, model.fit(points).cluster_centers_)


@register("typicality", needs=("features",), listed=8, cold_start=True)
class Typicality(QueryStrategy):
    """Ask for the most typical item of each of the least covered clusters (Hacohen et al. 2022).

    Parameters
    ----------
    n_neighbors : int
        ``K`` of the typicality (20 in the paper).
    min_cluster_size : int
        Clusters of at most this many items are visited last (5 in the paper's code).
    max_clusters : int or None
        Cap on ``|L| + k`` (the paper's code caps it at 500); None: no cap.
    fit_rows : int
        Above this many items, k-means is fit on a sample of this size (see the module).
    max_points : int or None
        Pool items the selection looks at, at most (a uniform sample); None: the whole pool.

    ``scores_``: typicality of the items of the visited clusters; NaN elsewhere (and outside
    the sample).
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 20,
        min_cluster_size: int = 5,
        max_clusters: int | None = None,
        fit_rows: int = 20_000,
        max_points: int | None = 20_000,
    ):
        self.n_neighbors = n_neighbors
        self.min_cluster_size = min_cluster_size
        self.max_clusters = max_clusters
        self.fit_rows = fit_rows
        self.max_points = max_points

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        if self.max_points is None or pool_idx.size <= max(self.max_points, k):
            return self._select_from(k, pool_idx, labelled_idx, view, rng)
        sample = np.sort(rng.choice(pool_idx.size, max(self.max_points, k), replace=False))
        picks, sampled_scores = self._select_from(k, pool_idx[sample], labelled_idx, view, rng)
        scores = np.full(pool_idx.size, np.nan)
        scores[sample] = sampled_scores
        return sample[picks], scores

    def _select_from(self, k, pool_idx, labelled_idx, view, rng):
        """``_select`` on exactly these pool rows (positions into them, scores)."""
        n_labelled = labelled_idx.size
        features, rows = view.embedding_source(np.concatenate([labelled_idx, pool_idx]))
        n_clusters = int(min(n_labelled + k, self.max_clusters or np.inf, rows.size))
        labels = cluster(features, rows, n_clusters, rng, self.fit_rows)
        scores = np.full(pool_idx.size, np.nan)
        picks: list[int] = []
        for groups in self._clusters_to_visit(labels, n_labelled, n_clusters):
            while len(picks) < k and any(group.size for group in groups):
                for i, group in enumerate(groups):
                    if len(picks) == k or group.size == 0:
                        continue
                    points = features[rows[group + n_labelled]]
                    with single_blas_thread():
                        typical = typicality(points, min(self.n_neighbors, group.size // 2))
                    unset = np.isnan(scores[group])
                    scores[group[unset]] = typical[unset]
                    best = group[top_k(typical, 1, rng)[0]]
                    picks.append(int(best))
                    groups[i] = group[group != best]
        return np.array(picks, dtype=np.int64), scores

    def _clusters_to_visit(self, labels, n_labelled, n_clusters) -> tuple[list, list]:
        """Pool positions per cluster: those above ``min_cluster_size``, then the rest.

        Each list is in the visiting order: fewest labelled items first, then largest, then id.
        """
        sizes = np.bincount(labels, minlength=n_clusters)
        covered = np.bincount(labels[:n_labelled], minlength=n_clusters)
        pool_labels = labels[n_labelled:]
        by_label = np.argsort(pool_labels, kind="stable")
        groups = np.split(by_label, np.cumsum(np.bincount(pool_labels, minlength=n_clusters))[:-1])
        order = np.lexsort((np.arange(n_clusters), -sizes, covered))
        big = sizes[order] > self.min_cluster_size
        return [groups[c] for c in order[big]], [groups[c] for c in order[~big]]
