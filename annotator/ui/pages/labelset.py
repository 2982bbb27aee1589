"""Label set page (/labelset): the classes with their counts, guidelines and example items; add,
rename and merge classes mid-project (annotations follow; every change is in the event log)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator import project_admin, services
from annotator.loop import card
from annotator.ui import auth, widgets
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown

FLASH = "pl_labelset_flash"


def _act(action, message) -> None:
    widgets.act(action, message, flash=FLASH)


def _keys_section(store, project: str, labels: list[str], who) -> None:
    st.subheader("Keys")
    current = card.keymap(labels, project_admin.custom_keys(store, project))
    st.caption(
        f"The key for each label on the Label page (one character; empty: the default). Skip is "
        f"{current.skip or 'a click'}, Undo {' or '.join(current.undo)}: they never take a key "
        "that starts a label. Labels beyond the keys are found by typing their name."
    )
    frame = pd.DataFrame({"label": labels, "key": [current.labels[x] or "" for x in labels]})
    edited = st.data_editor(
        frame, key=f"pl_keys_{project}", hide_index=True, disabled=["label"],
        column_config={"key": st.column_config.TextColumn("key", max_chars=1)},
    )  # fmt: skip
    if st.button("Save keys", key="pl_save_keys"):
        chosen = dict(zip(edited["label"], edited["key"].fillna(""), strict=True))
        _act(lambda: project_admin.set_keys(store, project, chosen, who=who), "Saved the keys")


def main() -> None:
    store = get_store()
    project = widgets.choose_project(store)
    if project is None:
        return
    st.title(f"Label set · {escape_markdown(project)}")
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash)
    guides = project_admin.class_guides(store, project)
    labels = [g.label for g in guides]
    st.dataframe(
        pd.DataFrame(
            {
                "label": labels,
                "labelled": [g.labelled for g in guides],
                "guideline": [g.text[:80] for g in guides],
                "examples": [len(g.examples) for g in guides],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    who = auth.current_identity()
    owner = project in services.project_names(store, who=who, role="owner")
    if not owner:
        st.caption("Only the project's owners may change its label set and guidelines.")
        with st.expander("Guidelines as annotators see them"):
            widgets.guides_panel(store, project)
        return
    st.caption(
        "Changes apply at once; the model learns them at its next retrain (a new class from "
        "its first labelled example)."
    )
    add, rename, merge = st.columns(3)
    with add:
        st.subheader("Add a class")
        new = st.text_input("New label", key="pl_add_label")
        if st.button("Add", key="pl_add", disabled=not new.strip()):
            _act(lambda: project_admin.add_label(store, project, new, who=who),
                 f"Added {escape_markdown(new.strip())}")  # fmt: skip
    with rename:
        st.subheader("Rename")
        old = st.selectbox("Label", labels, key="pl_rename_from")
        to = st.text_input("New name", key="pl_rename_label_to")
        if st.button("Rename", key="pl_rename_label", disabled=not to.strip()):
            _act(lambda: project_admin.rename_label(store, project, old, to, who=who),
                 lambda n: f"Renamed; {n} annotations follow")  # fmt: skip
    with merge:
        st.subheader("Merge")
        source = st.selectbox("Merge this label", labels, key="pl_merge_source")
        target = st.selectbox("into", [x for x in labels if x != source], key="pl_merge_target")
        if st.button("Merge", key="pl_merge", disabled=target is None):
            _act(lambda: project_admin.merge_labels(store, project, source, target, who=who),
                 lambda n: f"Merged; {n} annotations moved")  # fmt: skip
    _keys_section(store, project, labels, who)
    st.subheader("Guideline and examples")
    label = st.selectbox("Class", labels, key="pl_guide_label")
    current = next(g for g in guides if g.label == label)
    with st.form("pl_guide_form"):
        text = st.text_area("Guideline", value=current.text, key=f"pl_guide_text_{label}")
        examples = st.text_input(
            "Example item ids (comma-separated)",
            value=", ".join(e.external_id for e in current.examples),
            key=f"pl_guide_examples_{label}",
        )
        if st.form_submit_button("Save"):
            _act(lambda: project_admin.set_guideline(
                store, project, label, text, examples, who=who),
                 f"Saved the guideline of {escape_markdown(label)}")  # fmt: skip
    with st.expander("Guidelines as annotators see them"):
        widgets.guides_panel(store, project)
