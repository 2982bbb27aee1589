"""Query strategies: which pool items a person should label next (numpy/torch only).

One interface, ``strategy.select(k, pool_idx, labelled_idx, view, rng) -> (chosen, scores)``,
over a :class:`ModelView` of the model; strategies by name with :func:`get_strategy`::

    view = ModelView(model, X)
    chosen, scores = get_strategy("margin").select(100, pool_idx, labelled_idx, view, rng)
"""

from strategies.badge import Badge, badge_seeding
from strategies.bald import BALD, mutual_information
from strategies.base import (
    STRATEGIES,
    EmptyPoolError,
    QueryStrategy,
    get_strategy,
    top_k,
)
from strategies.coreset import Coreset, k_center_greedy
from strategies.hybrid import Auto, Hybrid
from strategies.probcover import ProbCover
from strategies.qbc import QBC, consensus_kl, vote_entropy
from strategies.random_sampling import RandomSampling
from strategies.typicality import Typicality, typicality
from strategies.uncertainty import (
    Entropy,
    LeastConfidence,
    Margin,
    entropy,
    least_confidence,
    margin,
)
from strategies.view import ModelView

#: Strategy names, in the order the app and the benchmark list them.
NAMES = (
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "bald",
    "coreset",
    "qbc",
    "typicality",
    "probcover",
    "badge",
    "hybrid",
    "auto",
)

__all__ = [
    "BALD",
    "NAMES",
    "Badge",
    "QBC",
    "STRATEGIES",
    "Auto",
    "Coreset",
    "EmptyPoolError",
    "Entropy",
    "Hybrid",
    "LeastConfidence",
    "Margin",
    "ModelView",
    "ProbCover",
    "QueryStrategy",
    "RandomSampling",
    "Typicality",
    "badge_seeding",
    "consensus_kl",
    "entropy",
    "get_strategy",
    "k_center_greedy",
    "least_confidence",
    "margin",
    "mutual_information",
    "top_k",
    "typicality",
    "vote_entropy",
]
