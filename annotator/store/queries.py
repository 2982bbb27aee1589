"""Query helpers. Each takes a session and never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from annotator.errors import ProjectNotFoundError
from annotator.store.models import Annotation, Event, Item, ModelVersion, Project


def find_project(session: Session, name: str) -> Project | None:
    return session.scalar(select(Project).where(Project.name == name))


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


@dataclass(frozen=True)
class ProjectCounts:
    items: int
    labelled: int
    skipped: int

    @property
    def remaining(self) -> int:
        return self.items - self.labelled - self.skipped


def project_counts(session: Session, project_id: int) -> ProjectCounts:
    items = session.scalar(select(func.count()).where(Item.project_id == project_id)) or 0
    current = (
        select(Annotation.label)
        .where(Annotation.id.in_(current_annotation_ids(project_id)))
        .subquery("current")
    )
    labelled, skipped = session.execute(
        select(
            func.count().filter(current.c.label.is_not(None)),
            func.count().filter(current.c.label.is_(None)),
        )
    ).one()
    return ProjectCounts(items=items, labelled=labelled, skipped=skipped)


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


def item_count(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).where(Item.project_id == project_id)) or 0


def latest_model(session: Session, project_id: int) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.project_id == project_id)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


def events_of_kind(session: Session, kind: str) -> Sequence[Event]:
    """Every event of ``kind``, newest first."""
    return session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id.desc())).all()


def log_event(session: Session, project_id: int | None, kind: str, **payload: Any) -> Event:
    """Append to the event log (rows are never updated or deleted)."""
    event = Event(project_id=project_id, kind=kind, payload=payload)
    session.add(event)
    return event
