"""Simulated annotation: replay an oracle over a labelled dataset -> learning curves, AULC,
several seeds, paired against random (issue 7). The protocol is in :mod:`.engine`'s docstring.

- :mod:`.engine`: the data, the checks, one seed's split, one run (planned by
  ``annotator.loop.planning``, as the app plans rounds) and the driver over seeds and strategies;
- :mod:`.stats`: AULC, labels to reach a target, paired tests, the summary;
- :mod:`.plots`: curves for the Compare page's chart and the command line's PNG;
- :mod:`.saved`: stored runs (events of kind ``"simulation"``);
- :mod:`.cli`: ``protolabel simulate``; :mod:`.background`: the Compare page's runs.

The names below are the package's API (``from annotator import simulation``).
"""

from annotator.simulation.engine import (
    DEMOS,
    LEARNERS,
    MAX_TEST_FRACTION,
    Oracle,
    Progress,
    SeedSplit,
    SimulationConfig,
    SimulationError,
    check_config,
    check_sizes,
    featurize_all,
    initial_set,
    load_data,
    make_learner,
    prepare_seed,
    project_setting,
    round_sizes,
    run_simulation,
    simulate_run,
    strategy_spec,
)
from annotator.simulation.plots import COLOURS, curves_png, mean_curves
from annotator.simulation.saved import EVENT_KIND, list_saved, load_results, save_results
from annotator.simulation.stats import aulc, labels_to_reach, paired_p_value, summarize

__all__ = [
    "COLOURS", "DEMOS", "EVENT_KIND", "LEARNERS", "MAX_TEST_FRACTION", "Oracle", "Progress",
    "SeedSplit", "SimulationConfig", "SimulationError", "aulc", "check_config", "check_sizes",
    "curves_png", "featurize_all", "initial_set", "labels_to_reach", "list_saved",
    "load_data", "load_results", "make_learner", "mean_curves", "paired_p_value",
    "prepare_seed", "project_setting", "round_sizes", "run_simulation", "save_results",
    "simulate_run", "strategy_spec", "summarize",
]  # fmt: skip
