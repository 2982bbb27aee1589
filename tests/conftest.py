"""Shared fixtures. Store tests run on SQLite and, when PROTOLABEL_TEST_PG_URL is set, on
PostgreSQL too; with the URL set, a connection failure fails the test instead of skipping it."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from annotator.config import Settings, normalize_db_url
from annotator.store.db import Store

PG_URL_ENV = "PROTOLABEL_TEST_PG_URL"


@functools.cache
def _worker_database(url: str) -> str:
    """Under pytest-xdist (``make test`` runs two workers), each worker gets its own database
    beside the configured one (``protolabel_test_gw1``, say), created on first use (looked up
    once per worker), so two workers never drop each other's schema."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = sa.make_url(url)
    name = f"{base.database}_{worker}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}
            ).first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for an empty database of each backend."""
    if request.param == "sqlite":
        return Settings(db_url=normalize_db_url(str(tmp_path / "test.db")))
    raw = os.environ.get(PG_URL_ENV)
    if not raw:
        pytest.skip(f"{PG_URL_ENV} not set: PostgreSQL tests skipped")
    url = _worker_database(normalize_db_url(raw))
    _reset_postgres(url)
    return Settings(db_url=url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings)
    yield store
    store.dispose()
