"""Schema creation and upgrade on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from annotator.config import Settings
from annotator.errors import DatabaseError
from annotator.store import migrations
from annotator.store.db import Store
from annotator.store.models import SCHEMA_VERSION, Base


def _version(store: Store) -> int:
    with store.engine.connect() as conn:
        return migrations.current_version(conn)


def test_fresh_database_gets_current_schema(store: Store) -> None:
    assert _version(store) == SCHEMA_VERSION


def test_migrations_produce_exactly_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models.py and migrations.py disagree: {diff}"


def test_version_1_database_upgrades_and_keeps_data(settings: Settings) -> None:
    old = Store(settings)
    migrations.upgrade(old.write_engine, target=1)
    with old.write_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO projects (name, labels, data_kind, featurizer, feature_dim,"
                " features_version, instructions, source_info, archived, created_at)"
                " VALUES ('old', '[\"a\", \"b\"]', 'text', 'tfidf', 0, 0, '', '{}', false,"
                " CURRENT_TIMESTAMP)"
            )
        )
    old.dispose()

    store = Store.open(settings)
    try:
        assert _version(store) == SCHEMA_VERSION
        with store.read() as session:
            from annotator.store.queries import get_project

            project = get_project(session, "old")
            assert project.labels == ["a", "b"]
            assert project.strategy == "auto" and project.batch_size == 10
    finally:
        store.dispose()


def test_newer_database_is_refused(settings: Settings) -> None:
    store = Store.open(settings)
    with store.write_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE protolabel_schema SET version = :v"), {"v": SCHEMA_VERSION + 1}
        )
    store.dispose()
    with pytest.raises(DatabaseError, match="newer than this protolabel"):
        Store.open(settings).dispose()


def test_two_processes_opening_a_new_database_upgrade_once(settings: Settings) -> None:
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store.open(settings).dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = Store(settings)
    assert _version(store) == SCHEMA_VERSION
    store.dispose()


def _old_database(settings: Settings, *, version: int) -> Store:
    """A database at schema ``version`` with one text project, 'old' (id 1)."""
    old = Store(settings)
    migrations.upgrade(old.write_engine, target=version)
    with old.write_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO projects (name, labels, data_kind, featurizer, feature_dim,"
                " features_version, instructions, source_info, archived, created_at, strategy,"
                " batch_size) VALUES ('old', '[\"a\"]', 'text', 'tfidf', 0, 0, '', '{}', false,"
                " CURRENT_TIMESTAMP, 'auto', 10)"
            )
        )
    return old


def test_version_4_queue_upgrades_to_slots(settings: Settings) -> None:
    old = _old_database(settings, version=4)
    with old.write_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO items (project_id, external_id, row, content_hash, created_at)"
                " VALUES (1, 'x', 0, 'h', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO queue (project_id, item_id, round, position, strategy, stale, owner,"
                " created_at) VALUES (1, 1, 1, 0, 'random', false, 'tab', CURRENT_TIMESTAMP)"
            )
        )
    old.dispose()
    store = Store.open(settings)
    try:
        with store.read() as session:
            from annotator.store.models import Project, QueueEntry

            entry = session.scalar(sa.select(QueueEntry))
            assert (entry.slot, entry.owner, entry.annotator) == (0, "tab", None)
            assert session.scalar(sa.select(Project.overlap)) == 1
    finally:
        store.dispose()


def test_version_8_records_what_was_served_from_slots_and_decisions(settings: Settings) -> None:
    old = _old_database(settings, version=8)
    with old.write_engine.begin() as conn:
        for i in (1, 2, 3):
            conn.execute(
                sa.text(
                    "INSERT INTO items (project_id, external_id, row, content_hash, created_at)"
                    " VALUES (1, :x, :r, 'h', CURRENT_TIMESTAMP)"
                ),
                {"x": f"x{i}", "r": i - 1},
            )
        conn.execute(  # item 1 held by alice, item 3 waiting in the shared queue
            sa.text(
                "INSERT INTO queue (project_id, item_id, round, position, strategy, stale, owner,"
                " annotator, claimed_at, created_at, slot) VALUES"
                " (1, 1, 2, 0, 'auto', false, 'tab', 'alice', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, 0),"
                " (1, 3, 2, 1, 'auto', false, NULL, NULL, NULL, CURRENT_TIMESTAMP, 0)"
            )
        )
        conn.execute(  # item 2 decided by bob
            sa.text(
                "INSERT INTO annotations (project_id, item_id, label, annotator, created_at,"
                " round, stale) VALUES (1, 2, 'a', 'bob', CURRENT_TIMESTAMP, 1, false)"
            )
        )
    old.dispose()
    store = Store.open(settings)
    try:
        with store.read() as session:
            from annotator.store.models import Served

            served = session.execute(
                sa.select(Served.item_id, Served.annotator, Served.round).order_by(Served.item_id)
            ).all()
        assert served == [(1, "alice", 2), (2, "bob", 1)]
    finally:
        store.dispose()
