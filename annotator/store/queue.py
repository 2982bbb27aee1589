"""The labelling loop's SQL (``annotator.loop`` holds its rules and transactions): queue
slots, their leases and withdrawals, rounds and their completion. Each function takes an open
session and never commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Select, func, select, text, union, update
from sqlalchemy.orm import Session

from annotator.store import queries
from annotator.store.models import Annotation, Item, Project, QueueEntry, Round, utcnow

# --------------------------------------------------------------------------------------------
# Slots and leases


def lease_ttl(settings) -> timedelta:
    """How long a lease lasts without renewal (``Settings.lease_ttl_seconds``)."""
    return timedelta(seconds=settings.lease_ttl_seconds)


def lock_annotator(session: Session, project_id: int, annotator: str) -> None:
    """Serialise one annotator's claims (two tabs of one person) on PostgreSQL, so they never
    lease two slots of one item; SQLite already runs one writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:p, hashtext(:a))"),
            {"p": project_id, "a": annotator},
        )


def owned(session: Session, project_id: int, owner: str) -> list[QueueEntry]:
    return list(
        session.scalars(
            select(QueueEntry)
            .where(QueueEntry.project_id == project_id, QueueEntry.owner == owner)
            .order_by(QueueEntry.round, QueueEntry.position, QueueEntry.slot)
        )
    )


def free_slot(expired: datetime):
    """Condition: nobody holds the slot, or its lease has expired."""
    return QueueEntry.owner.is_(None) | (QueueEntry.claimed_at < expired)


def lease_free(
    session: Session,
    project: Project,
    owner: str,
    annotator: str,
    want: int,
    now: datetime,
    expired: datetime,
) -> list[QueueEntry]:
    """Lease up to ``want`` free slots, one per item, the oldest rounds first, skipping items
    the annotator holds or has decided and slots a retrain withdrew."""
    held = select(QueueEntry.item_id).where(
        QueueEntry.project_id == project.id,
        QueueEntry.annotator == annotator,
        QueueEntry.claimed_at >= expired,
    )
    decided = select(Annotation.item_id).where(
        Annotation.project_id == project.id,
        Annotation.annotator == annotator,
        Annotation.undone_at.is_(None),
    )
    free = session.scalars(
        select(QueueEntry)
        .where(QueueEntry.project_id == project.id, QueueEntry.withdrawn_at.is_(None))
        .where(free_slot(expired))
        .where(QueueEntry.item_id.not_in(held), QueueEntry.item_id.not_in(decided))
        .order_by(QueueEntry.round, QueueEntry.position, QueueEntry.slot)
        .limit(want * max(project.overlap, 1))
        .with_for_update(skip_locked=True)
    ).all()
    taken: set[int] = set()
    out = []
    for entry in free:
        if len(out) >= want:
            break
        if entry.item_id in taken:
            continue  # one slot per item and annotator
        taken.add(entry.item_id)
        entry.owner, entry.annotator, entry.claimed_at = owner, annotator, now
        out.append(entry)
    queries.record_served(session, project.id, annotator, [(e.item_id, e.round) for e in out])
    return out


def drop_abandoned_withdrawals(session: Session, project_id: int, expired: datetime) -> set[int]:
    """Withdrawn entries whose owner stopped renewing its lease are given up (their tab is
    gone, it will show nothing); returns their rounds."""
    gone = session.scalars(
        select(QueueEntry).where(
            QueueEntry.project_id == project_id,
            QueueEntry.withdrawn_at.is_not(None),
            QueueEntry.claimed_at < expired,
        )
    ).all()
    for entry in gone:
        session.delete(entry)
    return {e.round for e in gone}


def give_back(session: Session, entry: QueueEntry) -> None:
    """Return a slot to the shared queue (a withdrawn one is given up instead)."""
    if entry.withdrawn_at is not None:
        session.delete(entry)
    else:
        entry.owner, entry.annotator, entry.claimed_at = None, None, None


def restore_withdrawn(
    session: Session, project_id: int, entry: QueueEntry, expired: datetime
) -> None:
    """The owner showed (or decided) an item a replan had withdrawn: the withdrawal crossed
    its key press. The item stays, taking the place of another item nobody has seen, in its
    round if one is left there, else in the next open round; so rounds keep their size. Only
    when every item of every open round has been seen does its round grow by one."""
    entry.withdrawn_at = None
    open_rounds = select(Round.number).where(
        Round.project_id == project_id, Round.completed_at.is_(None)
    )
    spare = session.scalar(
        select(QueueEntry)
        .where(
            QueueEntry.project_id == project_id,
            QueueEntry.round.in_(open_rounds),
            QueueEntry.round >= entry.round,
            QueueEntry.id != entry.id,
            QueueEntry.withdrawn_at.is_(None),
            QueueEntry.shown_at.is_(None),
            QueueEntry.slot == entry.slot,
        )
        .order_by(QueueEntry.round, free_slot(expired).desc(), QueueEntry.position.desc())
        .limit(1)
    )
    if spare is None:
        session.execute(
            update(Round)
            .where(Round.project_id == project_id, Round.number == entry.round)
            .values(batch_size=Round.batch_size + 1, completed_at=None)
        )
        return
    entry.round, entry.position = spare.round, spare.position
    if spare.owner is None or spare.claimed_at < expired:
        session.delete(spare)
    else:
        spare.withdrawn_at = utcnow()


def slot_for_decision(
    session: Session,
    project_id: int,
    item_id: int,
    annotator: str,
    owner: str | None,
    expired: datetime,
) -> QueueEntry | None:
    """The queue slot a decision uses up, locked: the one the owner (else the annotator) holds,
    else a free one unless the annotator decided the item already; None for an extra decision
    (the lease expired and another annotator holds the item's last slot, or it is decided)."""
    base = select(QueueEntry).where(
        QueueEntry.project_id == project_id, QueueEntry.item_id == item_id
    )
    holder = QueueEntry.annotator == annotator
    if owner is not None:
        holder = holder | (QueueEntry.owner == owner)
    entry = session.scalar(base.where(holder).order_by(QueueEntry.slot).limit(1).with_for_update())
    if entry is not None:
        return entry
    decided = session.scalar(
        select(Annotation.id)
        .where(
            Annotation.project_id == project_id,
            Annotation.item_id == item_id,
            Annotation.annotator == annotator,
            Annotation.undone_at.is_(None),
        )
        .limit(1)
    )
    if decided is not None:
        return None
    return session.scalar(
        base.where(free_slot(expired), QueueEntry.withdrawn_at.is_(None))
        .order_by(QueueEntry.slot)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def complete_round_if_done(session: Session, project_id: int, number: int) -> bool:
    """Mark the round complete when none of its slots is left (withdrawn ones do not count)
    and its batch is full; a round short of items waits for the planner to refill it."""
    left = session.scalar(
        select(func.count()).where(
            QueueEntry.project_id == project_id,
            QueueEntry.round == number,
            QueueEntry.withdrawn_at.is_(None),
        )
    )
    if left:
        return False
    rnd = session.scalar(
        select(Round).where(Round.project_id == project_id, Round.number == number)
    )
    if rnd is None or rnd.completed_at is not None:
        return False
    decided = session.scalar(
        select(func.count(func.distinct(Annotation.item_id))).where(
            Annotation.project_id == project_id,
            Annotation.round == number,
            Annotation.undone_at.is_(None),
        )
    )
    if not decided:  # every item was withdrawn and none could replace them: nothing to learn
        session.delete(rnd)
        return False
    if decided < rnd.batch_size:  # items were withdrawn: the planner refills the round first
        return False
    rnd.completed_at = utcnow()
    queries.log_event(session, project_id, "round_completed", round=number)
    return True


def requeue_first(
    session: Session, project: Project, ann: Annotation, owner: str | None, annotator: str
) -> None:
    """Give the item a slot again, held by the owner, if it now has fewer decisions by
    different annotators plus queued slots than the project's overlap."""
    project_id = project.id
    decided_by = session.scalar(
        select(func.count(func.distinct(Annotation.annotator))).where(
            Annotation.project_id == project_id,
            Annotation.item_id == ann.item_id,
            Annotation.undone_at.is_(None),
        )
    )
    slots = session.scalars(
        select(QueueEntry.slot).where(
            QueueEntry.project_id == project_id, QueueEntry.item_id == ann.item_id
        )
    ).all()
    if decided_by + len(slots) >= max(project.overlap, 1):
        return
    first = session.scalar(
        select(func.min(QueueEntry.position)).where(QueueEntry.project_id == project_id)
    )
    session.add(
        QueueEntry(
            project_id=project_id,
            item_id=ann.item_id,
            round=min(ann.round or 0, min_queued_round(session, project_id)),
            position=(first if first is not None else 0) - 1,
            strategy=ann.strategy or "undo",
            score=ann.score,
            model_version=ann.model_version,
            stale=ann.stale,
            owner=owner,
            annotator=annotator if owner else None,
            claimed_at=utcnow() if owner else None,
            shown_at=utcnow() if owner else None,  # the card shows it again at once
            slot=max(slots, default=-1) + 1,
        )
    )


def min_queued_round(session: Session, project_id: int) -> int:
    value = session.scalar(
        select(func.min(QueueEntry.round)).where(QueueEntry.project_id == project_id)
    )
    return value if value is not None else 1 << 30


def replaceable(project_id: int, newest: int) -> Select:
    """Slots of open rounds that a model older than ``newest`` chose, on items nobody has
    decided, seen on screen or been withdrawn from: what a replan may replace."""
    open_rounds = select(Round.number).where(
        Round.project_id == project_id, Round.completed_at.is_(None)
    )
    decided = select(Annotation.item_id).where(
        Annotation.project_id == project_id, Annotation.undone_at.is_(None)
    )
    seen = select(QueueEntry.item_id).where(
        QueueEntry.project_id == project_id,
        QueueEntry.shown_at.is_not(None) | QueueEntry.withdrawn_at.is_not(None),
    )
    return select(QueueEntry).where(
        QueueEntry.project_id == project_id,
        QueueEntry.round.in_(open_rounds),
        QueueEntry.model_version.is_(None) | (QueueEntry.model_version < newest),
        QueueEntry.item_id.not_in(decided),
        QueueEntry.item_id.not_in(seen),
    )


def replaceable_entries(
    session: Session, project_id: int, expired: datetime, keep_ahead: int
) -> list[QueueEntry]:
    """``replaceable`` slots, except each tab's next ``keep_ahead`` items: a tab shows those
    next, and replacing them would change what is about to appear."""
    newest = queries.newest_model_info(session, project_id)
    if newest is None:
        return []
    found = session.scalars(replaceable(project_id, newest.version)).all()
    owners = {e.owner for e in found if e.owner is not None and e.claimed_at >= expired}
    if not owners:
        return list(found)
    keep: set[int] = set()
    seen: dict[str, int] = {}
    for entry_id, owner in session.execute(
        select(QueueEntry.id, QueueEntry.owner)
        .where(
            QueueEntry.project_id == project_id,
            QueueEntry.owner.in_(owners),
            QueueEntry.withdrawn_at.is_(None),
            QueueEntry.shown_at.is_(None),
        )
        .order_by(QueueEntry.owner, QueueEntry.round, QueueEntry.position, QueueEntry.slot)
    ):
        if seen.get(owner, 0) < keep_ahead:
            seen[owner] = seen.get(owner, 0) + 1
            keep.add(entry_id)
    return [e for e in found if e.id not in keep]


def round_deficits(
    session: Session, project_id: int, leaving: Collection[int] = ()
) -> list[tuple[int, int]]:
    """(round, missing items) of open rounds with fewer items than their batch size, counting
    decided items and live slots except those on the items ``leaving``; oldest first."""
    out = []
    for rnd in session.scalars(
        select(Round)
        .where(Round.project_id == project_id, Round.completed_at.is_(None))
        .order_by(Round.number)
    ):
        queued = select(QueueEntry.item_id).where(
            QueueEntry.project_id == project_id,
            QueueEntry.round == rnd.number,
            QueueEntry.withdrawn_at.is_(None),
            QueueEntry.item_id.not_in(list(leaving)),
        )
        decided = select(Annotation.item_id).where(
            Annotation.project_id == project_id,
            Annotation.round == rnd.number,
            Annotation.undone_at.is_(None),
        )
        # UNION keeps each item once; counted without touching the items table (a pool-wide
        # scan at 1M items, 0.28 s per round on SQLite)
        have = session.scalar(select(func.count()).select_from(union(queued, decided).subquery()))
        if have < rnd.batch_size:
            out.append((rnd.number, rnd.batch_size - have))
    return out


def busy_items(session: Session, project_id: int, items: list[int]) -> set[int]:
    """Of ``items``, those queued or decided (an item is never queued a second time)."""
    queued = session.scalars(
        select(QueueEntry.item_id).where(
            QueueEntry.project_id == project_id, QueueEntry.item_id.in_(items)
        )
    )
    decided = session.scalars(
        select(Annotation.item_id).where(
            Annotation.project_id == project_id,
            Annotation.item_id.in_(items),
            Annotation.undone_at.is_(None),
        )
    )
    return set(queued) | set(decided)


def target_round(
    session: Session,
    project: Project,
    number: int | None,
    model_version: int | None,
    strategy: str,
    size: int,
) -> Round:
    """The open round to fill (now chosen by the newest model), or a new one of ``size``."""
    if number is not None:
        rnd = session.scalar(
            select(Round).where(Round.project_id == project.id, Round.number == number)
        )
        rnd.model_version, rnd.strategy = model_version, strategy
        return rnd
    last = session.scalar(select(func.max(Round.number)).where(Round.project_id == project.id))
    rnd = Round(
        project_id=project.id, number=(last or 0) + 1, strategy=strategy,
        model_version=model_version, batch_size=size, stale=False,
    )  # fmt: skip
    session.add(rnd)
    session.flush()
    return rnd


def add_slots(
    session: Session,
    project: Project,
    rnd: Round,
    picks: list[tuple[int, float]],
    strategy: str,
    model_version: int | None,
    stale: bool,
) -> None:
    """Queue ``picks`` (item id, score) at the end of round ``rnd``, one slot per overlap."""
    start = session.scalar(
        select(func.max(QueueEntry.position)).where(
            QueueEntry.project_id == project.id, QueueEntry.round == rnd.number
        )
    )
    start = 0 if start is None else start + 1
    for offset, (item_id, score) in enumerate(picks):
        for slot in range(max(project.overlap, 1)):
            session.add(
                QueueEntry(
                    project_id=project.id, item_id=item_id, round=rnd.number,
                    position=start + offset, slot=slot, strategy=strategy,
                    score=None if np.isnan(score) else float(score),
                    model_version=model_version, stale=stale,
                )
            )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Counts and lookups the loop reads


def free_slot_count(
    session: Session, project_id: int, expired: datetime, *, annotator: str | None = None
) -> int:
    """Slots nobody holds (or whose lease expired), not withdrawn; with ``annotator``, only
    those on items the annotator has not decided."""
    query = select(func.count()).where(
        QueueEntry.project_id == project_id,
        QueueEntry.withdrawn_at.is_(None),
        free_slot(expired),
    )
    if annotator is not None:
        mine = select(Annotation.item_id).where(
            Annotation.project_id == project_id,
            Annotation.annotator == annotator,
            Annotation.undone_at.is_(None),
        )
        query = query.where(QueueEntry.item_id.not_in(mine))
    return session.scalar(query) or 0


def unqueued_undecided_count(session: Session, project_id: int) -> int:
    """Items neither queued nor decided: what a planner may still choose from."""
    in_queue = select(QueueEntry.item_id).where(QueueEntry.project_id == project_id)
    decided = select(Annotation.item_id).where(
        Annotation.project_id == project_id, Annotation.undone_at.is_(None)
    )
    return (
        session.scalar(
            select(func.count()).where(
                Item.project_id == project_id, Item.id.not_in(in_queue), Item.id.not_in(decided)
            )
        )
        or 0
    )


def any_slot(session: Session, project_id: int, item_id: int) -> QueueEntry | None:
    """One queue slot of the item, if it has any (its selection context)."""
    return session.scalar(
        select(QueueEntry)
        .where(QueueEntry.project_id == project_id, QueueEntry.item_id == item_id)
        .limit(1)
    )


def annotation_for_event(session: Session, project_id: int, client_event: str) -> int | None:
    """The annotation a key press (the browser's event id) recorded, if any."""
    return session.scalar(
        select(Annotation.id).where(
            Annotation.project_id == project_id, Annotation.client_event == client_event
        )
    )


def open_round(session: Session, project_id: int) -> Round | None:
    """The oldest round not yet complete."""
    return session.scalar(
        select(Round)
        .where(Round.project_id == project_id, Round.completed_at.is_(None))
        .order_by(Round.number)
        .limit(1)
    )


def items_left_in_round(session: Session, project_id: int, number: int) -> int:
    """Distinct items still queued in a round (withdrawn slots do not count)."""
    return (
        session.scalar(
            select(func.count(func.distinct(QueueEntry.item_id))).where(
                QueueEntry.project_id == project_id,
                QueueEntry.round == number,
                QueueEntry.withdrawn_at.is_(None),
            )
        )
        or 0
    )


def last_round_number(session: Session, project_id: int) -> int | None:
    return session.scalar(select(func.max(Round.number)).where(Round.project_id == project_id))


def rounds_completed_since(session: Session, project_id: int, since: datetime | None) -> int:
    """Rounds completed after ``since`` (None: ever)."""
    query = select(func.count()).where(
        Round.project_id == project_id, Round.completed_at.is_not(None)
    )
    if since is not None:
        query = query.where(Round.completed_at > since)
    return session.scalar(query) or 0


def decided_rows(session: Session, project_id: int) -> list[int]:
    """Pool rows of the items with a decision in force."""
    return list(
        session.scalars(
            select(Item.row)
            .join(Annotation, Annotation.item_id == Item.id)
            .where(Annotation.id.in_(queries.current_annotation_ids(project_id)))
        )
    )


def queued_rows(session: Session, project_id: int) -> list[int]:
    """Pool rows of the items with a queue slot."""
    return list(
        session.scalars(
            select(Item.row)
            .join(QueueEntry, QueueEntry.item_id == Item.id)
            .where(QueueEntry.project_id == project_id)
        )
    )


def mark_round_chosen(
    session: Session, project_id: int, number: int, model_version: int | None, strategy: str
) -> None:
    """Record that a replan chose the round's items with ``model_version`` and ``strategy``."""
    session.execute(
        update(Round)
        .where(Round.project_id == project_id, Round.number == number)
        .values(model_version=model_version, strategy=strategy)
    )


def shrink_round(session: Session, project_id: int, number: int, missing: int) -> None:
    """The pool ran out: the round's batch size drops by the ``missing`` items."""
    session.execute(
        update(Round)
        .where(Round.project_id == project_id, Round.number == number)
        .values(batch_size=Round.batch_size - missing)
    )


def decisions(
    session: Session, project_id: int, annotator: str | None, limit: int
) -> list[tuple[Annotation, str]]:
    """The newest decisions in force (``annotator``'s only, if given) with their items'
    external ids, newest first."""
    query = (
        select(Annotation, Item.external_id)
        .join(Item, Item.id == Annotation.item_id)
        .where(Annotation.project_id == project_id, Annotation.undone_at.is_(None))
        .order_by(Annotation.id.desc())
        .limit(limit)
    )
    if annotator:
        query = query.where(Annotation.annotator == annotator)
    return [(a, ext) for a, ext in session.execute(query)]


def item_ids_at_rows(session: Session, project_id: int, rows: Collection[int]) -> dict[int, int]:
    """Pool row -> item id, for ``rows``."""
    return dict(
        session.execute(
            select(Item.row, Item.id).where(Item.project_id == project_id, Item.row.in_(list(rows)))
        ).all()
    )


def rows_of_items(session: Session, item_ids: Collection[int]) -> list[int]:
    return list(session.scalars(select(Item.row).where(Item.id.in_(list(item_ids)))))
