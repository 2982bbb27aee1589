"""The labelling loop: queue, claim, submit, skip, undo, round end, next batch. Its SQL is in
``annotator.store.queue``; the retrain after a round in ``annotator.loop.training``.

A *round* is a batch of ``project.batch_size`` items chosen with the project's strategy; its
items wait in the ``queue`` table until decided. Each browser tab (or annotator process) is a
*queue owner* that reserves a few items ahead (``LOOKAHEAD``), so two tabs never see the same
item and fast typing always has the next item at hand. When the last item of a round is
decided the round is complete, and the background worker (``annotator.loop.worker``) retrains the
learner once and plans with the new model. Labelling never waits for that: the worker keeps
the next round planned ahead, by the newest model there is, and its items are *stale* while a
newer model exists or is being trained (``Annotation.stale``, ``Round.stale``).

After a retrain, ``plan_round`` replans the open rounds that an older model chose: items
nobody reserved are replaced, and items reserved but never on screen are *withdrawn* from their
owner, who confirms it will not show them (``lease(release=...)``) before they go back to the
pool. An item that was on screen (``lease(shown=...)``) is never replaced, and the round is
refilled to its batch size, so every round has the batch size unless the pool runs out.

Teams: an item is labelled by ``project.overlap`` different annotators (default 1). Each
pending decision is a queue *slot* leased to one annotator at a time; a lease not renewed
within the lease TTL (``Settings.lease_ttl_seconds``, 10 minutes) returns the slot to the pool.
So an item is never served to more annotators at once than the overlap allows, and never twice
to the same annotator. A decision is never refused for a lost lease: it uses the holder's slot,
else a free one, else it is kept as an extra decision beyond the overlap.

Every decision is committed with the round, strategy, score and model version of its
selection. A decision carries the id of the item it was shown for and the browser's id for the
key press (``client_event``), so a replayed press is not a second label.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from annotator import services, teams, zero_shot
from annotator.errors import LabelError, NotServedError, ProtolabelError
from annotator.loop import planning, training
from annotator.store import locks, queries, queue
from annotator.store.db import Store
from annotator.store.models import (
    Annotation,
    Item,
    Project,
    QueueEntry,
    utcnow,
)
from strategies import NAMES

#: The default lease TTL: a tab idle for longer loses its reserved items to the shared queue
#: (``Settings.lease_ttl_seconds`` sets it).
CLAIM_TTL = timedelta(minutes=10)
#: The most annotators that may label one item.
MAX_OVERLAP = 20
#: Items a tab reserves, the one on screen included: the card draws the next item from them
#: without a round trip (ten presses 50 ms apart fit in the time a server round takes).
LOOKAHEAD = 20
#: A tab chooses batches itself only below this many reserved items (the worker is behind).
LOW_WATER = 10
HISTORY_LIMIT = 20
#: The strategies a project can use, the default (auto) first.
STRATEGY_NAMES = ("auto", *(name for name in NAMES if name != "auto"))


@dataclass(frozen=True)
class QueuedItem:
    """An item as the Label page shows it (never with its hidden ground truth)."""

    item_id: int
    external_id: str
    row: int
    text: str | None
    image: bytes | None
    features: np.ndarray | None
    round: int
    strategy: str
    score: float | None
    model_version: int | None
    stale: bool


@dataclass(frozen=True)
class SubmitResult:
    annotation_id: int
    round_completed: bool
    replayed: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    annotation_id: int
    item_id: int
    external_id: str
    label: str | None
    annotator: str
    created_at: Any
    round: int | None


@dataclass(frozen=True)
class Progress:
    items: int
    labelled: int
    skipped: int
    round: int | None
    round_done: int
    round_size: int
    model_version: int | None
    retrain_pending: bool

    @property
    def remaining(self) -> int:
        return self.items - self.labelled - self.skipped


# --------------------------------------------------------------------------------------------
# Projects and settings


def most_recent_project(store: Store) -> str | None:
    """The project labelled in most recently (else the oldest one), or None."""
    with store.read() as session:
        return queries.most_recent_project_name(session)


@dataclass(frozen=True)
class ProjectSettings:
    """What the Label page shows of a project and lets its owner change (see :func:`configure`)."""

    strategy: str
    batch_size: int
    overlap: int
    semi_supervised: bool
    zero_shot: bool
    zero_shot_applies: bool  # text with a label set that has meaning (annotator.zero_shot)
    labels: list[str]
    feature_names: list[str] | None
    instructions: str


def project_settings(store: Store, project_name: str) -> ProjectSettings:
    with store.read() as session:
        p = queries.get_project(session, project_name)
        return ProjectSettings(
            strategy=p.strategy, batch_size=p.batch_size, overlap=p.overlap,
            semi_supervised=p.semi_supervised, zero_shot=p.zero_shot,
            zero_shot_applies=zero_shot.applies(p.data_kind, list(p.labels)),
            labels=list(p.labels), feature_names=p.source_info.get("feature_names") or None,
            instructions=p.instructions or "",
        )  # fmt: skip


def project_id(store: Store, project_name: str) -> int:
    with store.read() as session:
        return queries.get_project(session, project_name).id


def configure(
    store: Store,
    project_name: str,
    *,
    strategy: str | None = None,
    batch_size: int | None = None,
    overlap: int | None = None,
    semi_supervised: bool | None = None,
    zero_shot: bool | None = None,
    user: str | None = None,
    authenticated: bool = False,
) -> None:
    """Set the strategy, batch size and overlap of the project's next rounds, whether its
    retrains refine the prototypes with unlabelled items, and whether the prototypes start
    from the class descriptions (None: unchanged).

    Items already queued keep the overlap they were planned with. An authenticated ``user``
    must be an owner of the project (``annotator.teams``).
    """
    if strategy is not None and strategy not in STRATEGY_NAMES:
        raise ProtolabelError(f"unknown strategy {strategy!r} (choose {', '.join(STRATEGY_NAMES)})")
    if batch_size is not None and not 1 <= int(batch_size) <= 1000:
        raise ProtolabelError(f"batch size must be between 1 and 1000, got {batch_size}")
    if overlap is not None and not 1 <= int(overlap) <= MAX_OVERLAP:
        raise ProtolabelError(f"overlap must be between 1 and {MAX_OVERLAP}, got {overlap}")
    with store.write() as session:
        project = queries.get_project(session, project_name)
        new = (
            strategy if strategy is not None else project.strategy,
            int(batch_size) if batch_size is not None else project.batch_size,
            int(overlap) if overlap is not None else project.overlap,
            bool(semi_supervised) if semi_supervised is not None else project.semi_supervised,
            bool(zero_shot) if zero_shot is not None else project.zero_shot,
        )
        old = (
            project.strategy, project.batch_size, project.overlap, project.semi_supervised,
            project.zero_shot,
        )  # fmt: skip
        if old == new:
            return
        teams.check_owner(
            session, project, user, authenticated=authenticated,
            login_required=store.settings.login_required,
        )  # fmt: skip
        (
            project.strategy, project.batch_size, project.overlap, project.semi_supervised,
            project.zero_shot,
        ) = new  # fmt: skip
        queries.log_event(
            session, project.id, "settings", strategy=new[0], batch_size=new[1], overlap=new[2],
            semi_supervised=new[3], zero_shot=new[4], user=user,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The queue


@dataclass(frozen=True)
class Lease:
    """An owner's reserved items (``items``, the one on screen first) and the items a retrain
    withdrew from it that it has not yet confirmed it will not show (``withdrawn``)."""

    items: list[QueuedItem]
    withdrawn: frozenset[int]


def claim_next(
    store: Store,
    project_name: str,
    owner: str,
    *,
    n: int = LOOKAHEAD,
    plan: bool = True,
    annotator: str | None = None,
    authenticated: bool = False,
) -> list[QueuedItem]:
    """The owner's next ``n`` items, for a caller that shows only what this returns (the
    command line, stress annotators): items a retrain withdrew are given up at once."""
    return lease(
        store, project_name, owner, n=n, plan=plan, annotator=annotator,
        authenticated=authenticated,
    ).items  # fmt: skip


def lease(
    store: Store,
    project_name: str,
    owner: str,
    *,
    n: int = LOOKAHEAD,
    plan: bool = True,
    annotator: str | None = None,
    shown: int | None = None,
    release: Collection[int] | None = None,
    low_water: int = LOW_WATER,
    authenticated: bool = False,
) -> Lease:
    """Renew the owner's leases and reserve more, up to ``n`` items.

    ``owner`` is the queue (a browser tab, an annotator process) and ``annotator`` the person
    (default: the owner). ``shown`` is the item on the owner's screen: it is marked shown,
    kept even if a retrain withdrew it meanwhile, and listed first. ``release`` are withdrawn
    items the owner will never show (None: all of them but ``shown``); they go back to the pool.

    The worker keeps the shared queue stocked. Only when the owner holds fewer than
    ``low_water`` items with nothing left to claim (and ``plan`` is true) are batches chosen
    here, right away, with the newest model: the caller never waits for training.

    Where a login is required, the annotator must be ``authenticated`` and a member.
    """
    annotator = annotator or owner
    if store.settings.login_required:
        with store.read() as session:
            project = queries.get_project(session, project_name)
            _check_labeller(store, session, project, annotator, authenticated)
    entries = _claim(store, project_name, owner, annotator, n, shown, release)
    if plan and _live_count(entries) < min(n, low_water):
        with locks.planner_lock(store, project_id(store, project_name)):
            entries = _claim(store, project_name, owner, annotator, n, shown, ())
            for _attempt in range(n):  # each planned round adds at least one item
                if _live_count(entries) >= n or planning.plan_unlocked(store, project_name) is None:
                    break
                entries = _claim(store, project_name, owner, annotator, n, shown, ())
    live = [e for e in entries if e.withdrawn_at is None]
    live.sort(key=lambda e: (e.item_id != shown, e.round, e.position, e.slot))
    withdrawn = frozenset(e.item_id for e in entries if e.withdrawn_at is not None)
    return Lease(_load_items(store, live), withdrawn)


def _live_count(entries: list[QueueEntry]) -> int:
    return sum(e.withdrawn_at is None for e in entries)


def _claim(
    store: Store,
    project_name: str,
    owner: str,
    annotator: str,
    n: int,
    shown: int | None,
    release: Collection[int] | None,
) -> list[QueueEntry]:
    """One transaction of ``lease``: returns the owner's entries, withdrawn ones included.

    Row locks (``FOR UPDATE SKIP LOCKED``) keep concurrent claimers off each other's rows on
    PostgreSQL; SQLite serialises writers (BEGIN IMMEDIATE).
    """
    now = utcnow()
    expired = now - queue.lease_ttl(store.settings)
    with store.write() as session:
        project = queries.get_project(session, project_name)
        queue.lock_annotator(session, project.id, annotator)
        touched = queue.drop_abandoned_withdrawals(session, project.id, expired)
        held = queue.owned(session, project.id, owner)
        mine = [e for e in held if e.annotator == annotator]
        for entry in held:  # the tab changed its annotator: the old name's items go back
            if entry.annotator != annotator:
                touched.add(entry.round)
                queue.give_back(session, entry)
        for entry in mine:
            entry.claimed_at = now
            if entry.item_id == shown:
                if entry.withdrawn_at is not None:
                    queue.restore_withdrawn(session, project.id, entry, expired)
                entry.shown_at = entry.shown_at or now
        for entry in [e for e in mine if e.withdrawn_at is not None and e.item_id != shown]:
            if release is None or entry.item_id in release:
                touched.add(entry.round)
                session.delete(entry)
                mine.remove(entry)
        session.flush()
        for number in sorted(touched):
            queue.complete_round_if_done(session, project.id, number)
        if _live_count(mine) < n:
            want = n - _live_count(mine)
            mine += queue.lease_free(session, project, owner, annotator, want, now, expired)
        return mine


def _load_items(store: Store, entries: list[QueueEntry]) -> list[QueuedItem]:
    if not entries:
        return []
    with store.read() as session:
        project = session.get(Project, entries[0].project_id)
        found = queries.items_of(session, project.id, [e.item_id for e in entries])
        items = {it.id: it for it in found}
        values = services.feature_values_by_id(store, session, project, items.values())
    out = []
    for e in entries:
        it = items.get(e.item_id)
        if it is None:
            continue
        out.append(
            QueuedItem(
                item_id=it.id,
                external_id=it.external_id,
                row=it.row,
                text=it.text,
                image=it.image,
                features=values.get(it.id),
                round=e.round,
                strategy=e.strategy,
                score=e.score,
                model_version=e.model_version,
                stale=e.stale,
            )
        )
    return out


def nothing_left_for(store: Store, project_name: str, annotator: str) -> bool:
    """True when the annotator can get no more work: every item is queued or decided, and no
    queued slot is free for them (each is leased to someone else, or on an item they hold or
    decided). An empty ``claim_next`` can also mean another process is planning a batch."""
    expired = utcnow() - queue.lease_ttl(store.settings)
    with store.read() as session:
        project = queries.get_project(session, project_name)
        if queue.unqueued_undecided_count(session, project.id):
            return False
        return not queue.free_slot_count(session, project.id, expired, annotator=annotator)


def release(store: Store, project_name: str, owner: str) -> int:
    """Return the owner's reserved items to the shared queue (a tab closed or left)."""
    with store.write() as session:
        project = queries.get_project(session, project_name)
        held = queue.owned(session, project.id, owner)
        for entry in held:
            queue.give_back(session, entry)
        session.flush()
        for number in sorted({e.round for e in held}):
            queue.complete_round_if_done(session, project.id, number)
        return len(held)


# --------------------------------------------------------------------------------------------
# Decisions


def submit(
    store: Store,
    project_name: str,
    item_id: int,
    label: str | None,
    *,
    annotator: str,
    owner: str | None = None,
    client_event: str | None = None,
    authenticated: bool = False,
) -> SubmitResult:
    """Record a label (``None`` = skip) for the item it was shown for, and commit it.

    The selection context (round, strategy, score, model version) comes from the item's queue
    entry, which is removed; a round whose last entry goes is complete. Replaying a
    ``client_event`` already recorded returns the first result and writes nothing. Where a
    login is required, the annotator must be ``authenticated`` and a member.
    """
    annotator = _check_annotator(annotator)
    who = teams.Identity(annotator, authenticated)
    try:
        return _submit(store, project_name, item_id, label, who, owner, client_event)
    except IntegrityError:
        if client_event is None:
            raise
        existing = annotation_for_event(store, project_name, client_event)
        if existing is None:
            raise
        return SubmitResult(existing, round_completed=False, replayed=True)


def _submit(store, project_name, item_id, label, who, owner, client_event) -> SubmitResult:
    annotator = who.name
    with store.write() as session:
        project = queries.get_project(session, project_name)
        _check_labeller(store, session, project, annotator, who.authenticated)
        if client_event is not None:
            seen = queue.annotation_for_event(session, project.id, client_event)
            if seen is not None:
                return SubmitResult(seen, round_completed=False, replayed=True)
        _check_label(project, label)
        item = session.get(Item, item_id)
        if item is None or item.project_id != project.id:
            raise ProtolabelError(f"project {project_name!r} has no item {item_id}")
        expired = utcnow() - queue.lease_ttl(store.settings)
        entry = queue.slot_for_decision(session, project.id, item_id, annotator, owner, expired)
        if entry is None and not queries.was_served(session, project.id, item_id, annotator):
            raise NotServedError(
                f"item {item.external_id!r} of project {project_name!r} was never given to "
                f"{annotator!r}: a decision is accepted only for an item served to its annotator"
            )
        if entry is None:  # an extra decision: keep the selection context if there is one
            context = queue.any_slot(session, project.id, item_id)
        else:
            context = entry
            if entry.withdrawn_at is not None:  # decided while a retrain withdrew it
                queue.restore_withdrawn(session, project.id, entry, expired)
        chosen_by = context.model_version if context else None
        stale = context is not None and _chosen_by_older_model(session, project.id, chosen_by)
        annotation = Annotation(
            project_id=project.id,
            item_id=item_id,
            label=label,
            annotator=annotator,
            client_event=client_event,
            round=context.round if context else None,
            strategy=context.strategy if context else None,
            score=context.score if context else None,
            model_version=chosen_by,
            stale=stale,
        )
        session.add(annotation)
        completed = False
        if entry is not None:
            session.delete(entry)
            session.flush()
            completed = queue.complete_round_if_done(session, project.id, entry.round)
        else:
            session.flush()
        project.last_used_at = utcnow()
        queries.log_event(
            session, project.id, "skip" if label is None else "label",
            item=item.external_id, label=label, annotator=annotator, annotation=annotation.id,
        )  # fmt: skip
        return SubmitResult(annotation.id, round_completed=completed)


def _check_labeller(
    store: Store, session: Session, project: Project, annotator: str, authenticated: bool
) -> None:
    who = teams.Identity(annotator, authenticated)
    teams.require(store, session, project, who, "annotator", "label")


def _check_annotator(annotator: str) -> str:
    annotator = (annotator or "").strip()
    if not annotator:
        raise ProtolabelError("annotator name is empty: type your name first")
    if len(annotator) > 200:
        raise ProtolabelError("annotator name is longer than 200 characters")
    return annotator


def _check_label(project: Project, label: str | None) -> None:
    if label is not None and label not in project.labels:
        raise LabelError(
            f"label {label!r} is not in project {project.name!r}'s label set "
            f"({', '.join(project.labels)})"
        )


def _chosen_by_older_model(session: Session, project_id: int, chosen_by: int | None) -> bool:
    """Whether an item chosen by model ``chosen_by`` (None: cold start) is stale now: a newer
    model exists, or one is being trained on a round completed since."""
    newest = queries.newest_model_info(session, project_id)
    if newest is not None and (chosen_by or 0) < newest.version:
        return True
    return training.retrain_due(session, project_id, newest)


def undo(
    store: Store,
    project_name: str,
    annotation_id: int,
    *,
    annotator: str,
    owner: str | None = None,
    authenticated: bool = False,
) -> int:
    """Withdraw a decision and put its item back at the head of the owner's queue.

    Works across a retrain: the label is withdrawn now and the model catches up next round.
    An authenticated annotator may undo only their own decisions (``annotator.teams``).
    Returns the item id.
    """
    annotator = _check_annotator(annotator)
    with store.write() as session:
        project = queries.get_project(session, project_name)
        ann = session.get(Annotation, annotation_id)
        if ann is None or ann.project_id != project.id:
            raise ProtolabelError(f"project {project_name!r} has no decision {annotation_id}")
        teams.check_may_change(
            session, project, annotator, ann.annotator, authenticated=authenticated,
            login_required=store.settings.login_required,
        )  # fmt: skip
        if ann.undone_at is None:
            ann.undone_at = utcnow()
            queries.log_event(
                session, project.id, "undo", annotation=annotation_id, annotator=annotator
            )
        queue.requeue_first(session, project, ann, owner, annotator)
        return ann.item_id


def relabel(
    store: Store,
    project_name: str,
    annotation_id: int,
    label: str | None,
    *,
    annotator: str,
    authenticated: bool = False,
) -> int:
    """Change a past decision (the editable history): withdraw it and record the new one.

    An authenticated annotator may change only their own decisions (``annotator.teams``).
    """
    annotator = _check_annotator(annotator)
    with store.write() as session:
        project = queries.get_project(session, project_name)
        _check_label(project, label)
        old = session.get(Annotation, annotation_id)
        if old is None or old.project_id != project.id:
            raise ProtolabelError(f"project {project_name!r} has no decision {annotation_id}")
        teams.check_may_change(
            session, project, annotator, old.annotator, authenticated=authenticated,
            login_required=store.settings.login_required,
        )  # fmt: skip
        old.undone_at = old.undone_at or utcnow()
        new = Annotation(
            project_id=project.id, item_id=old.item_id, label=label, annotator=annotator,
            round=old.round, strategy=old.strategy, score=old.score,
            model_version=old.model_version, stale=old.stale,
        )  # fmt: skip
        session.add(new)
        session.flush()
        queries.log_event(
            session, project.id, "relabel", annotation=annotation_id, new=new.id, label=label,
            annotator=annotator,
        )  # fmt: skip
        return new.id


def history(
    store: Store,
    project_name: str,
    *,
    annotator: str | None = None,
    limit: int = HISTORY_LIMIT,
    who: teams.Identity | None = None,
) -> list[HistoryEntry]:
    """The newest decisions still in force, newest first (``annotator``'s only, if given).

    Where a login is required, ``who`` must be a member, and an annotator sees only their own
    decisions (others' labels on shared items would bias their own); reviewers see all.
    """
    with store.read() as session:
        project = queries.get_project(session, project_name)
        if store.settings.login_required:
            teams.require(store, session, project, who, "annotator", "see the decisions")
            if not teams.may(store, session, project, who, "reviewer"):
                annotator = who.name
        return [
            HistoryEntry(a.id, a.item_id, ext, a.label, a.annotator, a.created_at, a.round)
            for a, ext in queue.decisions(session, project.id, annotator, limit)
        ]


# --------------------------------------------------------------------------------------------
# Rounds, models and selection


def progress(store: Store, project_name: str) -> Progress:
    with store.read() as session:
        project = queries.get_project(session, project_name)
        counts = queries.project_counts(session, project.id)
        current = queue.open_round(session, project.id)
        left = (
            0 if current is None else queue.items_left_in_round(session, project.id, current.number)
        )
        model = queries.latest_model(session, project.id)
        pending = training.retrain_due(session, project.id, model)
        return Progress(
            items=counts.items,
            labelled=counts.labelled,
            skipped=counts.skipped,
            round=current.number if current else None,
            round_done=(current.batch_size - left) if current else 0,
            round_size=current.batch_size if current else 0,
            model_version=model.version if model else None,
            retrain_pending=pending,
        )


def needs_planning(store: Store, project_name: str) -> bool:
    """Whether the worker should plan: an open round holds items an older model chose that
    nobody has seen, or fewer items than its batch size, or fewer free slots wait in the
    shared queue than one tab reserves or one batch holds."""
    expired = utcnow() - queue.lease_ttl(store.settings)
    with store.read() as session:
        project = queries.get_project(session, project_name)
        if queue.replaceable_entries(session, project.id, expired, planning.KEEP_AHEAD):
            return True
        if queue.round_deficits(session, project.id):
            return True
        free = queue.free_slot_count(session, project.id, expired)
        return free < max(LOOKAHEAD, project.batch_size)


def annotation_for_event(store: Store, project_name: str, client_event: str) -> int | None:
    """The annotation recorded for a key press, if it reached the database."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        return queue.annotation_for_event(session, project.id, client_event)
