"""The trainer lock: one trainer per project at a time, across every app instance; and the
planner lock, which queues claimers that would all choose the next batch at once.

PostgreSQL: session-level advisory locks held on a dedicated connection; the server drops them
when the holder's connection dies. SQLite: ``flock`` on files beside the database, which the
kernel releases the moment their holder exits, is killed or crashes, so a dead trainer never
blocks the next retrain. Only an SQLite database without a file (in memory) falls back to a row
in ``trainer_locks`` with an expiry.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

try:
    import fcntl
except ImportError:  # Windows: SQLite plans without the planner lock
    fcntl = None  # type: ignore[assignment]

from annotator.store.db import Store
from annotator.store.models import TrainerLock, utcnow

#: Advisory lock ids of trainers: this base plus the project id (one 64-bit key space,
#: apart from the two-key locks of annotators' claims and the migrations' key).
_PG_TRAINER_BASE = 0x7472_0000_0000  # "tr"
_PG_PLANNER_BASE = 0x706C_0000_0000  # "pl"
#: A crashed SQLite trainer's lock row stops counting after this long.
DEFAULT_TTL = timedelta(minutes=30)


def holder_id() -> str:
    """Who holds a lock: host, process and a random part (unique per call)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def trainer_lock(store: Store, project_id: int, *, ttl: timedelta = DEFAULT_TTL) -> Iterator[bool]:
    """Try to become the project's trainer; yields whether this caller got the lock.

    Never waits: a caller that gets False should skip training (another instance trains and
    its model version will be the newest).
    """
    if store.dialect == "postgresql":
        with _pg_lock(store, project_id) as got:
            yield got
        return
    path = _lock_file(store, project_id, "trainer")
    if path is not None and fcntl is not None:
        with _try_flock(path) as got:
            yield got
        return
    holder = holder_id()
    got = _sqlite_acquire(store, project_id, holder, ttl)
    try:
        yield got
    finally:
        if got:
            with store.write() as session:
                session.execute(
                    sa.delete(TrainerLock).where(
                        TrainerLock.project_id == project_id, TrainerLock.holder == holder
                    )
                )


@contextmanager
def _try_flock(path: Path) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path`` if nobody holds it (never waits)."""
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below; closing releases the lock
    except OSError:  # a read-only folder: nobody can train here anyway, let this one try
        yield True
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


@contextmanager
def _pg_lock(store: Store, project_id: int) -> Iterator[bool]:
    key = _PG_TRAINER_BASE + project_id
    with store.engine.connect() as conn:
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def _sqlite_acquire(store: Store, project_id: int, holder: str, ttl: timedelta) -> bool:
    now = utcnow()
    with store.write() as session:  # BEGIN IMMEDIATE: one writer decides at a time
        row = session.get(TrainerLock, project_id)
        if row is not None and row.expires_at > now:
            return False
        if row is None:
            session.add(TrainerLock(project_id=project_id, holder=holder, expires_at=now + ttl))
        else:
            row.holder, row.expires_at = holder, now + ttl
        return True


@contextmanager
def planner_lock(store: Store, project_id: int) -> Iterator[None]:
    """Wait until no other process is choosing a batch for the project.

    Without it, eight annotators who run dry together would all run the strategy at once and
    all but one would queue a partial or empty round. The waiter should claim again before
    planning: the holder has probably stocked the queue.

    PostgreSQL: a session-level advisory lock. SQLite (one machine): an exclusive ``flock`` on
    a file beside the database; the kernel releases it when the holder's file is closed or its
    process dies, so a crashed planner never wedges the others. The lock is always taken before
    any database transaction, never inside one, so it cannot deadlock with SQLite's writer lock.
    An in-memory database, or a system without ``fcntl``, plans without a lock.
    """
    if store.dialect == "postgresql":
        with _pg_planner_lock(store, project_id):
            yield
        return
    path = _lock_file(store, project_id, "planner")
    if path is None or fcntl is None:
        yield
        return
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below; closing releases the lock
    except OSError:  # a read-only folder: plan without the lock, as before
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def planner_lock_path(store: Store, project_id: int) -> Path | None:
    """The SQLite planner lock file of a project (None: no file-backed database)."""
    return _lock_file(store, project_id, "planner")


def _lock_file(store: Store, project_id: int, kind: str) -> Path | None:
    """``DB.<kind>-<project id>.lock`` beside an SQLite file (None: no file-backed database)."""
    db = store.settings.sqlite_path
    if db is None:
        return None
    return db.with_name(f"{db.name}.{kind}-{project_id}.lock")


@contextmanager
def _pg_planner_lock(store: Store, project_id: int) -> Iterator[None]:
    key = _PG_PLANNER_BASE + project_id
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
