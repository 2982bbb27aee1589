"""Login for the app: Streamlit's OIDC support (``st.login``) when ``[auth]`` is configured in
``.streamlit/secrets.toml``; otherwise single-user trust mode with a typed name."""

from __future__ import annotations

import streamlit as st

from annotator import teams

NAME_KEY = "pl_annotator"


def login_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all: not configured
        return False


def sidebar_identity() -> teams.Identity | None:
    """Show the login state in the sidebar and return who is labelling (None: nobody yet)."""
    if login_configured():
        if not st.user.is_logged_in:
            st.button("Log in", on_click=st.login, icon=":material/login:")
            return None
        who = teams.identity(logged_in=True, claims=st.user.to_dict())
        if who is not None:
            st.caption(f"Signed in as **{who.name}**")
        st.button("Log out", on_click=st.logout, icon=":material/logout:")
        return who
    st.badge("Trust mode", icon=":material/lock_open:", color="orange")
    st.caption("No login configured: a typed name, no role checks (single user or a trusted team).")
    typed = st.text_input("Your name", key=NAME_KEY, placeholder="who is labelling?")
    return teams.identity(logged_in=False, typed_name=typed)
