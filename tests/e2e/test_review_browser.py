"""The Review page in a real browser: a disagreement is adjudicated with one key press."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from annotator import loop
from annotator.config import Settings, normalize_db_url
from annotator.demo import DIGITS, ensure_demo
from annotator.store.db import Store
from tests.deciding import decide_one
from tests.e2e.harness import ARTIFACTS, start_server, stop_server

pytestmark = pytest.mark.e2e


def _adjudications(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT i.external_id, a.label, a.reviewer FROM adjudications a "
            "JOIN items i ON i.id = a.item_id ORDER BY a.id"
        ).fetchall()


def test_disagreement_adjudicated_with_a_key(tmp_path: Path, browser_page) -> None:
    db = tmp_path / "review.db"
    store = Store.open(Settings(db_url=normalize_db_url(str(db))))
    try:  # the digits demo, one item labelled 3 by ann and 5 by bob: a split
        ensure_demo(store)
        loop.configure(store, DIGITS, overlap=2)
        decide_one(store, DIGITS, "ann", "digit-0003", "3")
        decide_one(store, DIGITS, "bob", "digit-0003", "5")
    finally:
        store.dispose()
    server = start_server(db, tmp_path / "server.log")
    page = browser_page
    try:
        page.goto(server.url + "/review")
        page.get_by_label("Reviewer").fill("rita")
        page.keyboard.press("Enter")
        page.get_by_text("annotators are split", exact=False).first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Next").wait_for(timeout=30_000)  # buttons drawn
        page.locator("h1").first.click()  # focus the page, not the name field
        page.keyboard.press("3")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _adjudications(db):
            time.sleep(0.2)
        assert _adjudications(db) == [("digit-0003", "3", "rita")]
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review_failure.png"), full_page=True)
        raise
    finally:
        stop_server(server)
