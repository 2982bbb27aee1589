"""The Label page in AppTest: the card's key presses arrive as events in its state."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from annotator import loop
from annotator.config import Settings
from annotator.store.db import Store
from annotator.ui.auth import NAME_COOKIE, NAME_KEY
from annotator.ui.card import CARD_KEY

LABEL_APP = str(Path(__file__).with_name("label_app.py"))
TAB = "apptesttab01"


@pytest.fixture
def page(fresh_db: Path) -> AppTest:
    at = AppTest.from_file(LABEL_APP, default_timeout=120).run()
    assert not at.exception
    assert "Type your name" in at.warning[0].value
    at.sidebar.text_input[0].input("alice").run()
    assert not at.exception
    _sync(at, [])  # the card reports its tab: the server reserves its items
    return at


def _store(db: Path) -> Store:
    return Store.open(Settings.from_env(str(db)))


def _queue(db: Path) -> list[loop.QueuedItem]:
    store = _store(db)
    try:
        return loop.lease(store, "digits", TAB, annotator="alice", plan=False, release=()).items
    finally:
        store.dispose()


def _sync(at: AppTest, events: list[dict], *, shown: int | None = None, seen: int = 0) -> None:
    """What the card sends: its tab, the item on screen and every unacknowledged event."""
    at.session_state[CARD_KEY] = {
        "sync": {"project": "digits", "tab": TAB, "seen": seen, "shown": shown, "events": events}
    }
    at.run()
    assert not at.exception


def test_label_five_skip_and_undo(page: AppTest, fresh_db: Path) -> None:
    queue = _queue(fresh_db)
    assert len(queue) >= 6
    events = [
        {"id": f"e{i}", "type": "label", "item": it.item_id, "label": str(i)}
        for i, it in enumerate(queue[:5])
    ]
    events.append({"id": "e5", "type": "skip", "item": queue[5].item_id})
    _sync(page, events, shown=queue[6].item_id)
    store = _store(fresh_db)
    try:
        p = loop.progress(store, "digits")
        assert (p.labelled, p.skipped) == (5, 1)
        history = loop.history(store, "digits")
        assert [h.label for h in history] == [None, "4", "3", "2", "1", "0"]
        assert history[1].annotator == "alice"
        # undo the last label (the card sends all unacknowledged events again, plus the undo)
        undo = {"id": "e6", "type": "undo", "item": queue[4].item_id, "target": "e4"}
        _sync(page, [*events, undo], shown=queue[4].item_id)
        p = loop.progress(store, "digits")
        assert (p.labelled, p.skipped) == (4, 1)
        assert _queue(fresh_db)[0].item_id == queue[4].item_id  # shown again first
    finally:
        store.dispose()


def test_replayed_events_are_applied_once(page: AppTest, fresh_db: Path) -> None:
    queue = _queue(fresh_db)
    events = [{"id": "x1", "type": "label", "item": queue[0].item_id, "label": "7"}]
    _sync(page, events)
    _sync(page, events)
    store = _store(fresh_db)
    try:
        assert loop.progress(store, "digits").labelled == 1
    finally:
        store.dispose()


def test_a_refused_event_is_acknowledged_with_its_reason(page: AppTest, fresh_db: Path) -> None:
    queue = _queue(fresh_db)
    bad = {"id": "r1", "type": "label", "item": queue[0].item_id, "label": "not-a-digit"}
    ok = {"id": "r2", "type": "label", "item": queue[1].item_id, "label": "4"}
    _sync(page, [bad, ok])
    store = _store(fresh_db)
    try:  # the refusal does not hold back the events after it
        assert [h.label for h in loop.history(store, "digits")] == ["4"]
    finally:
        store.dispose()


def test_the_item_on_screen_is_marked_shown(page: AppTest, fresh_db: Path) -> None:
    from sqlalchemy import select

    from annotator.store.models import QueueEntry

    queue = _queue(fresh_db)
    _sync(page, [], shown=queue[0].item_id)
    store = _store(fresh_db)
    try:
        with store.read() as s:
            shown = s.scalars(select(QueueEntry.item_id).where(QueueEntry.shown_at.is_not(None)))
            assert list(shown) == [queue[0].item_id]
    finally:
        store.dispose()


def test_the_name_is_kept_and_changed_with_one_click(page: AppTest) -> None:
    assert not page.sidebar.text_input  # the field is gone: keys go to the card
    assert any("alice" in m.value for m in page.sidebar.markdown)
    (change,) = [b for b in page.sidebar.button if b.label == "Change name"]
    change.click().run()
    (field,) = page.sidebar.text_input
    assert field.value == "alice"
    field.input("bob").run()
    assert not page.exception
    assert page.session_state[NAME_KEY] == "bob"
    assert not page.sidebar.text_input


def test_a_remembered_name_is_prefilled(fresh_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from annotator.ui import auth

    monkeypatch.setattr(auth, "remembered_name", lambda: "carol")
    at = AppTest.from_file(LABEL_APP, default_timeout=120).run()
    assert not at.exception
    assert at.session_state[NAME_KEY] == "carol"
    assert not at.warning  # no "type your name": the card is there
    assert NAME_COOKIE == "protolabel_name"


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
    at = page
    at.session_state[CARD_KEY] = {
        "sync": {
            "project": "digits",
            "tab": TAB,
            "events": [{"id": "b", "type": "explode", "item": 1}],
        }
    }
    at.run()
    assert "unknown card event type" in at.error[0].value


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
