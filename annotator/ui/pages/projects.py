"""Projects page (default): list projects; create one from an upload or a server path under
the import root, with a preview first; open, rename, archive or delete a project."""

from __future__ import annotations

import dataclasses
import time

import pandas as pd
import streamlit as st

from annotator import project_admin, services, uploads
from annotator.errors import ProtolabelError
from annotator.io import formats
from annotator.io.featurizers import (
    AUTO,
    EMBED_LIMIT_MINUTES,
    FEATURIZERS,
    PRETRAINED,
    TINY_IMAGE_SIDE,
)
from annotator.teams import Identity
from annotator.ui import auth, state, widgets
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown

NONE = "(none)"
UPLOAD, SERVER = "Upload a file", "Server path"
FORM_KEY = "pl_import_form"  # the import form's number: a new one (all fields reset) per import
FILE_KEY = "pl_import_file"  # the file the form is for: its column fields start from its guess
FLASH_KEY = "pl_import_flash"
FLASH = "pl_flash"  # the outcome of an archive, rename or delete


def projects_table(summaries: list[services.ProjectSummary]) -> pd.DataFrame:
    columns = [
        "project", "kind", "features", "classes", "items", "labelled", "skipped", "remaining",
        "archived",
    ]  # fmt: skip
    return pd.DataFrame(
        [
            {
                "project": p.name,
                "kind": p.data_kind,
                "features": p.featurizer,
                "classes": len(p.labels),  # "labels" next to "labelled" read as a count
                "items": p.items,
                "labelled": p.labelled,
                "skipped": p.skipped,
                "remaining": p.remaining,
                "archived": p.archived,
            }
            for p in summaries
        ],
        columns=columns,
    )


def _show_preview(preview: uploads.Preview) -> None:
    if preview.note:
        st.caption(escape_markdown(preview.note))
    if preview.kind == "images":
        cols = st.columns(min(len(preview.images), 8) or 1)
        for col, (name, data) in zip(cols, preview.images, strict=False):
            col.image(data, caption=name, width=80)
    elif not preview.rows.empty:
        st.dataframe(preview.rows.astype(str), hide_index=True, width="stretch")


@st.cache_data(max_entries=4, show_spinner=False)
def _upload_preview(
    file_id: str, name: str, _data: bytes, _settings, _who: Identity | None
) -> uploads.Preview:
    """The upload's preview, once per uploaded file (not on every rerun)."""
    return uploads.preview_upload(_settings, name, _data, who=_who)


def _column(label: str, columns: list[str], key: str, help: str, guess: str | None) -> str | None:
    options = [NONE, *columns]
    index = options.index(guess) if guess in options else 0
    choice = st.selectbox(label, options, index=index, key=key, help=help)
    return None if choice == NONE else choice


def _key(name: str) -> str:
    """A widget key of the import form: new with each form (after an import) and file."""
    return f"{name}_{st.session_state.get(FORM_KEY, 0)}_{st.session_state.get(FILE_KEY, '')}"


def _import_options(preview: uploads.Preview) -> services.ImportOptions:
    """The CLI's import options, read from widgets. The column fields start at what the
    import infers from the column names (shown, changeable); with no columns to offer (no
    preview) the import infers them itself."""
    cols = preview.columns if preview.kind == "table" else []
    roles = preview.roles
    if roles.describe():
        st.caption(escape_markdown(f"Inferred from the column names: {roles.describe()}."))
    left, right = st.columns(2)
    with left:
        text_col = _column("Text column", cols, _key("pl_new_text"),
                           "the item's text (--text-col)", roles.text)  # fmt: skip
        label_col = _column(
            "Label column", cols, _key("pl_new_label"),
            "ground truth, kept hidden from annotators (--label-col)", roles.label,
        )  # fmt: skip
        id_col = _column("Id column", cols, _key("pl_new_id"),
                         "stable item ids (--id-col; none: row numbers)", roles.id)  # fmt: skip
        feature_cols = st.text_input(
            "Feature columns", key=_key("pl_new_features_cols"),
            help="--feature-cols A,B (default: every numeric column but id and label)",
        )  # fmt: skip
    with right:
        labels = st.text_input(
            "Label set", key=_key("pl_new_labels"), placeholder="a,b,c",
            help="--labels (default: the labels read from the label column)",
        )  # fmt: skip
        features = st.selectbox(
            "Featurizer", ["auto", *FEATURIZERS], key=_key("pl_new_featurizer"),
            help=f"auto: {PRETRAINED['text']} for text, {PRETRAINED['image']} for images of "
            f"{TINY_IMAGE_SIDE} px or more, when embedding takes at most "
            f"{EMBED_LIMIT_MINUTES:g} minutes here; else {AUTO['text']} / {AUTO['image']}. The "
            "import says what it chose and why.",
        )  # fmt: skip
        as_annotations = st.checkbox(
            "Record the labels read as annotations", key=_key("pl_new_as_annotations")
        )
        from_folder = st.checkbox(
            "Images: label from folder name", key=_key("pl_new_from_folder"),
            disabled=preview.kind != "images",
        )  # fmt: skip
    instructions = st.text_area("Instructions for annotators", key=_key("pl_new_instructions"))
    return services.ImportOptions(
        infer=not cols,
        text_col=text_col,
        feature_cols=feature_cols.strip() or None,
        id_col=id_col,
        label_col=label_col,
        label_from_folder=bool(from_folder and preview.kind == "images"),
        labels=labels.strip() or None,
        features=features,
        as_annotations=as_annotations,
        instructions=instructions,
    )


def create_section(store, who: Identity | None) -> None:
    st.subheader("New project")
    settings = store.settings
    sources = [UPLOAD, SERVER] if settings.import_root is not None else [UPLOAD]
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:  # here, where the person who pressed Import is looking
        st.success(flash)
    source = st.radio("Data", sources, key="pl_new_source", horizontal=True)
    form = st.session_state.get(FORM_KEY, 0)
    if source == UPLOAD:
        limit = min(settings.max_upload_bytes, settings.max_import_bytes) // 2**20
        upload = st.file_uploader(
            f"A file: {uploads.UPLOAD_SUPPORTED}; up to {limit} MiB",
            type=formats.upload_types(), key=f"pl_upload_{form}", max_upload_size=max(1, limit),
        )  # fmt: skip
        if upload is None:
            return
        name, data = upload.name, upload.getvalue()
        st.session_state[FILE_KEY] = upload.file_id
    else:
        found = uploads.list_server_paths(settings, who=who)
        st.caption(f"Files and image folders under {escape_markdown(str(settings.import_root))}")
        path = st.selectbox("Server path", found, key=f"pl_server_path_{form}", index=None)
        if not path:
            return
        st.session_state[FILE_KEY] = path
    if source == UPLOAD:
        try:
            uploads.check_upload(settings, name, len(data))
        except ProtolabelError as exc:
            st.error(escape_markdown(str(exc)))
            return
    try:
        if source == UPLOAD:
            preview = _upload_preview(upload.file_id, name, data, settings, who)
        else:
            preview = uploads.preview_server_path(settings, path, who=who)
    except ProtolabelError as exc:  # the import itself gives the full diagnosis
        st.warning(f"No preview: {exc}")
        preview = uploads.Preview("table", pd.DataFrame(), [], [])
    st.markdown("**Preview**")
    _show_preview(preview)
    guessed = services.default_project_name(name if source == UPLOAD else path)
    project = st.text_input("Project name", value=guessed, key=_key("pl_new_name"))
    opts = _import_options(preview)
    if not st.button("Import", type="primary", key="pl_import"):
        return
    bar = st.progress(0.0, text="Reading and checking the file…")
    opts = dataclasses.replace(opts, progress=_featurizing(bar))
    try:
        if source == UPLOAD:
            summary = uploads.import_upload(store, name, data, project, opts, who=who)
        else:
            summary = uploads.import_server_path(store, path, project, opts, who=who)
    except ProtolabelError as exc:
        bar.empty()
        st.error(escape_markdown(uploads.for_the_form(str(exc))))
        return
    bar.progress(1.0, text="Saved")
    message = (
        f"Imported {summary.added} {summary.data_kind} items into "
        f"{escape_markdown(summary.project)}; features: {summary.featurizer}, "
        f"{summary.feature_dim}-d; labels: {escape_markdown(', '.join(summary.labels))}"
    )
    if summary.featurizer_note:
        message += f" ({escape_markdown(summary.featurizer_note)})"
    st.session_state[FLASH_KEY] = message
    state.set_project(summary.project)  # "Start labelling" and every page open on it
    st.session_state[FORM_KEY] = form + 1  # a fresh, empty form
    st.session_state.pop(FILE_KEY, None)
    st.toast(message, icon=":material/check_circle:")
    st.rerun()  # list the new project everywhere on the page


def _featurizing(bar):
    """A featurizer progress callback that moves ``bar`` from 10% to 95%, with the rate."""
    start = time.monotonic()

    def update(done: int, total: int) -> None:
        share = done / total if total else 1.0
        rate = done / max(time.monotonic() - start, 1e-6)
        bar.progress(
            0.1 + 0.85 * share,
            text=f"Featurizing: {done:,} of {total:,} items ({rate:,.0f} items/s)",
        )

    return update


def _open(name: str) -> None:
    state.set_project(name)


def manage_section(
    store, summaries: list[services.ProjectSummary], owned: set[str], who: Identity | None
) -> None:
    st.subheader("Manage")
    names = [p.name for p in summaries]
    if st.session_state.get("pl_manage_project") not in names:  # start at the tab's project
        current = st.session_state.get(state.CURRENT_PROJECT)
        st.session_state["pl_manage_project"] = current if current in names else names[0]
    name = st.selectbox("Project", names, key="pl_manage_project")
    if name is None:
        return
    current = next(p for p in summaries if p.name == name)
    from annotator.ui.main import pages  # at call time: main imports this module

    cols = st.columns(3)
    if cols[0].button(
        "Open in Label", key="pl_open", disabled=current.archived, on_click=_open, args=(name,)
    ):
        st.switch_page(pages()["label"])
    if name not in owned:
        st.caption("Only the project's owners may rename, archive or delete it.")
        return
    verb = "Restore" if current.archived else "Archive"
    if cols[1].button(verb, key="pl_archive"):
        _act(lambda: project_admin.set_archived(store, name, not current.archived, who=who),
             f"{verb}d {escape_markdown(name)}")  # fmt: skip
    new_name = st.text_input("New name", key="pl_rename_to", value="")
    if st.button("Rename", key="pl_rename", disabled=not new_name.strip()):
        _act(lambda: project_admin.rename_project(store, name, new_name, who=who),
             f"Renamed to {escape_markdown(new_name.strip())}")  # fmt: skip
    with st.expander("Delete this project"):
        st.warning(
            f"Deletes {current.items} items and {current.labelled} labels for good. "
            "Type the project's name to confirm."
        )
        typed = st.text_input("Project name to delete", key="pl_delete_confirm")
        if st.button("Delete", key="pl_delete", type="primary", disabled=typed != name):
            _act(lambda: services.delete_project(store, name, who=who),
                 f"Deleted {escape_markdown(name)}")  # fmt: skip


def _act(action, message: str) -> None:
    widgets.act(action, message, flash=FLASH)


def main() -> None:
    store = get_store()
    st.title("Projects")
    st.caption(f"Database: {escape_markdown(store.url_for_humans)}")
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash)
    who = auth.current_identity()
    summaries = services.list_projects(store, who=who)
    if summaries:
        st.dataframe(projects_table(summaries), hide_index=True, width="stretch")
        from annotator.ui.main import pages  # at call time: main imports this module

        st.page_link(pages()["label"], label="Start labelling", icon=":material/label:")
    elif store.settings.login_required:
        st.info("You are not a member of any project yet: create one below (you will own it), "
                "or ask a project's owner to add you.")  # fmt: skip
    else:
        st.info("No projects yet: create one below.")
    create_section(store, who)
    if summaries:
        owned = set(services.project_names(store, who=who, role="owner"))
        manage_section(store, summaries, owned, who)
