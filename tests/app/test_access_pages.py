"""AppTests of issue #13's access matrix on the pages, with a login configured: what each of a
non-member, an annotator, a reviewer and an owner is shown and offered on every page, and that
what a page offers works (the services check again: ``tests/integration/test_access.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from annotator import services, simulation, teams
from annotator.config import Settings
from annotator.services import ImportOptions
from annotator.store import queries
from annotator.store.db import Store
from tests.app.conftest import APP

P = "texts"
ROLES = {"ann": "annotator", "rita": "reviewer", "olga": "owner"}


def _page(name: str) -> None:
    import importlib

    importlib.import_module(f"annotator.ui.pages.{name}").main()


def _run(name: str) -> AppTest:
    at = AppTest.from_function(_page, args=(name,), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def store(fresh_db: Path, tmp_path: Path) -> Iterator[Store]:
    store = Store.open(Settings.from_env(str(fresh_db)))
    path = tmp_path / "t.csv"
    rows = [{"review": f"{w} {i}", "label": w} for i in range(6) for w in ("good", "bad")]
    pd.DataFrame(rows).to_csv(path, index=False)
    services.import_path(store, path, P, ImportOptions(text_col="review", label_col="label"))
    for user, role in ROLES.items():
        teams.set_role(store, P, user, role)
    yield store
    store.dispose()


@pytest.fixture
def saved_run(store: Store) -> None:
    """A stored comparison that replays the project (a small real run, filed under it)."""
    config = simulation.SimulationConfig(
        data="demo:digits", strategies=("random",), seeds=1, budget=20, test_size=50,
        learner="logreg",
    )  # fmt: skip
    results = simulation.run_simulation(config)
    results["config"]["data"] = f"project:{P}"
    simulation.save_results(store, results)


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "info", "caption", "markdown", "warning")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def _labels(widgets) -> list[str]:
    return [w.label for w in widgets]


def test_the_whole_app_for_a_logged_in_user_lists_only_their_projects(store: Store, login) -> None:
    login("nina")  # logged in, a member of nothing
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert not at.dataframe  # no project listed, not even the demo (none in login mode)
    assert "not a member of any project yet" in _texts(at)
    assert at.get("file_uploader")  # but may create one
    login("ann")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert list(at.dataframe[0].value["project"]) == [P]


@pytest.mark.parametrize("user", ["nina", "ann", "rita", "olga"])
def test_projects_page(store: Store, login, user: str) -> None:
    login(user)
    at = _run("projects")
    buttons = _labels(at.button)
    if user == "nina":
        assert not at.dataframe and "Open in Label" not in buttons
        return
    assert list(at.dataframe[0].value["project"]) == [P]
    assert "Open in Label" in buttons
    owner_only = {"Archive", "Rename", "Delete"}
    if user != "olga":
        assert not owner_only & set(buttons)
        assert "Only the project's owners may rename, archive or delete it." in _texts(at)
        return
    assert owner_only <= set(buttons)
    at.button(key="pl_archive").click().run()
    assert not at.exception
    with store.read() as s:
        assert queries.get_project(s, P).archived


@pytest.mark.parametrize("user", ["nina", "ann", "rita", "olga"])
def test_label_page(store: Store, login, user: str) -> None:
    login(user)
    at = _run("label")
    if user == "nina":
        assert "not a member of any project" in _texts(at)
        return
    assert f"Label · {P}" in _texts(at)
    settings_shown = "Strategy" in _labels(at.selectbox)
    assert settings_shown == (user == "olga")  # only an owner changes the project's settings
    assert f"Role in this project: **{ROLES[user]}**" in [c.value for c in at.sidebar.caption]


@pytest.mark.parametrize("user", ["nina", "ann", "rita", "olga"])
def test_label_set_page(store: Store, login, user: str) -> None:
    login(user)
    at = _run("labelset")
    if user == "nina":
        assert "in none" in _texts(at)
        return
    assert at.dataframe[0].value["label"].tolist() == ["bad", "good"]
    if user != "olga":
        assert "Add" not in _labels(at.button) and not at.text_area
        assert "Only the project's owners may change its label set" in _texts(at)
        return
    at.text_input(key="pl_add_label").input("meh").run()
    at.button(key="pl_add").click().run()
    assert not at.exception
    with store.read() as s:
        assert queries.get_project(s, P).labels == ["bad", "good", "meh"]


@pytest.mark.parametrize(
    ("page", "needed"), [("model", "annotator"), ("members", "annotator"),
                         ("review", "reviewer"), ("export", "reviewer")]
)  # fmt: skip
@pytest.mark.parametrize("user", ["nina", "ann", "rita", "olga"])
def test_pages_open_only_for_the_role_they_need(
    store: Store, login, page: str, needed: str, user: str
) -> None:
    login(user)
    at = _run(page)
    allowed = user != "nina" and teams.at_least(ROLES[user], needed)
    title = {"model": "Model", "members": "Members", "review": "Review", "export": "Export"}[page]
    assert (f"{title} · {P}" in _texts(at)) == allowed
    if not allowed:
        assert "in none" in _texts(at)
    if page == "export" and allowed:
        assert at.get("download_button")  # the reviewer's export is built and offered


@pytest.mark.parametrize("user", ["nina", "ann", "rita", "olga"])
def test_compare_offers_a_project_and_its_saved_runs_only_to_its_reviewers(
    store: Store, saved_run: None, login, user: str
) -> None:
    login(user)
    at = _run("compare")
    sources = at.selectbox[0].options
    reviewer = user in ("rita", "olga")
    assert (f"project:{P}" in sources) == reviewer
    assert "demo:digits" in sources
    past = [s for s in at.selectbox if s.label == "Past runs"]
    assert bool(past) == reviewer  # the only saved run replays the project


def test_the_label_page_never_opens_on_a_project_the_user_is_not_in(
    store: Store, login, tmp_path: Path
) -> None:
    from annotator import loop

    path = tmp_path / "s.csv"
    pd.DataFrame({"review": [f"x{i}" for i in range(6)]}).to_csv(path, index=False)
    services.import_path(store, path, "secret", ImportOptions(text_col="review", labels="a,b"))
    (item,) = loop.claim_next(store, "secret", "eve", n=1)
    loop.submit(store, "secret", item.item_id, "a", annotator="eve", owner="eve")
    assert loop.most_recent_project(store) == "secret"
    login("ann")
    at = _run("label")
    assert f"Label · {P}" in _texts(at) and "secret" not in _texts(at)
    assert at.sidebar.selectbox[0].options == [P]


@pytest.mark.parametrize("user", ["ann", "nina"])
def test_the_label_pages_own_sync_labels_in_login_mode_for_members_only(
    store: Store, login, monkeypatch: pytest.MonkeyPatch, user: str
) -> None:
    """The card's sync as the page runs it (``label._sync``: lease, then the card's events),
    with the app's login-mode store; AppTest alone never gets past the card's loading state."""
    from annotator import loop
    from annotator.errors import PermissionDeniedError
    from annotator.loop import card
    from annotator.ui.pages import label
    from annotator.ui.resources import get_store

    login(user)
    app_store = get_store()
    assert app_store.settings.login_required
    monkeypatch.setattr(label.st, "session_state", {label.DONE_KEY: set()})
    who = teams.Identity(user, authenticated=True)
    tab = card.TabSync()
    hello = card.CardSync.parse({"project": P, "tab": "tab-0001", "events": []})
    if user == "nina":  # not a member: no item is leased, nothing is written
        with pytest.raises(PermissionDeniedError, match="not a member"):
            label._sync(app_store, P, who, hello, tab)
        assert loop.history(store, P) == []
        return
    payload = label._sync(app_store, P, who, hello, tab)
    first = payload["items"][0]["id"]
    event = {"id": "e1", "type": "label", "item": first, "label": "good"}
    press = card.CardSync.parse(
        {"project": P, "tab": "tab-0001", "events": [event], "shown": first, "seen": 1}
    )
    payload = label._sync(app_store, P, who, press, tab)
    assert payload["acked"] == ["e1"]
    assert [(h.item_id, h.label, h.annotator) for h in loop.history(store, P)] == [
        (first, "good", "ann")
    ]
    # History: a member sees their own decisions; a removed member sees nothing more
    assert len(loop.history(app_store, P, who=who)) == 1
    teams.set_role(store, P, "ann", None)
    with pytest.raises(PermissionDeniedError):
        loop.history(app_store, P, who=who)


def test_a_page_that_cannot_show_the_tabs_project_does_not_take_it_away(
    store: Store, login, tmp_path: Path
) -> None:
    from annotator.ui.state import CURRENT_PROJECT

    path = tmp_path / "o.csv"
    pd.DataFrame({"review": [f"o{i}" for i in range(4)]}).to_csv(path, index=False)
    services.import_path(store, path, "other", ImportOptions(text_col="review", labels="a,b"))
    teams.set_role(store, "other", "ann", "reviewer")
    login("ann")  # annotator in texts, reviewer in other
    at = AppTest.from_function(_page, args=("review",), default_timeout=120)
    at.session_state[CURRENT_PROJECT] = P
    at.run()
    assert not at.exception
    assert "Review · other" in _texts(at)  # the one project this page may show
    assert at.session_state[CURRENT_PROJECT] == P  # the tab still works on texts
