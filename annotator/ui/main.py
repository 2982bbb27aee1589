"""The app's frame: page config and navigation. Pages live in ``annotator.ui.pages``."""

from __future__ import annotations

import streamlit as st

from annotator.ui.pages import projects


def main() -> None:
    st.set_page_config(page_title="protolabel", page_icon=":label:", layout="wide")
    nav = st.navigation(
        [
            st.Page(
                projects.main,
                title="Projects",
                icon=":material/folder:",
                url_path="projects",
                default=True,
            )
        ]
    )
    nav.run()
