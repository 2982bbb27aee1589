"""Ordered schema migrations, run automatically when a database is opened.

Each migration is a function of Alembic ``Operations`` (portable DDL for SQLite and
PostgreSQL) and is frozen once released: it describes the schema as it was, never the
current models. A new database runs them all, so a fresh and an upgraded database are the
same; ``tests/integration/test_migrations.py`` checks the result against ``models.py``.

Concurrency: the whole upgrade runs in one transaction that first takes a lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on PostgreSQL) and then
re-reads the version, so two processes opening the same old database upgrade it once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from annotator.errors import DatabaseError
from annotator.store.models import SCHEMA_VERSION

_PG_LOCK_KEY = 0x70726F746F  # "proto": advisory lock id for migrations


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _v1(op: Operations) -> None:
    """The first released schema."""
    op.create_table(
        "protolabel_schema",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("data_kind", sa.String(20), nullable=False),
        sa.Column("featurizer", sa.String(40), nullable=False),
        sa.Column("featurizer_state", sa.LargeBinary, nullable=True),
        sa.Column("feature_dim", sa.Integer, nullable=False),
        sa.Column("features_version", sa.Integer, nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("source_info", _json(), nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(500), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("image", sa.LargeBinary, nullable=True),
        sa.Column("image_path", sa.Text, nullable=True),
        sa.Column("features", sa.LargeBinary, nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("ground_truth", sa.String(200), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "external_id", name="uq_items_project_external"),
        sa.UniqueConstraint("project_id", "row", name="uq_items_project_row"),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("round", sa.Integer, nullable=True),
        sa.Column("strategy", sa.String(40), nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("undone_at", _ts(), nullable=True),
    )
    op.create_index("ix_annotations_project_item", "annotations", ["project_id", "item_id"])
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.UniqueConstraint("project_id", "number", name="uq_rounds_project_number"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("n_labels", sa.Integer, nullable=False),
        sa.Column("train_seconds", sa.Float, nullable=True),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "version", name="uq_model_versions_project_version"),
    )
    op.create_table(
        "feature_chunks",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("chunk", sa.Integer, primary_key=True),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_index("ix_events_project_id", "events", ["project_id"])


def _v2(op: Operations) -> None:
    """Per-project labelling settings: the query strategy and the batch size."""
    op.add_column(
        "projects", sa.Column("strategy", sa.String(40), nullable=False, server_default="auto")
    )
    op.add_column(
        "projects", sa.Column("batch_size", sa.Integer, nullable=False, server_default="10")
    )


def _v3(op: Operations) -> None:
    """The labelling loop: the queue of selected items, replay-safe key presses, staleness."""
    op.add_column("projects", sa.Column("last_used_at", _ts(), nullable=True))
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("client_event", sa.String(100), nullable=True))
        batch.add_column(sa.Column("stale", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_unique_constraint(
            "uq_annotations_client_event", ["project_id", "client_event"]
        )
    op.add_column(
        "rounds", sa.Column("stale", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "model_versions",
        sa.Column("last_annotation_id", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "queue",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("stale", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("claimed_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "item_id", name="uq_queue_project_item"),
    )
    op.create_index("ix_queue_project_owner", "queue", ["project_id", "owner"])


def _v4(op: Operations) -> None:
    """The label set's guidelines and example items; the stop set of the stopping advice."""
    op.add_column("projects", sa.Column("guidelines", _json(), nullable=True))
    op.add_column("projects", sa.Column("stop_set", _json(), nullable=True))


def _v5(op: Operations) -> None:
    """Teams: per-project roles, the overlap setting, one queue slot per pending decision
    (an item with overlap k has k slots, each leased to one annotator), the SQLite trainer lock."""
    op.add_column("projects", sa.Column("overlap", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("slot", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("annotator", sa.String(200), nullable=True))
        batch.drop_constraint("uq_queue_project_item", type_="unique")
        batch.create_unique_constraint(
            "uq_queue_project_item_slot", ["project_id", "item_id", "slot"]
        )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "user", name="uq_memberships_project_user"),
    )
    op.create_table(
        "trainer_locks",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
    )


def _v6(op: Operations) -> None:
    """Adjudications: a reviewer's final label per item."""
    op.create_table(
        "adjudications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "item_id", name="uq_adjudications_item"),
    )


def _v7(op: Operations) -> None:
    """Per-project switch of the semi-supervised prototypes (off for existing projects)."""
    op.add_column(
        "projects",
        sa.Column("semi_supervised", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def _v8(op: Operations) -> None:
    """The queue remembers which reserved items were shown, and which a retrain withdrew."""
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("shown_at", _ts(), nullable=True))
        batch.add_column(sa.Column("withdrawn_at", _ts(), nullable=True))


def _v9(op: Operations) -> None:
    """What was served to whom, so that a decision is accepted only for an item its annotator
    was given. Filled from the slots held now and the decisions made so far."""
    op.create_table(
        "served",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("round", sa.Integer, nullable=True),
        sa.Column("served_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "item_id", "annotator", name="uq_served_item_annotator"),
    )
    op.execute(
        "INSERT INTO served (project_id, item_id, annotator, round, served_at) "
        "SELECT project_id, item_id, annotator, MIN(round), MIN(created_at) FROM ("
        " SELECT project_id, item_id, annotator, round, created_at FROM annotations"
        " UNION ALL"
        " SELECT project_id, item_id, annotator, round, claimed_at FROM queue"
        " WHERE annotator IS NOT NULL AND claimed_at IS NOT NULL"
        ") AS given GROUP BY project_id, item_id, annotator"
    )


def _v10(op: Operations) -> None:
    """A random id for this database, so that a local copy of its features is never taken
    for another database's (dropped and recreated at the same URL, say)."""
    op.add_column("protolabel_schema", sa.Column("instance_id", sa.String(32), nullable=True))
    op.execute(
        sa.text("UPDATE protolabel_schema SET instance_id = :i").bindparams(i=secrets.token_hex(16))
    )


def _v11(op: Operations) -> None:
    """The label card's keys an owner chose per label."""
    op.add_column("projects", sa.Column("keys", _json(), nullable=True))


def _v12(op: Operations) -> None:
    """Per-project switch of the zero-shot prototypes (off for existing projects, whose
    models were trained without them)."""
    op.add_column(
        "projects",
        sa.Column("zero_shot", sa.Boolean, nullable=False, server_default=sa.false()),
    )


MIGRATIONS: dict[int, Callable[[Operations], None]] = {
    1: _v1,
    2: _v2,
    3: _v3,
    4: _v4,
    5: _v5,
    6: _v6,
    7: _v7,
    8: _v8,
    9: _v9,
    10: _v10,
    11: _v11,
    12: _v12,
}
assert max(MIGRATIONS) == SCHEMA_VERSION, "add a migration for every schema version"


def _lock(conn: Connection) -> None:
    """Begin the upgrade transaction holding the database's writer lock."""
    conn.begin()  # on SQLite the store's engine makes this BEGIN IMMEDIATE
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def current_version(conn: Connection) -> int:
    """The database's schema version; 0 for an empty database."""
    if not sa.inspect(conn).has_table("protolabel_schema"):
        if sa.inspect(conn).has_table("projects"):
            raise DatabaseError("database has protolabel tables but no schema version: not ours?")
        return 0
    version = conn.execute(sa.text("SELECT version FROM protolabel_schema WHERE id = 1")).scalar()
    return int(version or 0)


def upgrade(engine: Engine, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to ``target``; return the version it had before.

    ``engine`` must begin SQLite transactions with BEGIN IMMEDIATE (``Store.write_engine``).
    """
    with engine.connect() as conn:
        if current_version(conn) == target:
            return target
    with engine.connect() as conn:
        _lock(conn)
        try:
            before = current_version(conn)
            if before > SCHEMA_VERSION:
                raise DatabaseError(
                    f"database schema version {before} is newer than this protolabel "
                    f"({SCHEMA_VERSION}): upgrade protolabel"
                )
            op = Operations(MigrationContext.configure(conn))
            for version in range(before + 1, target + 1):
                MIGRATIONS[version](op)
                _set_version(conn, version)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return before


def _set_version(conn: Connection, version: int) -> None:
    updated = conn.execute(
        sa.text("UPDATE protolabel_schema SET version = :v WHERE id = 1"), {"v": version}
    ).rowcount
    if not updated:
        conn.execute(
            sa.text("INSERT INTO protolabel_schema (id, version) VALUES (1, :v)"), {"v": version}
        )
