"""The labelling loop: people label what the queue serves, rounds complete, the learner
retrains, the next items are planned. ``from annotator import loop`` gives its API (below);
the modules:

- :mod:`.queue`: project settings, the shared queue and its leases, decisions (submit, undo,
  relabel), history and progress;
- :mod:`.planning`: how a round's items are chosen (``choose_batch``, also the simulation's)
  and planned into the queue (``plan_round``);
- :mod:`.training`: the retrain after a round (``annotator.loop.training``);
- :mod:`.worker`: the background process per project that retrains and plans;
- :mod:`.card`: the Label page's card (its events in, the items it shows out).

Its SQL is in ``annotator.store.queue``.
"""

from annotator.loop.planning import (
    KEEP_AHEAD,
    Choice,
    PlanInputs,
    choose,
    choose_batch,
    plan_round,
    selection_inputs,
)
from annotator.loop.queue import (
    CLAIM_TTL,
    HISTORY_LIMIT,
    LOOKAHEAD,
    LOW_WATER,
    MAX_OVERLAP,
    STRATEGY_NAMES,
    HistoryEntry,
    Lease,
    Progress,
    ProjectSettings,
    QueuedItem,
    SubmitResult,
    annotation_for_event,
    claim_next,
    configure,
    history,
    lease,
    most_recent_project,
    needs_planning,
    nothing_left_for,
    progress,
    project_id,
    project_settings,
    relabel,
    release,
    submit,
    undo,
)

__all__ = [
    "CLAIM_TTL", "HISTORY_LIMIT", "KEEP_AHEAD", "LOOKAHEAD", "LOW_WATER", "MAX_OVERLAP",
    "STRATEGY_NAMES", "Choice", "HistoryEntry", "Lease", "PlanInputs", "Progress",
    "ProjectSettings", "QueuedItem", "SubmitResult", "annotation_for_event", "choose",
    "choose_batch", "claim_next", "configure", "history", "lease", "most_recent_project",
    "needs_planning", "nothing_left_for", "plan_round", "progress",
    "project_id", "project_settings", "relabel", "release", "selection_inputs", "submit",
    "undo",
]  # fmt: skip
