"""Query helpers. Each takes a session and never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, insert, select, union, update
from sqlalchemy.orm import Session

from annotator.agreement import FinalLabel, Vote, final_label
from annotator.errors import ProjectNotFoundError
from annotator.store.models import (
    Adjudication,
    Annotation,
    Event,
    Item,
    Membership,
    ModelVersion,
    Project,
    Round,
    Served,
)

#: The columns :func:`insert_items` fills, in the order of its tuples.
ITEM_COLUMNS = ("project_id", "external_id", "row", "text", "image", "image_path",
                "content_hash", "ground_truth", "created_at")  # fmt: skip


def insert_annotations(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert annotation rows (dicts of columns) in one ``executemany``."""
    if rows:
        session.execute(insert(Annotation), rows)


def item_ids_from_row(session: Session, project_id: int, start_row: int) -> dict[int, int]:
    """Pool row -> item id of the items from ``start_row`` on (those one import added)."""
    return dict(
        session.execute(
            select(Item.row, Item.id).where(Item.project_id == project_id, Item.row >= start_row)
        ).all()
    )


def items_in_order(session: Session, project_id: int) -> list[Item]:
    """Every item of the project, by pool row."""
    return list(
        session.scalars(select(Item).where(Item.project_id == project_id).order_by(Item.row))
    )


def featurizer_state(session: Session, project_id: int) -> bytes | None:
    """The project's fitted featurizer (read apart: it can be megabytes)."""
    return session.scalar(select(Project.featurizer_state).where(Project.id == project_id))


def annotators_and_items(
    session: Session, project_id: int, ids: Iterable[int]
) -> dict[int, tuple[str, int]]:
    """Annotation id -> (annotator, item id), for those of ``ids`` the project has."""
    rows = session.execute(
        select(Annotation.id, Annotation.annotator, Annotation.item_id).where(
            Annotation.project_id == project_id, Annotation.id.in_(list(ids))
        )
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def annotations_by_id(session: Session, ids: Iterable[int]) -> dict[int, Annotation]:
    return {
        a.id: a for a in session.scalars(select(Annotation).where(Annotation.id.in_(list(ids))))
    }


def insert_items(session: Session, rows: Sequence[tuple]) -> None:
    """Insert item rows (tuples in ``ITEM_COLUMNS`` order) with the driver's ``executemany``.

    Hand-written because SQLAlchemy's per-row parameter processing (``construct_params`` and
    the type processors) was most of a 1M-row import (60 s of 92 s under cProfile on a loaded
    box, against 21 s in SQLite's own ``executemany``);
    here each column's bind processor (the same conversion SQLAlchemy would apply, e.g.
    SQLite's datetime format) runs only where the dialect has one.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = [Item.__table__.c[name] for name in ITEM_COLUMNS]
    processors = [
        (k, p) for k, c in enumerate(columns) if (p := c.type.bind_processor(dialect)) is not None
    ]
    if processors:
        converted = []
        for row in rows:
            values = list(row)
            for k, process in processors:
                if values[k] is not None:
                    values[k] = process(values[k])
            converted.append(tuple(values))
        rows = converted
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(Item.__tablename__)} ({', '.join(quote(c) for c in ITEM_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(ITEM_COLUMNS))})"
    )
    connection.exec_driver_sql(sql, list(rows))


def find_project(session: Session, name: str) -> Project | None:
    return session.scalar(select(Project).where(Project.name == name))


def all_projects(session: Session) -> list[Project]:
    """Every project, by name."""
    return list(session.scalars(select(Project).order_by(Project.name)))


def active_projects(session: Session) -> list[Project]:
    """Projects not archived."""
    return list(session.scalars(select(Project).where(Project.archived.is_(False))))


def most_recent_project_name(session: Session) -> str | None:
    """The project labelled in most recently (else the oldest one) of those not archived."""
    return session.scalar(
        select(Project.name)
        .where(Project.archived.is_(False))
        .order_by(Project.last_used_at.desc().nulls_last(), Project.id)
        .limit(1)
    )


def get_project(session: Session, name: str) -> Project:
    project = find_project(session, name)
    if project is None:
        names = session.scalars(select(Project.name).order_by(Project.name)).all()
        known = ", ".join(names) if names else "none yet"
        raise ProjectNotFoundError(f"no project named {name!r} (projects: {known})")
    return project


def current_annotation_ids(project_id: int) -> Select:
    """Ids of each item's current decision: its newest annotation that was not undone."""
    return (
        select(func.max(Annotation.id))
        .where(Annotation.project_id == project_id, Annotation.undone_at.is_(None))
        .group_by(Annotation.item_id)
    )


def current_annotations(session: Session, project_id: int) -> Sequence[Annotation]:
    return session.scalars(
        select(Annotation)
        .where(Annotation.id.in_(current_annotation_ids(project_id)))
        .order_by(Annotation.id)
    ).all()


def latest_per_annotator_ids(project_id: int) -> Select:
    """Ids of each annotator's latest decision on each item (not undone)."""
    return (
        select(func.max(Annotation.id))
        .where(Annotation.project_id == project_id, Annotation.undone_at.is_(None))
        .group_by(Annotation.item_id, Annotation.annotator)
    )


def adjudications(session: Session, project_id: int) -> dict[int, Adjudication]:
    """The project's adjudications by item id."""
    return {
        a.item_id: a
        for a in session.scalars(select(Adjudication).where(Adjudication.project_id == project_id))
    }


@dataclass(frozen=True)
class ItemLabel:
    """An item's final label (``annotator.agreement.final_label``) and where it came from."""

    item_id: int
    row: int
    final: FinalLabel
    newest_id: int  # the item's newest annotation in force
    annotation_id: int | None  # the newest annotation that gave the final label, if any
    adjudication: Adjudication | None

    @property
    def label(self) -> str | None:
        return self.final.label


def item_labels(
    session: Session, project_id: int, item_ids: Iterable[int] | None = None
) -> dict[int, ItemLabel]:
    """Every decided item's final label: the adjudication if any, else the plurality of its
    annotators' latest decisions (a tie is a split: no final label). Items nobody decided are
    absent.

    With one annotator per item this is that annotator's latest decision, as before.
    """
    query = (
        select(Annotation.item_id, Item.row, Annotation.annotator, Annotation.label, Annotation.id)
        .join(Item, Item.id == Annotation.item_id)
        .where(Annotation.id.in_(latest_per_annotator_ids(project_id)))
    )
    judged = select(Adjudication).where(Adjudication.project_id == project_id)
    if item_ids is not None:
        wanted = list(item_ids)
        query = query.where(Annotation.item_id.in_(wanted))
        judged = judged.where(Adjudication.item_id.in_(wanted))
    votes: dict[int, list[Vote]] = {}
    rows: dict[int, int] = {}
    for item_id, row, annotator, label, ann_id in session.execute(query):
        votes.setdefault(item_id, []).append(Vote(annotator, label, ann_id))
        rows[item_id] = row
    adjudicated = {a.item_id: a for a in session.scalars(judged)}
    missing = [i for i in adjudicated if i not in rows]
    if missing:  # adjudicated with every decision undone: the adjudication still stands
        rows.update(session.execute(select(Item.id, Item.row).where(Item.id.in_(missing))).all())
    out = {}
    for item_id, row in rows.items():
        item_votes = votes.get(item_id, [])
        adj = adjudicated.get(item_id)
        final = final_label(item_votes, adj.label if adj is not None else None)
        giving = [v.order for v in item_votes if v.label is not None and v.label == final.label]
        out[item_id] = ItemLabel(
            item_id=item_id,
            row=row,
            final=final,
            newest_id=max((v.order for v in item_votes), default=0),
            annotation_id=max(giving, default=None),
            adjudication=adj,
        )
    return out


@dataclass(frozen=True)
class ProjectCounts:
    items: int
    labelled: int
    skipped: int

    @property
    def remaining(self) -> int:
        return self.items - self.labelled - self.skipped


def project_counts(session: Session, project_id: int) -> ProjectCounts:
    """Items, and how many have a final label (``item_labels``) or were only skipped.

    Aggregates only: the item count reads one index entry (``item_count``), the others count
    the decided items, never the pool."""
    items = item_count(session, project_id)
    latest = select(Annotation.item_id, Annotation.label).where(
        Annotation.id.in_(latest_per_annotator_ids(project_id))
    )
    judged = select(Adjudication.item_id).where(Adjudication.project_id == project_id)
    labelled_items = union(
        latest.where(Annotation.label.is_not(None)).with_only_columns(Annotation.item_id), judged
    ).subquery("labelled")
    decided_items = union(latest.with_only_columns(Annotation.item_id), judged).subquery("decided")
    labelled = session.scalar(select(func.count()).select_from(labelled_items)) or 0
    decided = session.scalar(select(func.count()).select_from(decided_items)) or 0
    return ProjectCounts(items=items, labelled=labelled, skipped=decided - labelled)


def existing_external_ids(session: Session, project_id: int, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the project already has (checked in batches)."""
    ids = list(ids)
    found: set[str] = set()
    for start in range(0, len(ids), 5000):
        batch = ids[start : start + 5000]
        found.update(
            session.scalars(
                select(Item.external_id).where(
                    Item.project_id == project_id, Item.external_id.in_(batch)
                )
            )
        )
    return found


def export_items(
    session: Session,
    project_id: int,
    *,
    rows: tuple[int, int] | None = None,
    item_ids: Sequence[int] | None = None,
    with_images: bool = False,
) -> Sequence[Any]:
    """What an export writes of each item, in row order: ``id, external_id, row, text,
    image_path`` (and ``image`` with ``with_images``), of the rows in ``[lo, hi)`` (a range
    of the (project, row) index) or of the items ``item_ids``; never the whole table at once.
    Run as a Core statement: the ORM's per-row loading was half of the fetch at 1M rows."""
    columns = [Item.id, Item.external_id, Item.row, Item.text, Item.image_path]
    query = select(*columns, *([Item.image] if with_images else []))
    query = query.where(Item.project_id == project_id)
    if rows is not None:
        query = query.where(Item.row >= rows[0], Item.row < rows[1])
    if item_ids is not None:
        query = query.where(Item.id.in_(list(item_ids)))
    return session.connection().execute(query.order_by(Item.row)).all()


def item_count(session: Session, project_id: int) -> int:
    """How many items the project has: its largest row + 1. An item's row is its row in the
    feature matrix, numbered 0..n-1 in import order (appends continue from n) and never removed
    but with the whole project, so this is the count, read from the last entry of the
    (project, row) unique index instead of counting a million entries."""
    last = session.scalar(select(func.max(Item.row)).where(Item.project_id == project_id))
    return 0 if last is None else last + 1


def has_ground_truth(session: Session, project_id: int) -> bool:
    """Whether any item has hidden ground truth (stops at the first one found)."""
    return (
        session.scalar(
            select(Item.id)
            .where(Item.project_id == project_id, Item.ground_truth.is_not(None))
            .limit(1)
        )
        is not None
    )


def ground_truth(session: Session, project_id: int, item_ids: Iterable[int]) -> dict[int, str]:
    """Item id -> hidden ground truth of the items ``item_ids`` that have one."""
    ids = list(item_ids)
    found: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        found.update(
            session.execute(
                select(Item.id, Item.ground_truth).where(
                    Item.project_id == project_id,
                    Item.id.in_(ids[start : start + 5000]),
                    Item.ground_truth.is_not(None),
                )
            ).all()
        )
    return found


def latest_model(session: Session, project_id: int) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.project_id == project_id)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class ModelInfo:
    """A model version without its (large) state."""

    version: int
    created_at: Any
    metrics: dict | None = None


def newest_model_info(session: Session, project_id: int) -> ModelInfo | None:
    row = session.execute(
        select(ModelVersion.version, ModelVersion.created_at, ModelVersion.metrics)
        .where(ModelVersion.project_id == project_id)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    ).first()
    return None if row is None else ModelInfo(row.version, row.created_at, row.metrics)


def events_of_kind(session: Session, kind: str) -> Sequence[Event]:
    """Every event of ``kind``, newest first."""
    return session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id.desc())).all()


def log_event(session: Session, project_id: int | None, kind: str, **payload: Any) -> Event:
    """Append to the event log (rows are never updated or deleted)."""
    event = Event(project_id=project_id, kind=kind, payload=payload)
    session.add(event)
    return event


def record_served(
    session: Session, project_id: int, annotator: str, items: Iterable[tuple[int, int]]
) -> None:
    """Record that ``(item id, round)`` items were served to ``annotator`` (once per item)."""
    items = list(items)
    if not items:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = [
        {"project_id": project_id, "item_id": i, "annotator": annotator, "round": r}
        for i, r in items
    ]
    session.execute(insert(Served).values(rows).on_conflict_do_nothing())


def was_served(session: Session, project_id: int, item_id: int, annotator: str) -> bool:
    return (
        session.scalar(
            select(Served.id).where(
                Served.project_id == project_id,
                Served.item_id == item_id,
                Served.annotator == annotator,
            )
        )
        is not None
    )


# --------------------------------------------------------------------------------------------
# Memberships (annotator.teams)


def membership(session: Session, project_id: int, user: str) -> Membership | None:
    return session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user == user)
    )


def memberships(session: Session, project_id: int) -> list[Membership]:
    """The project's members, by name."""
    return list(
        session.scalars(
            select(Membership).where(Membership.project_id == project_id).order_by(Membership.user)
        )
    )


def owners_for_update(session: Session, project_id: int) -> list[str]:
    """The owners' names, their rows locked (``FOR UPDATE`` on PostgreSQL): two owners
    demoting each other at once run one after the other. SQLite has one writer anyway."""
    return list(
        session.scalars(
            select(Membership.user)
            .where(Membership.project_id == project_id, Membership.role == "owner")
            .with_for_update()
        )
    )


# --------------------------------------------------------------------------------------------
# Items, labels and adjudications by id (annotator.review)


def item_id_of(session: Session, project_id: int, external_id: str) -> int | None:
    return session.scalar(
        select(Item.id).where(Item.project_id == project_id, Item.external_id == external_id)
    )


def items_of(session: Session, project_id: int, item_ids: Iterable[int]) -> list[Item]:
    return list(
        session.scalars(
            select(Item).where(Item.project_id == project_id, Item.id.in_(list(item_ids)))
        )
    )


def external_ids(session: Session, item_ids: Iterable[int]) -> dict[int, str]:
    """Item id -> external id."""
    return dict(
        session.execute(select(Item.id, Item.external_id).where(Item.id.in_(list(item_ids)))).all()
    )


def latest_labels(session: Session, project_id: int) -> list[tuple[int, str, str]]:
    """(item id, annotator, label) of each annotator's latest decision that is a label."""
    return [
        (item_id, annotator, label)
        for item_id, annotator, label in session.execute(
            select(Annotation.item_id, Annotation.annotator, Annotation.label).where(
                Annotation.id.in_(latest_per_annotator_ids(project_id)),
                Annotation.label.is_not(None),
            )
        )
    ]


def adjudication(session: Session, project_id: int, item_id: int) -> Adjudication | None:
    return session.scalar(
        select(Adjudication).where(
            Adjudication.project_id == project_id, Adjudication.item_id == item_id
        )
    )


def adjudications_newest_first(session: Session, project_id: int) -> list[tuple[Adjudication, str]]:
    """(adjudication, the item's external id), newest first."""
    return [
        (a, ext)
        for a, ext in session.execute(
            select(Adjudication, Item.external_id)
            .join(Item, Item.id == Adjudication.item_id)
            .where(Adjudication.project_id == project_id)
            .order_by(Adjudication.created_at.desc(), Adjudication.id.desc())
        )
    ]


# --------------------------------------------------------------------------------------------
# Models and rounds (annotator.model_report)


def model_history(session: Session, project_id: int) -> list[Any]:
    """(version, n_labels, train_seconds, created_at, state) of every model, oldest first."""
    return list(
        session.execute(
            select(
                ModelVersion.version,
                ModelVersion.n_labels,
                ModelVersion.train_seconds,
                ModelVersion.created_at,
                ModelVersion.state,
            )
            .where(ModelVersion.project_id == project_id)
            .order_by(ModelVersion.version)
        ).all()
    )


def newest_event_id(session: Session, project_id: int) -> int:
    """The project's newest event id (0: none): anything it shows changes only with this."""
    return session.scalar(select(func.max(Event.id)).where(Event.project_id == project_id)) or 0


_DECISION_KINDS = {
    "labelled": Annotation.label.is_not(None),
    "skipped": Annotation.label.is_(None),
    "stale": Annotation.stale.is_(True),
}


def decisions_by_round(session: Session, project_id: int, kind: str) -> dict[int, int]:
    """round -> how many current decisions are of ``kind`` (labelled, skipped or stale)."""
    return dict(
        session.execute(
            select(Annotation.round, func.count())
            .where(Annotation.id.in_(current_annotation_ids(project_id)))
            .where(_DECISION_KINDS[kind])
            .group_by(Annotation.round)
        ).all()
    )


def rounds(session: Session, project_id: int) -> list[Round]:
    return list(
        session.scalars(select(Round).where(Round.project_id == project_id).order_by(Round.number))
    )


# --------------------------------------------------------------------------------------------
# Label sets (annotator.project_admin)


def rename_label_everywhere(session: Session, project_id: int, old: str, new: str) -> int:
    """Rename a label in every annotation, adjudication and ground truth of the project;
    returns how many annotations changed."""
    moved = session.execute(
        update(Annotation)
        .where(Annotation.project_id == project_id, Annotation.label == old)
        .values(label=new)
    ).rowcount
    session.execute(
        update(Adjudication)
        .where(Adjudication.project_id == project_id, Adjudication.label == old)
        .values(label=new)
    )
    session.execute(
        update(Item)
        .where(Item.project_id == project_id, Item.ground_truth == old)
        .values(ground_truth=new)
    )
    return int(moved or 0)


def items_by_external_id(
    session: Session, project_id: int, external_ids: Iterable[str]
) -> dict[str, Item]:
    return {
        it.external_id: it
        for it in session.scalars(
            select(Item).where(
                Item.project_id == project_id, Item.external_id.in_(list(external_ids))
            )
        )
    }
