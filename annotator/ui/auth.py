"""Login for the app: Streamlit's OIDC support (``st.login``) when ``[auth]`` is configured in
``.streamlit/secrets.toml``; otherwise single-user trust mode with a typed name.

In trust mode the name is remembered per browser: the label card writes it to the cookie
``NAME_COOKIE`` and a new browser session (a reload, a new tab) starts with it. Once a name is
set, the sidebar shows it with a "Change name" button instead of a text field, so key presses
go to the label card rather than into the field.
"""

from __future__ import annotations

from urllib.parse import unquote

import streamlit as st

from annotator import teams
from annotator.ui.text import escape_markdown

#: The name in force (plain session state, not a widget key: it outlives the text field).
NAME_KEY = "pl_annotator"
NAME_INPUT_KEY = "pl_annotator_input"
EDITING_KEY = "pl_annotator_editing"
#: The browser cookie that remembers the trust-mode name (written by the label card).
NAME_COOKIE = "protolabel_name"


def login_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all: not configured
        return False


def logged_in() -> bool:
    """Whether this browser session has logged in (False before any login information)."""
    try:
        return bool(st.user.is_logged_in)
    except (AttributeError, KeyError):
        return False


def _claims() -> dict:
    """The logged-in user's OIDC claims."""
    return st.user.to_dict()


def current_identity() -> teams.Identity | None:
    """Who acts in this browser session, drawing nothing: where a login is configured the
    logged-in user (None before a login), else the trust-mode name (None before one)."""
    if login_configured():
        if not logged_in():
            return None
        return teams.identity(logged_in=True, claims=_claims())
    name = st.session_state.get(NAME_KEY) or remembered_name()
    return teams.identity(logged_in=False, typed_name=name)


def sidebar_identity() -> teams.Identity | None:
    """Show the login state in the sidebar and return who is labelling (None: nobody yet)."""
    if login_configured():
        if not logged_in():
            st.button("Log in", on_click=st.login, icon=":material/login:")
            return None
        who = teams.identity(logged_in=True, claims=_claims())
        if who is not None:
            st.caption(f"Signed in as **{escape_markdown(who.name)}**")
        st.button("Log out", on_click=st.logout, icon=":material/logout:")
        return who
    st.badge("Trust mode", icon=":material/lock_open:", color="orange")
    st.caption("No login configured: a typed name, no role checks (single user or a trusted team).")
    return teams.identity(logged_in=False, typed_name=_typed_name())


def _typed_name() -> str:
    if NAME_KEY not in st.session_state:
        st.session_state[NAME_KEY] = remembered_name()
    name = st.session_state[NAME_KEY]
    if name and not st.session_state.get(EDITING_KEY):
        st.markdown(f"Labelling as **{escape_markdown(name)}**")
        st.button("Change name", on_click=_edit_name, icon=":material/edit:")
        return name
    st.text_input(
        "Your name", value=name, key=NAME_INPUT_KEY, on_change=_commit_name,
        placeholder="your name, then Enter",
    )  # fmt: skip
    return name


def remembered_name() -> str:
    """The trust-mode name this browser used last ("" if none)."""
    try:
        raw = st.context.cookies.get(NAME_COOKIE)
    except Exception:  # noqa: BLE001 - no request context: nothing remembered
        return ""
    return unquote(raw).strip()[:200] if isinstance(raw, str) else ""


def _edit_name() -> None:
    st.session_state[EDITING_KEY] = True


def _commit_name() -> None:
    typed = (st.session_state.get(NAME_INPUT_KEY) or "").strip()
    if typed:
        st.session_state[NAME_KEY] = typed[:200]
        st.session_state[EDITING_KEY] = False
