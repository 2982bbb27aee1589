"""The summary of a simulation: area under the learning curve (AULC), labels to reach a
target, paired tests against random (``scipy.stats``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# Summary


def aulc(accuracy: Sequence[float]) -> float:
    """Area under the learning curve: the mean accuracy over all points of the curve."""
    return float(np.mean(accuracy))


def labels_to_reach(labels: Sequence[int], accuracy: Sequence[float], target: float) -> int | None:
    """The first label count whose accuracy is at least ``target``; None if none is."""
    for count, value in zip(labels, accuracy, strict=True):
        if value >= target - 1e-12:
            return int(count)
    return None


def paired_p_value(values: Sequence[float], baseline: Sequence[float]) -> float | None:
    """Two-sided paired t-test (``scipy.stats.ttest_rel``); None for fewer than 2 pairs or when
    every difference is the same (the statistic is undefined)."""
    from scipy.stats import ttest_rel

    if len(values) < 2:
        return None
    p = ttest_rel(values, baseline).pvalue
    return None if not np.isfinite(p) else float(p)


def summarize(runs: list[dict[str, Any]], strategies: Sequence[str]) -> dict[str, dict]:
    """Per strategy (keys exactly ``strategies``, in that order):

    - ``aulc_mean``, ``aulc_std``: mean and std (ddof=1; 0.0 for one seed) over seeds of AULC;
    - ``final_accuracy_mean``: mean over seeds of the accuracy at the budget;
    - ``label_savings``: labels needed to reach random's final accuracy, i.e. the first label
      count at which the strategy's mean curve (accuracy averaged over seeds at each count)
      reaches the mean over seeds of random's accuracy at the budget; None if it never does or
      random was not simulated. Random itself needs the whole budget; ``budget - label_savings``
      labels are saved. (The mean curve is used, not each seed's curve, because about half of
      random's own seeds end below its mean and would never "reach" it.)
    - ``p_vs_random``: p of the paired t-test of AULC over seeds against random (None for random
      itself, without random, or with fewer than 2 seeds); ``n``: the number of seeds paired.
    """
    by_strategy = {s: sorted((r for r in runs if r["strategy"] == s), key=lambda r: r["seed"])
                   for s in strategies}  # fmt: skip
    reference = by_strategy.get("random")
    target = float(np.mean([r["accuracy"][-1] for r in reference])) if reference else None
    summary = {}
    for name, group in by_strategy.items():
        scores = [aulc(r["accuracy"]) for r in group]
        mean_curve = np.mean([r["accuracy"] for r in group], axis=0)
        paired = reference is not None and name != "random"
        summary[name] = {
            "aulc_mean": float(np.mean(scores)),
            "aulc_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
            "final_accuracy_mean": float(np.mean([r["accuracy"][-1] for r in group])),
            "label_savings": (
                labels_to_reach(group[0]["labels"], mean_curve, target) if reference else None
            ),
            "p_vs_random": (
                paired_p_value(scores, [aulc(r["accuracy"]) for r in reference]) if paired else None
            ),
            "n": len(group),
        }
    return summary
