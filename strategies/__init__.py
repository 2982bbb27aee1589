"""Query strategies: which pool items a person should label next (numpy/torch only).

One interface, ``strategy.select(k, pool_idx, labelled_idx, view, rng) -> (chosen, scores)``,
over a :class:`ModelView` of the model; strategies by name with :func:`get_strategy`::

    view = ModelView(model, X)
    chosen, scores = get_strategy("margin").select(100, pool_idx, labelled_idx, view, rng)
"""

from strategies.badge import Badge, badge_seeding
from strategies.bald import BALD, mutual_information
from strategies.base import (
    OUTPUTS,
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

#: Strategy names, in the order the app and the benchmark list them (``listed``).
NAMES = tuple(sorted(STRATEGIES, key=lambda name: STRATEGIES[name].listed))
#: Strategies that run without a model, so a project's first round can be theirs.
COLD_START = tuple(name for name in NAMES if STRATEGIES[name].cold_start)
#: Strategies that look at the unlabelled pool's features beyond scoring each item alone.
POOL_STRATEGIES = frozenset(name for name in NAMES if "features" in STRATEGIES[name].needs)

__all__ = [
    "BALD",
    "COLD_START",
    "NAMES",
    "OUTPUTS",
    "POOL_STRATEGIES",
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
