"""AppTests of the Members page: the member table; add, change and remove in trust mode; a
logged-in non-owner refused; the last owner kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from annotator import services, teams
from annotator.config import Settings
from annotator.services import ImportOptions
from annotator.store.db import Store
from annotator.ui.pages import members as page
from annotator.ui.resources import get_store
from annotator.ui.state import CURRENT_PROJECT as PROJECT_KEY


def _page() -> None:
    from annotator.ui.pages import members

    members.main()


@pytest.fixture
def store(fresh_db: Path, tmp_path: Path) -> Iterator[Store]:
    store = Store.open(Settings.from_env(str(fresh_db)))
    path = tmp_path / "t.csv"
    pd.DataFrame({"review": ["a", "b"]}).to_csv(path, index=False)
    services.import_path(store, path, "texts", ImportOptions(text_col="review", labels="pos,neg"))
    yield store
    store.dispose()


def _app() -> AppTest:
    at = AppTest.from_function(_page, default_timeout=60)
    at.session_state[PROJECT_KEY] = "texts"
    return at


def _sidebar_texts(at: AppTest) -> list[str]:
    return [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]


def test_trust_mode_lists_adds_changes_and_removes(fresh_db: Path, store: Store) -> None:
    teams.set_role(store, "texts", "olga", "owner")
    at = _app().run()
    assert not at.exception
    assert any("Trust mode" in t for t in _sidebar_texts(at))
    assert any("Roles take effect where a login is configured" in c.value for c in at.caption)
    assert at.dataframe[0].value.to_dict("records") == [{"user": "olga", "role": "owner"}]

    at.text_input(key=page.NEW_USER_KEY).input(" bob ")
    at.selectbox(key=page.NEW_ROLE_KEY).select("reviewer")
    at.button(key="mb_add").click().run()
    assert not at.exception
    assert "bob is now a reviewer in texts" in at.success[0].value
    assert teams.members(store, "texts") == [("bob", "reviewer"), ("olga", "owner")]
    assert at.dataframe[0].value["user"].tolist() == ["bob", "olga"]
    assert at.text_input(key=page.NEW_USER_KEY).value == ""

    at.selectbox(key=page.MEMBER_KEY).select("bob").run()
    at.selectbox(key=page._role_key("bob")).select("owner")
    at.button(key="mb_change").click().run()
    assert not at.exception
    assert "bob is now an owner" in at.success[0].value
    assert teams.role_in(store, "texts", "bob") == "owner"

    at.selectbox(key=page.MEMBER_KEY).select("olga").run()
    at.button(key="mb_remove").click().run()
    assert not at.exception
    assert "Removed olga from texts" in at.success[0].value
    assert teams.members(store, "texts") == [("bob", "owner")]

    at.button(key="mb_remove").click().run()  # trust mode: even the last owner
    assert not at.exception
    assert teams.members(store, "texts") == []
    assert at.info[0].value.startswith("No members yet")


def test_empty_name_and_unknown_role_are_refused(fresh_db: Path, store: Store) -> None:
    at = _app().run()
    at.text_input(key=page.NEW_USER_KEY).input("   ")
    at.button(key="mb_add").click().run()
    assert not at.exception
    assert "a user name must have 1 to 200 characters" in at.error[0].value
    assert teams.members(store, "texts") == []
    kind, message = page.change_member(store, "texts", "bob", "admin", None)
    assert kind == "error" and "unknown role 'admin'" in message
    assert teams.members(store, "texts") == []


def test_a_logged_in_non_owner_sees_the_members_but_no_controls(
    fresh_db: Path, store: Store, login
) -> None:
    teams.set_role(store, "texts", "olga", "owner")
    teams.set_role(store, "texts", "rita", "reviewer")
    login("rita")
    at = _app().run()
    assert not at.exception
    assert not any("Trust mode" in t for t in _sidebar_texts(at))  # roles apply
    assert any("Only an owner of texts" in c.value for c in at.caption)
    assert at.dataframe[0].value["user"].tolist() == ["olga", "rita"]
    assert [b.label for b in at.button] == [
        "Log out"
    ] and not at.text_input  # no Add, Change, Remove
    app_store = get_store()  # the app's store: in login mode
    kind, message = page.change_member(
        app_store, "texts", "rita", "owner", teams.Identity("rita", True), login_required=True
    )
    assert kind == "error" and "'rita' is a reviewer in 'texts'" in message
    assert "only owners may change the project's settings and members" in message
    kind, message = page.change_member(app_store, "texts", "mallory", "annotator",
                                       teams.Identity("rita", True), login_required=True)  # fmt: skip
    assert kind == "error" and "only owners" in message
    assert teams.members(store, "texts") == [("olga", "owner"), ("rita", "reviewer")]


def test_a_logged_in_owner_keeps_the_last_owner(fresh_db: Path, store: Store, login) -> None:
    teams.set_role(store, "texts", "olga", "owner")
    login("olga")
    at = _app().run()
    at.button(key="mb_remove").click().run()  # olga removes herself: the last owner
    assert not at.exception
    assert "'olga' is the last owner of 'texts'" in at.error[0].value
    at.selectbox(key=page._role_key("olga")).select("reviewer")
    at.button(key="mb_change").click().run()
    assert "last owner" in at.error[0].value
    assert teams.members(store, "texts") == [("olga", "owner")]

    at.text_input(key=page.NEW_USER_KEY).input("bob")
    at.selectbox(key=page.NEW_ROLE_KEY).select("owner")
    at.button(key="mb_add").click().run()
    at.selectbox(key=page.MEMBER_KEY).select("olga").run()
    at.selectbox(key=page._role_key("olga")).select("reviewer")
    at.button(key="mb_change").click().run()  # another owner now: olga may step down
    assert not at.exception
    assert teams.members(store, "texts") == [("bob", "owner"), ("olga", "reviewer")]


def test_nobody_logged_in_sees_nothing_and_cannot_edit(fresh_db: Path, store: Store, login) -> None:
    login(None)
    at = _app().run()
    assert not at.exception
    assert not at.dataframe and not at.button  # no project is listed to anybody
    kind, message = page.change_member(get_store(), "texts", "bob", "owner", None,
                                       login_required=True)  # fmt: skip
    assert kind == "error" and "Log in to change the members" in message
    assert teams.members(store, "texts") == []
