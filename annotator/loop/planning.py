"""How a round's items are chosen and planned.

:func:`choose_batch` is the one function behind the app's planner (the worker's rounds and a
tab's claim, through :func:`choose`) and the simulation's rounds (``simulation.simulate_run``),
so a benchmark measures the choice people get. It runs the named strategy on the pool with the
current model; without a model or a label (a new project), a strategy that needs one starts
cold with typicality (Hacohen et al. 2022), recorded as ``typicality`` (``auto:typicality`` for
``auto``). It is pure (no database, no Streamlit).

:func:`plan_round` reads a project's pool, labels and newest model (:class:`PlanInputs`),
chooses with :func:`choose_batch` and writes the choice into the shared queue: replanning the
open rounds an older model chose, filling them to their batch size, else a new round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.exc import IntegrityError

from annotator import services
from annotator.loop import training
from annotator.store import locks, queries, queue
from annotator.store.db import Store
from annotator.store.models import utcnow
from strategies import COLD_START  # strategies that need no model: run as asked at first


@dataclass(frozen=True)
class Choice:
    """What ran (``auto:margin``, say), the chosen rows in order and their scores."""

    strategy: str
    rows: np.ndarray
    scores: np.ndarray


def choose_batch(
    strategy: str,
    k: int,
    features: np.ndarray,
    pool: np.ndarray,
    labelled: np.ndarray,
    answers: np.ndarray | None,
    model,
    *,
    n_classes: int,
    rng: np.random.Generator,
    random_state: int = 0,
    params: dict | None = None,
) -> Choice:
    """Choose ``k`` of the ``pool`` rows of ``features`` with ``strategy``.

    ``labelled`` are the rows with a label and ``answers`` their labels (None: none yet);
    ``model`` the fitted classifier (None before the first one); ``n_classes`` the size of the
    label set (``auto`` switches from coverage to uncertainty by it); ``random_state`` seeds
    the model view's resamples (QBC's committee); ``params``: the strategy's keyword arguments
    beyond the defaults (the benchmarks compare settings with it; the app passes none).
    """
    from strategies import ModelView, get_strategy

    params = dict(params or {})
    name, recorded = strategy, strategy
    if not len(labelled):
        # No label yet: a cold start even when a model exists (a model from the class names,
        # issue 18). On the suite's tuning half its first round by the names' uncertainty,
        # or typicality in its untrained embedding, cost margin and auto AULC against the
        # cold start on the features (README, "Features that carry meaning").
        model = None
    if model is None and name not in COLD_START:
        name, params = _cold_start(strategy, params)
        recorded = f"auto:{name}" if strategy == "auto" else name
    defaults = {"auto": {"n_classes": n_classes}, "probcover": {"n_clusters": n_classes}}
    params = defaults.get(name, {}) | params
    view = ModelView(
        model, features, train_idx=labelled,
        y_train=answers if answers is not None and len(labelled) else None,
        random_state=random_state,
    )  # fmt: skip
    chooser = get_strategy(name, **params)
    chosen, scores = chooser.select(min(k, len(pool)), pool, labelled, view, rng)
    chosen_scores = np.asarray(scores, dtype=float)[_positions(pool, chosen)]
    inner = getattr(chooser, "strategy_", None)  # auto records what it delegated to
    used = f"{name}:{inner.name}" if inner is not None else recorded
    return Choice(used, np.asarray(chosen, dtype=np.int64), chosen_scores)


def _positions(pool: np.ndarray, chosen) -> np.ndarray:
    """Where each chosen row is in ``pool`` (vectorised: a dict over a 1M pool took 0.4 s)."""
    pool, chosen = np.asarray(pool, dtype=np.int64), np.asarray(chosen, dtype=np.int64)
    order = None if np.all(pool[1:] > pool[:-1]) else np.argsort(pool, kind="stable")
    found = np.searchsorted(pool, chosen, sorter=order)
    return found if order is None else order[found]


def _cold_start(strategy: str, params: dict) -> tuple[str, dict]:
    """The strategy and settings a round takes without a model: ``auto``'s own cold strategy
    when it needs no model, else typicality."""
    if strategy == "auto":
        from strategies import Auto

        cold = params.get("cold", Auto().cold)
        if cold in COLD_START:
            return cold, dict(params.get("cold_params") or {})
    return "typicality", {}


# --------------------------------------------------------------------------------------------
# The app's rounds: the project's pool, labels and model in, queue slots out

#: After a retrain, each tab keeps its next few reserved items (chosen by the older model):
#: the card may be showing them by the time the replan reaches it. The rest is replaced.
KEEP_AHEAD = 3


@dataclass(frozen=True)
class PlanInputs:
    """What choosing the project's next items starts from, read in one transaction."""

    features: np.ndarray  # the pool's feature matrix (memory-mapped for a large pool)
    pool: np.ndarray  # rows a round may choose: neither decided nor queued (nor leaving)
    rows: np.ndarray  # labelled rows and their final labels
    labels: np.ndarray
    project_id: int
    label_set: list[str]
    strategy: str
    batch_size: int
    model_state: bytes | None  # the newest model, None before the first
    model_version: int | None
    stale: bool  # a retrain is pending: what this model chooses is stale
    deficits: list[tuple[int, int]]  # (open round, items it lacks), oldest first
    next_round: int  # the round the choice goes to (for its seed)


def selection_inputs(store: Store, project_name: str) -> PlanInputs:
    """The pool, the labels, the newest model and the open rounds' deficits: what
    :func:`choose` needs. Items a replan will replace (``queue.replaceable``) count as free."""
    features = services.load_features(store, project_name)
    with store.read() as session:
        project = queries.get_project(session, project_name)
        rows, labels, _ = training.labelled_rows(session, project.id)
        decided = queue.decided_rows(session, project.id)
        queued = queue.queued_rows(session, project.id)
        model = queries.latest_model(session, project.id)
        pending = training.retrain_due(session, project.id, model)
        expired = utcnow() - queue.lease_ttl(store.settings)
        leaving = {
            e.item_id for e in queue.replaceable_entries(session, project.id, expired, KEEP_AHEAD)
        }
        queued = set(queued) - set(queue.rows_of_items(session, leaving))
        deficits = queue.round_deficits(session, project.id, leaving)
        last = queue.last_round_number(session, project.id)
        label_set, strategy, batch_size = list(project.labels), project.strategy, project.batch_size
        state, version = (model.state, model.version) if model else (None, None)
    taken = np.zeros(len(features), dtype=bool)
    taken[np.asarray(decided, dtype=np.int64)] = True
    taken[np.asarray(sorted(queued), dtype=np.int64)] = True
    return PlanInputs(
        features=features, pool=np.flatnonzero(~taken), rows=rows, labels=labels,
        project_id=project.id, label_set=label_set, strategy=strategy, batch_size=batch_size,
        model_state=state, model_version=version, stale=pending, deficits=deficits,
        next_round=deficits[0][0] if deficits else (last or 0) + 1,
    )  # fmt: skip


def choose(inputs: PlanInputs, size: int, seed: int) -> Choice:
    """``size`` items by the project's strategy (:func:`choose_batch`, as the simulation
    does), seeded by ``seed``, the project, the round and the model version."""
    rng = np.random.default_rng(
        [seed, inputs.project_id, inputs.next_round, inputs.model_version or 0]
    )
    model = None
    if inputs.model_state is not None:
        from meta import ProtoNetClassifier

        model = ProtoNetClassifier.from_bytes(inputs.model_state)
    return choose_batch(
        inputs.strategy, size, inputs.features, inputs.pool, inputs.rows,
        inputs.labels.astype(str) if len(inputs.rows) else None, model,
        n_classes=len(inputs.label_set), rng=rng,
    )  # fmt: skip


def plan_round(store: Store, project_name: str, *, seed: int | None = None) -> int | None:
    """``plan_unlocked`` under the project's planner lock (one planner at a time)."""
    with store.read() as session:
        pid = queries.get_project(session, project_name).id
    with locks.planner_lock(store, pid):
        return plan_unlocked(store, project_name, seed=seed)


def plan_unlocked(store: Store, project_name: str, *, seed: int | None = None) -> int | None:
    """Bring the queue up to date with the newest model and queue one batch; return its round.

    Open rounds are replanned first: what a model older than the newest chose and nobody has
    seen (``queue.replaceable``) is replaced by the newest model's choice, and every open round is
    filled up to its batch size; otherwise a new round of the project's batch size is queued.
    None when there is nothing to plan (the pool is exhausted).
    """
    seed = store.settings.seed if seed is None else seed
    inputs = selection_inputs(store, project_name)
    if len(inputs.pool) == 0:
        _shrink_rounds(store, project_name, inputs.deficits)
        return None
    wanted = sum(k for _, k in inputs.deficits) or inputs.batch_size
    choice = choose(inputs, wanted, seed)
    try:
        return _apply_plan(store, project_name, inputs, choice)
    except IntegrityError:
        return None  # another process queued the same round number meanwhile; theirs stands


def _apply_plan(store: Store, project_name: str, inputs: PlanInputs, choice: Choice) -> int | None:
    """Apply a selection in one transaction: replace the replaceable slots (those the new
    choice picked again stay, now chosen by it; the rest nobody holds are dropped, and held
    ones are *withdrawn*: they stay with their owner, out of the round, until it confirms it
    will not show them, see ``lease``), then fill the open rounds up to their batch size,
    oldest first, else queue a new round. Returns the first round filled."""
    now = utcnow()
    expired = now - queue.lease_ttl(store.settings)
    newest, strategy = inputs.model_version, choice.strategy
    chosen, scores = choice.rows, choice.scores
    with store.write() as session:
        project = queries.get_project(session, project_name)
        row_to_item = queue.item_ids_at_rows(session, project.id, chosen.tolist())
        picks = [(row_to_item[int(r)], s) for r, s in zip(chosen, scores, strict=True)]
        again = dict(picks)
        replaced: set[int] = set()
        if newest is not None:
            for entry in queue.replaceable_entries(session, project.id, expired, KEEP_AHEAD):
                if entry.item_id in again:  # the new model wants it too: it stays
                    score = again[entry.item_id]
                    entry.model_version, entry.strategy = newest, strategy
                    entry.score = None if np.isnan(score) else float(score)
                elif entry.owner is None or entry.claimed_at < expired:
                    session.delete(entry)
                else:
                    entry.withdrawn_at = now
                replaced.add(entry.round)
            session.flush()
        busy = queue.busy_items(session, project.id, list(again))
        picks = [(item, score) for item, score in picks if item not in busy]
        targets = queue.round_deficits(session, project.id)
        if not targets and not replaced:
            targets = [(None, project.batch_size)]
        first = None
        for number, count in targets:
            batch, picks = picks[:count], picks[count:]
            if not batch:
                break
            rnd = queue.target_round(session, project, number, newest, strategy, len(batch))
            first = first if first is not None else rnd.number
            queue.add_slots(session, project, rnd, batch, strategy, newest, inputs.stale)
            queries.log_event(
                session, project.id, "round_planned" if number is None else "round_refilled",
                round=rnd.number, strategy=strategy, model_version=newest, size=len(batch),
                stale=inputs.stale,
            )  # fmt: skip
        for number in sorted(replaced):
            queue.mark_round_chosen(session, project.id, number, newest, strategy)
            queue.complete_round_if_done(session, project.id, number)
        return first if first is not None else (min(replaced) if replaced else None)


def _shrink_rounds(store: Store, project_name: str, deficits: list[tuple[int, int]]) -> None:
    """The pool is exhausted: open rounds keep the items they have."""
    if not deficits:
        return
    with store.write() as session:
        project = queries.get_project(session, project_name)
        for number, missing in deficits:
            queue.shrink_round(session, project.id, number, missing)
            queue.complete_round_if_done(session, project.id, number)
