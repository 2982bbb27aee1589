"""AppTest fixtures: a fresh SQLite database per test, the app's shared resources reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
