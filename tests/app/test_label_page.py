"""The Label page in AppTest: the card's key presses arrive as events in its state."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from annotator import session
from annotator.config import Settings
from annotator.store.db import Store
from annotator.ui.card import CARD_KEY
from annotator.ui.pages.label import OWNER_KEY

LABEL_APP = str(Path(__file__).with_name("label_app.py"))


@pytest.fixture
def page(fresh_db: Path) -> AppTest:
    at = AppTest.from_file(LABEL_APP, default_timeout=120).run()
    assert not at.exception
    assert "Type your name" in at.warning[0].value
    at.sidebar.text_input[0].input("alice").run()
    assert not at.exception
    return at


def _store(db: Path) -> Store:
    return Store.open(Settings.from_env(str(db)))


def _queue(at: AppTest, db: Path) -> list[session.QueuedItem]:
    store = _store(db)
    try:
        return session.claim_next(store, "digits", at.session_state[OWNER_KEY], plan=False)
    finally:
        store.dispose()


def _press(at: AppTest, events: list[dict]) -> None:
    at.session_state[CARD_KEY] = {"events": events}
    at.run()
    assert not at.exception


def test_label_five_skip_and_undo(page: AppTest, fresh_db: Path) -> None:
    queue = _queue(page, fresh_db)
    assert len(queue) >= 6
    events = [
        {"id": f"e{i}", "type": "label", "item": it.item_id, "label": str(i)}
        for i, it in enumerate(queue[:5])
    ]
    events.append({"id": "e5", "type": "skip", "item": queue[5].item_id})
    _press(page, events)
    store = _store(fresh_db)
    try:
        p = session.progress(store, "digits")
        assert (p.labelled, p.skipped) == (5, 1)
        history = session.history(store, "digits")
        assert [h.label for h in history] == [None, "4", "3", "2", "1", "0"]
        assert history[1].annotator == "alice"
        # undo the last label (the card sends all unacknowledged events again, plus the undo)
        _press(
            page, [*events, {"id": "e6", "type": "undo", "item": queue[4].item_id, "target": "e4"}]
        )
        p = session.progress(store, "digits")
        assert (p.labelled, p.skipped) == (4, 1)
        assert _queue(page, fresh_db)[0].item_id == queue[4].item_id  # shown again first
    finally:
        store.dispose()


def test_replayed_events_are_applied_once(page: AppTest, fresh_db: Path) -> None:
    queue = _queue(page, fresh_db)
    events = [{"id": "x1", "type": "label", "item": queue[0].item_id, "label": "7"}]
    _press(page, events)
    _press(page, events)
    store = _store(fresh_db)
    try:
        assert session.progress(store, "digits").labelled == 1
    finally:
        store.dispose()


def test_sidebar_changes_strategy_and_batch(page: AppTest, fresh_db: Path) -> None:
    page.sidebar.selectbox[1].select("margin").run()
    page.sidebar.number_input[0].set_value(25).run()
    assert not page.exception
    store = _store(fresh_db)
    try:
        from annotator.store import queries

        with store.read() as s:
            p = queries.get_project(s, "digits")
            assert (p.strategy, p.batch_size) == ("margin", 25)
    finally:
        store.dispose()


def test_bad_event_is_reported_not_crashing(page: AppTest) -> None:
    _press(page, [{"id": "bad", "type": "explode", "item": 1}])
    assert "unknown card event type" in page.error[0].value


def test_without_a_login_the_page_says_trust_mode_and_sets_the_overlap(
    page: AppTest, fresh_db: Path
) -> None:
    texts = [m.value for m in page.sidebar.markdown] + [c.value for c in page.sidebar.caption]
    assert any("Trust mode" in t for t in texts), texts
    (overlap,) = [n for n in page.sidebar.number_input if n.label == "Overlap"]
    overlap.set_value(2).run()
    assert not page.exception
    store = _store(fresh_db)
    try:
        from annotator.store import queries

        with store.read() as s:
            assert queries.get_project(s, "digits").overlap == 2
    finally:
        store.dispose()


def test_the_semi_supervised_switch_is_a_project_setting(page: AppTest, fresh_db: Path) -> None:
    (switch,) = [t for t in page.sidebar.toggle if t.label == "Semi-supervised prototypes"]
    assert switch.value is True  # the digits demo has it on
    switch.set_value(False).run()
    assert not page.exception
    store = _store(fresh_db)
    try:
        from annotator.store import queries

        with store.read() as s:
            assert queries.get_project(s, "digits").semi_supervised is False
    finally:
        store.dispose()
