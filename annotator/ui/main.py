"""The app's frame: page config and navigation. Pages live in ``annotator.ui.pages``."""

from __future__ import annotations

import streamlit as st

from annotator.ui import auth
from annotator.ui.pages import (
    compare,
    export,
    label,
    labelset,
    members,
    model,
    projects,
    review,
)
from annotator.ui.resources import get_workers, warm_up


def pages() -> dict[str, st.Page]:
    """The app's pages by name (``st.Page`` objects, also for ``st.page_link``)."""
    return {
        "projects": st.Page(  # the default page: Streamlit serves it at "/" only
            projects.main, title="Projects", icon=":material/folder:", default=True
        ),
        "label": st.Page(label.main, title="Label", icon=":material/label:", url_path="label"),
        "labelset": st.Page(
            labelset.main, title="Label set", icon=":material/category:", url_path="labelset"
        ),
        "model": st.Page(model.main, title="Model", icon=":material/insights:", url_path="model"),
        "review": st.Page(
            review.main, title="Review", icon=":material/rate_review:", url_path="review"
        ),
        "members": st.Page(
            members.main, title="Members", icon=":material/group:", url_path="members"
        ),
        "export": st.Page(
            export.main, title="Export", icon=":material/download:", url_path="export"
        ),
        "compare": st.Page(
            compare.main, title="Compare", icon=":material/monitoring:", url_path="compare"
        ),
    }


def login_prompt() -> None:
    """All an anonymous visitor sees where a login is configured: no project data at all."""
    st.title("protolabel")
    st.info("Log in to see and label the projects you are a member of.")
    st.button("Log in", on_click=st.login, icon=":material/login:", type="primary")


def main() -> None:
    # However the app is started (protolabel app, make run, streamlit run app.py): an error
    # shows its message, never a traceback with the server's paths.
    st.set_option("client.showErrorDetails", "none")
    st.set_page_config(page_title="protolabel", page_icon=":label:", layout="wide")
    if auth.login_configured() and not auth.logged_in():
        login_prompt()  # every page, every URL: nothing is read before a login
        return
    get_workers()  # once per server: resumes retrains that a stopped server left pending
    warm_up()
    st.navigation(list(pages().values())).run()
