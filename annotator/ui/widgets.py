"""Widgets several pages share: the project selector, an example item, the guidelines panel,
and running an action with its one-line outcome. Pages import these, never each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from annotator import project_admin, services
from annotator.errors import ProtolabelError
from annotator.ui import auth, state
from annotator.ui.text import escape_markdown


def choose_project(store, role: str = "annotator") -> str | None:
    """The sidebar's project selector, shared by the admin pages: where a login is required,
    the projects in which the visitor has at least ``role``."""
    who = auth.current_identity()
    names = services.project_names(store, include_archived=False, who=who, role=role)
    if not names:
        if store.settings.login_required:
            needed = "owner" if role == "owner" else f"{role} or owner"
            st.info(
                f"This page needs the {needed} role in a project, and you have it in none: ask "
                "a project's owner, or create a project on the Projects page."
            )
        else:
            st.info("No projects yet: create one on the Projects page.")
        return None
    return state.choose_project(store, names)


def show_example(example: project_admin.Example) -> None:
    """One example item as text, image or feature values (never as markup)."""
    st.caption(escape_markdown(f"item {example.external_id}"))
    if example.image is not None:
        st.image(example.image, width=96)
    elif example.text is not None:
        st.text(example.text[:2000])
    elif example.features is not None:
        values = np.asarray(example.features)
        names = example.feature_names
        names = names if names and len(names) == len(values) else None
        st.dataframe(
            pd.DataFrame([values], columns=names or [f"x{j}" for j in range(len(values))]),
            hide_index=True,
        )


def guides_panel(store, project: str) -> None:
    """Per-class guidelines and examples; the Label page shows this on demand."""
    guides = project_admin.class_guides(store, project)
    for guide in guides:
        st.markdown(f"**{escape_markdown(guide.label)}** · {guide.labelled} labelled")
        if guide.text:
            st.text(guide.text)
        if guide.examples:
            cols = st.columns(min(len(guide.examples), 4))
            for i, example in enumerate(guide.examples):
                with cols[i % len(cols)]:
                    show_example(example)
        if not guide.text and not guide.examples:
            st.caption("No guideline yet (Label set page).")


def act(action: Callable[[], Any], message: str | Callable[[Any], str], *, flash: str) -> None:
    """Run ``action``; on a refusal show its one-line error, else keep ``message`` (or
    ``message(result)``) under the session key ``flash`` for the page to show after the rerun.
    The message is never a format string: labels and names with braces stay as typed."""
    try:
        result = action()
    except ProtolabelError as exc:
        st.error(escape_markdown(str(exc)))
        return
    st.session_state[flash] = message(result) if callable(message) else message
    st.rerun()
