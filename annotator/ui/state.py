"""State a browser tab keeps across pages: the project it works on.

Streamlit drops a widget's state when a page without that widget runs, so the project lives
under a plain key (``CURRENT_PROJECT``) that the selector only mirrors. A tab opens on the
project named by ``?project=NAME``, else the one it last worked on, else the project labelled
in most recently, else the first it may see; the URL follows the choice, so it can be shared.
"""

from __future__ import annotations

import streamlit as st

from annotator import loop

CURRENT_PROJECT = "pl_current_project"
_SELECT_KEY = "pl_project"  # the sidebar selector (mirrors CURRENT_PROJECT)
_SEEN_QUERY = "pl_project_query"  # the ?project= value already applied


def set_project(name: str) -> None:
    """Make ``name`` the tab's project (the Projects page's "Open in Label")."""
    st.session_state[CURRENT_PROJECT] = name


def _take_selection() -> None:
    st.session_state[CURRENT_PROJECT] = st.session_state[_SELECT_KEY]


def choose_project(store, names: list[str]) -> str | None:
    """The sidebar's project selector over ``names`` (the projects this page may show)."""
    if not names:
        return None
    wanted = st.query_params.get("project")
    if wanted != st.session_state.get(_SEEN_QUERY):  # a link was opened: it wins once
        st.session_state[_SEEN_QUERY] = wanted
        if wanted in names:
            st.session_state[CURRENT_PROJECT] = wanted
    current = st.session_state.get(CURRENT_PROJECT)
    if current not in names:  # none yet, or one this page does not show (Review, say):
        recent = loop.most_recent_project(store)  # show another, keep the tab's own
        fallback = recent if recent in names else names[0]
        if current is None:
            st.session_state[CURRENT_PROJECT] = fallback
        current = fallback
    st.session_state[_SELECT_KEY] = current
    chosen = st.sidebar.selectbox("Project", names, key=_SELECT_KEY, on_change=_take_selection)
    if st.query_params.get("project") != chosen:
        st.query_params["project"] = chosen
        st.session_state[_SEEN_QUERY] = chosen
    return chosen
