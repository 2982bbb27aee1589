"""Members page (/members): a project's members and their roles; owners add, change and remove
them. The checks live in ``annotator.teams.set_role``: a logged-in user must be an owner and may
not remove or demote the last owner; in trust mode anyone may edit."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator import teams
from annotator.errors import ProtolabelError
from annotator.ui import auth, widgets
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown

IDENTITY_KEY = "mb_identity"
MESSAGE_KEY = "mb_message"
NEW_USER_KEY = "mb_new_user"
NEW_ROLE_KEY = "mb_new_role"
MEMBER_KEY = "mb_member"
ROLE_KEY = "mb_role"


def change_member(
    store,
    project: str,
    user: str,
    role: str | None,
    who: teams.Identity | None,
    *,
    login_required: bool = False,
) -> tuple[str, str]:
    """Give ``user`` the ``role`` (None: remove them) as ``who``; ("success" | "error", message).

    Nothing is written when it is refused: bad input, nobody logged in where a login is
    configured, a logged-in non-owner, or the last owner removed or demoted by a logged-in user.
    """
    if login_required and (who is None or not who.authenticated):
        return "error", "Log in to change the members (only owners can)."
    by, authenticated = (who.name, who.authenticated) if who is not None else (None, False)
    try:
        teams.set_role(store, project, user, role, by=by, authenticated=authenticated)
    except ProtolabelError as exc:
        return "error", str(exc)
    user = user.strip()
    if role is None:
        return "success", f"Removed {user} from {project}."
    return "success", f"{user} is now {'an' if role[0] in 'aeiou' else 'a'} {role} in {project}."


def _identity() -> teams.Identity | None:
    """Who edits: the logged-in user (roles enforced), else the typed name (trust mode)."""
    with st.sidebar:
        return auth.sidebar_identity()


def _role_key(user: str) -> str:
    return f"{ROLE_KEY}:{user}"  # one per member, so each starts at that member's role


def _apply(store, project: str, user: str, role: str | None) -> None:
    st.session_state[MESSAGE_KEY] = change_member(
        store, project, user, role, st.session_state.get(IDENTITY_KEY),
        login_required=store.settings.login_required,
    )  # fmt: skip


def _add(store, project: str) -> None:
    _apply(store, project, st.session_state.get(NEW_USER_KEY, ""), st.session_state[NEW_ROLE_KEY])
    if st.session_state[MESSAGE_KEY][0] == "success":
        st.session_state[NEW_USER_KEY] = ""


def _change(store, project: str) -> None:  # callbacks read the widgets' values as clicked
    user = st.session_state[MEMBER_KEY]
    _apply(store, project, user, st.session_state[_role_key(user)])


def _remove(store, project: str) -> None:
    _apply(store, project, st.session_state[MEMBER_KEY], None)


def main() -> None:
    store = get_store()
    project = widgets.choose_project(store)
    if project is None:
        return
    who = _identity()
    st.session_state[IDENTITY_KEY] = who
    st.title(f"Members · {escape_markdown(project)}")
    st.caption(
        "Roles take effect where a login is configured: annotators label and change their own "
        "decisions; reviewers also anyone's, adjudicate, export and run Compare; owners also "
        "change the project's settings, label set, guidelines, name and members, archive and "
        "delete it. Someone logged in who is not a member sees nothing of the project. Without "
        "a login (trust mode) nothing is checked."
    )
    message = st.session_state.pop(MESSAGE_KEY, None)
    if message is not None:
        (st.success if message[0] == "success" else st.error)(escape_markdown(message[1]))

    rows = teams.members(store, project)
    if rows:
        st.dataframe(
            pd.DataFrame(rows, columns=["user", "role"]),
            hide_index=True,
            width="stretch",
            key="mb_table",
        )
    else:
        st.info("No members yet: where a login is configured, nobody may work in it.")
    if not any(role == "owner" for _, role in rows):
        st.caption(
            escape_markdown(
                f"{project} has no owner: when logged in, nobody can manage its members here. "
                f"Name one in trust mode or on the command line: protolabel members --project "
                f"{project} --set USER owner"
            )
        )
    if auth.login_configured() and (
        who is None or teams.role_in(store, project, who.name) != "owner"
    ):
        st.caption(escape_markdown(f"Only an owner of {project} can change its members."))
        return  # no controls that would only be refused

    st.subheader("Add a member")
    left, mid, right = st.columns([3, 2, 1], vertical_alignment="bottom")
    left.text_input("User", key=NEW_USER_KEY, max_chars=200, placeholder="email or user name")
    mid.selectbox("Role", teams.ROLES, key=NEW_ROLE_KEY)
    right.button("Add", key="mb_add", on_click=_add, args=(store, project), type="primary")

    if not rows:
        return
    st.subheader("Change or remove a member")
    users = [user for user, _ in rows]
    if st.session_state.get(MEMBER_KEY) not in users:
        st.session_state[MEMBER_KEY] = users[0]
    left, mid, change, remove = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Member", users, key=MEMBER_KEY)
    current = dict(rows)[chosen]
    mid.selectbox("New role", teams.ROLES, index=teams.ROLES.index(current), key=_role_key(chosen))
    change.button("Change role", key="mb_change", on_click=_change, args=(store, project))
    remove.button("Remove", key="mb_remove", on_click=_remove, args=(store, project))
