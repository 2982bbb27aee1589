"""Engine and sessions. Nothing connects at import time: build a ``Store`` and call ``open``.

SQLite runs in WAL mode with foreign keys on and a busy timeout; write transactions begin
with ``BEGIN IMMEDIATE`` so two writers queue instead of failing on a lock upgrade, while
read transactions stay deferred and never block a writer. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from annotator.config import Settings
from annotator.errors import DatabaseError, DatabaseUnavailableError
from annotator.store import migrations

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_SIZE_LIMIT = 4 * 1024 * 1024
_IMMEDIATE = "protolabel_sqlite_immediate"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (SQLAlchemy's recipe)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        _enable_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        # A long-running server never closes its last connection, so the WAL is never deleted:
        # truncate it to this size each time a checkpoint resets it, so a large transaction (or
        # one that failed on a full disk) does not leave a large file behind for good.
        cur.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enable_wal(cursor) -> None:  # noqa: ANN001
    """Switch the file to WAL (persistent). Several processes opening a brand-new file race
    for the exclusive lock this needs, and SQLite reports "locked" without waiting: retry."""
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def create_engine(settings: Settings) -> Engine:
    """The engine for ``settings.db_url``; creates the SQLite file's folder if needed."""
    path = settings.sqlite_path
    if path is not None:
        if path.is_dir():
            raise DatabaseError(f"database path {path} is a folder, not a file")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(settings.db_url, pool_pre_ping=not settings.is_sqlite)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise DatabaseError(f"cannot use database URL {settings.db_url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _reason(exc: OperationalError) -> str:
    """The driver's first line (``database is locked``), without SQL or parameters."""
    return str(exc.orig).strip().splitlines()[0][:200] if exc.orig is not None else "unavailable"


class Store:
    """One database: its engine, a read and a write sessionmaker, and where features live."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self.write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Connect, and create or upgrade the schema."""
        store = cls(settings)
        store.upgrade()
        return store

    def upgrade(self) -> int:
        """Create or upgrade the schema; an up-to-date database is only read (no write lock,
        so read-only commands never wait for a writer)."""
        try:
            with self.engine.connect() as conn:  # deferred: no writer lock for a look
                version = migrations.current_version(conn)
            if version == migrations.SCHEMA_VERSION:
                return version
            return migrations.upgrade(self.write_engine)
        except OperationalError as exc:
            raise DatabaseError(f"cannot open database {self.url_for_humans}: {exc.orig}") from exc

    @property
    def url_for_humans(self) -> str:
        """The URL without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction rolled back) at the end.

        Objects loaded in it stay readable afterwards (closing detaches, it does not expire).
        """
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One user action: commits on success, rolls back and re-raises on any error.

        A database that cannot take the write (locked past the busy timeout, disk full) is a
        ``DatabaseUnavailableError`` with the database's own one-line reason, never the SQL
        statement or its parameters.
        """
        try:
            with self._write.begin() as session:
                yield session
        except OperationalError as exc:
            raise DatabaseUnavailableError(
                f"database {self.url_for_humans} cannot take the change now "
                f"({_reason(exc)}); nothing was written, try again"
            ) from None

    def features_dir(self) -> Path | None:
        """Folder of the feature cache files; None means they live in the database."""
        if self.settings.data_dir is not None:
            return self.settings.data_dir
        path = self.settings.sqlite_path
        if path is not None:
            return path.with_name(path.name + ".features")
        return None

    def dispose(self) -> None:
        self.engine.dispose()
