"""The schema: typed SQLAlchemy 2.0 tables.

``SCHEMA_VERSION`` is the version these models describe; ``annotator.store.migrations`` brings
any older database up to it, and a test checks that migrating from nothing gives these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_VERSION = 12

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[str]: JSONType, datetime: UTCDateTime}


class SchemaInfo(Base):
    """One row: the schema version of this database and, since version 10, a random id made
    when it was created (a new database at an old URL has a new id)."""

    __tablename__ = "protolabel_schema"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[str | None] = mapped_column(String(32))

    def __repr__(self) -> str:
        return f"SchemaInfo(version={self.version})"


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    labels: Mapped[list[str]]
    data_kind: Mapped[str] = mapped_column(String(20))  # text | image | features
    featurizer: Mapped[str] = mapped_column(String(40))  # the resolved name, never "auto"
    featurizer_state: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # MBs
    feature_dim: Mapped[int] = mapped_column(Integer, default=0)
    features_version: Mapped[int] = mapped_column(Integer, default=0)
    instructions: Mapped[str] = mapped_column(Text, default="")
    source_info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # file, feature names
    # Added in schema version 2: the labelling loop's settings.
    strategy: Mapped[str] = mapped_column(String(40), default="auto", server_default="auto")
    batch_size: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Added in schema version 3: when someone last labelled in it (the Label page opens it).
    last_used_at: Mapped[datetime | None] = mapped_column()
    # Added in schema version 4: per-class guidelines ({label: {"text": str, "examples":
    # [external ids]}}) and the stop set of the stopping advice (item rows, chosen once).
    guidelines: Mapped[dict[str, Any] | None] = mapped_column()
    stop_set: Mapped[list[int] | None] = mapped_column(JSONType)
    # Added in schema version 5: how many different annotators label each item.
    overlap: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Added in schema version 7: refine the prototypes with unlabelled items at each retrain.
    semi_supervised: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # The label card's keys the owner chose, label -> key (schema version 11; None: defaults).
    keys: Mapped[dict[str, Any] | None] = mapped_column()
    # Schema version 12: prototypes start from the class descriptions (issue 18) where they
    # apply (``annotator.zero_shot.applies``); on for new projects, off for older ones.
    zero_shot: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_false())

    items: Mapped[list[Item]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Project(id={self.id}, name={self.name!r}, kind={self.data_kind!r})"


class Item(Base):
    """One unit of work. ``row`` is its row in the project's feature matrix."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_items_project_external"),
        UniqueConstraint("project_id", "row", name="uq_items_project_row"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(500))
    row: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    image_path: Mapped[str | None] = mapped_column(Text)
    features: Mapped[bytes | None] = mapped_column(LargeBinary)  # float64 row, raw values
    content_hash: Mapped[str] = mapped_column(String(64))
    ground_truth: Mapped[str | None] = mapped_column(String(200))  # hidden from labelling
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="items")

    def __repr__(self) -> str:
        return f"Item(id={self.id}, external_id={self.external_id!r})"


class Annotation(Base):
    """A decision on an item: a label, or a skip (``label`` is None). Undo sets ``undone_at``."""

    __tablename__ = "annotations"
    __table_args__ = (
        Index("ix_annotations_project_item", "project_id", "item_id"),
        UniqueConstraint("project_id", "client_event", name="uq_annotations_client_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    label: Mapped[str | None] = mapped_column(String(200))
    annotator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    round: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[str | None] = mapped_column(String(40))
    score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[int | None] = mapped_column(Integer)
    undone_at: Mapped[datetime | None] = mapped_column()
    # Added in schema version 3: the browser's id for the key press, so a replay is not a
    # second label, and whether the selecting model was older than the newest (stale batch).
    client_event: Mapped[str | None] = mapped_column(String(100))
    stale: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    @property
    def skipped(self) -> bool:
        return self.label is None

    def __repr__(self) -> str:
        return f"Annotation(item_id={self.item_id}, label={self.label!r}, by={self.annotator!r})"


class Round(Base):
    """A batch chosen by one model version with one strategy."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("project_id", "number", name="uq_rounds_project_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[int | None] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()
    # Added in schema version 3: planned while a retrain was pending. Whether each decision's
    # item was stale when decided is ``Annotation.stale`` (the Model page counts those).
    stale: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    def __repr__(self) -> str:
        return f"Round(project_id={self.project_id}, number={self.number})"


class ModelVersion(Base):
    """A trained learner, serialised (``meta.ProtoNetClassifier.to_bytes``)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("project_id", "version", name="uq_model_versions_project_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # loaded when read
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    # Added in schema version 3: the newest annotation id it was trained with.
    last_annotation_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    train_seconds: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"ModelVersion(project_id={self.project_id}, version={self.version})"


class QueueEntry(Base):
    """One pending decision on an item selected for labelling: a *slot*.

    An item gets ``project.overlap`` slots (0, 1, ...) when its round is planned; a decision
    uses up one. ``owner`` is the labelling queue (one browser tab or annotator process) that
    holds the slot's lease and ``annotator`` the person behind it, both None while it waits in
    the shared queue; a held slot is served to no other queue until it is decided, released,
    or its owner has not renewed the lease for longer than the lease TTL. One annotator never
    holds two slots of an item, nor one of an item it has decided.
    """

    __tablename__ = "queue"
    __table_args__ = (
        UniqueConstraint("project_id", "item_id", "slot", name="uq_queue_project_item_slot"),
        Index("ix_queue_project_owner", "project_id", "owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(40))
    score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[int | None] = mapped_column(Integer)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Added in schema version 5: the slot number and the lease holder's annotator name.
    slot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    annotator: Mapped[str | None] = mapped_column(String(200))
    # Added in schema version 8: when the holder reported the item on screen (never replaced
    # after that), and when a newer model's choice replaced it while it was reserved but not
    # shown (kept, out of the round, until the holder confirms it will not show it).
    shown_at: Mapped[datetime | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return (
            f"QueueEntry(item_id={self.item_id}, slot={self.slot}, round={self.round}, "
            f"owner={self.owner!r})"
        )


class Served(Base):
    """An item served to an annotator (added in schema version 9): the record that a decision
    is checked against, kept when the queue slot is used up or given back."""

    __tablename__ = "served"
    __table_args__ = (
        UniqueConstraint("project_id", "item_id", "annotator", name="uq_served_item_annotator"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    annotator: Mapped[str] = mapped_column(String(200))
    round: Mapped[int | None] = mapped_column(Integer)
    served_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Served(item_id={self.item_id}, annotator={self.annotator!r})"


class Membership(Base):
    """A user's role in a project (added in schema version 5).

    Roles are enforced only for authenticated users (``annotator.teams``); an authenticated
    user without a membership labels as an annotator.
    """

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("project_id", "user", name="uq_memberships_project_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # annotator | reviewer | owner
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Membership(project_id={self.project_id}, user={self.user!r}, role={self.role!r})"


class TrainerLock(Base):
    """Who trains a project now (added in schema version 5; used on SQLite, where there are no
    advisory locks). A holder that crashed stops blocking others at ``expires_at``."""

    __tablename__ = "trainer_locks"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column()

    def __repr__(self) -> str:
        return f"TrainerLock(project_id={self.project_id}, holder={self.holder!r})"


class Adjudication(Base):
    """A reviewer's final label for an item (added in schema version 6).

    One row per item: re-adjudicating replaces it, clearing deletes it; the event log keeps
    every adjudication with who and when. While it exists, ``label`` is the item's final label
    for training, exports and progress, whatever the annotators gave.
    """

    __tablename__ = "adjudications"
    __table_args__ = (UniqueConstraint("project_id", "item_id", name="uq_adjudications_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Adjudication(item_id={self.item_id}, label={self.label!r}, by={self.reviewer!r})"


class FeatureChunk(Base):
    """Feature cache kept in the database (PostgreSQL without a shared data dir)."""

    __tablename__ = "feature_chunks"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # float32, C order, (n_rows, dim)


class Event(Base):
    """Append-only log of everything that changed a project (never updated or deleted)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)  # kept after deletion
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Event(kind={self.kind!r}, project_id={self.project_id})"
