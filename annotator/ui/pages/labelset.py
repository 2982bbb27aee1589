"""Label set page (/labelset): the classes with their counts, guidelines and example items; add,
rename and merge classes mid-project (annotations follow; every change is in the event log)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from annotator import labelling, project_admin, services
from annotator.errors import ProtolabelError
from annotator.ui import auth, state
from annotator.ui.resources import get_store
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


def _act(action, message: str) -> None:
    try:
        result = action()
    except ProtolabelError as exc:
        st.error(escape_markdown(str(exc)))
        return
    st.session_state["pl_labelset_flash"] = message.format(result=result)
    st.rerun()


def _keys_section(store, project: str, labels: list[str], who) -> None:
    st.subheader("Keys")
    current = labelling.keymap(labels, project_admin.custom_keys(store, project))
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
    project = choose_project(store)
    if project is None:
        return
    st.title(f"Label set · {escape_markdown(project)}")
    flash = st.session_state.pop("pl_labelset_flash", None)
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
            guides_panel(store, project)
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
                 "Renamed; {result} annotations follow")  # fmt: skip
    with merge:
        st.subheader("Merge")
        source = st.selectbox("Merge this label", labels, key="pl_merge_source")
        target = st.selectbox("into", [x for x in labels if x != source], key="pl_merge_target")
        if st.button("Merge", key="pl_merge", disabled=target is None):
            _act(lambda: project_admin.merge_labels(store, project, source, target, who=who),
                 "Merged; {result} annotations moved")  # fmt: skip
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
        guides_panel(store, project)
