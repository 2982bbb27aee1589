"""Random sampling: the baseline every active-learning curve is compared with."""

from __future__ import annotations

import numpy as np

from strategies.base import QueryStrategy, register, top_k


def random_scores(n_pool: int, rng: np.random.Generator) -> np.ndarray:
    """Independent uniform [0, 1) scores, shape (n_pool,); the top ``k`` are a uniform sample."""
    return rng.random(n_pool)


@register("random", needs=(), listed=1, cold_start=True)
class RandomSampling(QueryStrategy):
    """Ask for ``k`` pool items drawn uniformly without replacement; reads no model output.

    ``scores_``: the uniform draws, so the batch is reproducible from the generator alone.
    """

    def _select(self, k, pool_idx, labelled_idx, view, rng):
        scores = random_scores(pool_idx.size, rng)
        return top_k(scores, k, rng), scores
