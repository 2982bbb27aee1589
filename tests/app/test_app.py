"""The app in Streamlit's AppTest: starts on a fresh database, creates the demo, lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from annotator.ui.resources import get_store
from tests.app.conftest import APP


def test_app_creates_demo_and_lists_projects(fresh_db: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert fresh_db.exists()
    table = at.dataframe[0].value
    row = table.set_index("project").loc["digits"]
    assert (row["items"], row["labelled"], row["kind"]) == (1797, 0, "image")
    import streamlit as st

    assert st.get_option("client.showErrorDetails") == "none"  # however the app is started


def test_the_upload_limit_reaches_the_file_uploader(
    fresh_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROTOLABEL_MAX_UPLOAD_MB", "700")
    monkeypatch.setenv("PROTOLABEL_MAX_IMPORT_MB", "900")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    (uploader,) = at.get("file_uploader")
    assert uploader.proto.max_upload_size_mb == 700


def test_app_started_twice_keeps_one_demo(fresh_db: Path) -> None:
    AppTest.from_file(APP, default_timeout=120).run()
    get_store.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert list(at.dataframe[0].value["project"]) == ["digits"]


def test_where_a_login_is_configured_anonymous_visitors_see_only_the_login_prompt(
    fresh_db: Path, login
) -> None:
    login(None)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.dataframe and not at.get("file_uploader")  # no project is listed
    assert not fresh_db.exists()  # not even the database was opened
