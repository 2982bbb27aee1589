"""AppTest fixtures: a fresh SQLite database per test, the app's shared resources reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotator.ui import auth
from annotator.ui.resources import get_store, get_workers

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "app.db"
    monkeypatch.setenv("PROTOLABEL_DB", str(db))
    monkeypatch.delenv("PROTOLABEL_DATA_DIR", raising=False)
    get_store.clear()
    get_workers.clear()
    yield db
    try:
        get_workers().stop_all()
    finally:
        get_workers.clear()
        get_store.clear()


@pytest.fixture
def login(fresh_db: Path, monkeypatch: pytest.MonkeyPatch):
    """Stand in for Streamlit's OIDC login: ``login("olga")`` configures a login with olga
    logged in (her e-mail claim is her name); ``login(None)``: configured, nobody logged in.
    The app's store is reopened in login mode."""

    def as_user(name: str | None) -> None:
        monkeypatch.setattr(auth, "login_configured", lambda: True)
        monkeypatch.setattr(auth, "logged_in", lambda: name is not None)
        monkeypatch.setattr(auth, "_claims", lambda: {"email": name} if name else {})
        get_store.clear()

    return as_user
