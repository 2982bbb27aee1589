"""Export page (/export): download the CLI's export (CSV, JSONL, Parquet) of the labelled items,
or of every item with the current model's predictions."""

from __future__ import annotations

import streamlit as st

from annotator import downloads, model_report, services
from annotator.errors import ProtolabelError
from annotator.ui import auth, widgets
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown

SCOPES = {"Labelled items only": False, "All items, with predictions": True}


@st.cache_data(max_entries=8, show_spinner="Preparing the export...")
def _download(
    project: str, fmt: str, include_all: bool, raw_cells: bool, change_key: int, who, _store
) -> downloads.Download:
    """The export, rebuilt only when the project changed (``change_key``); cached per user
    (``who`` is in the key), so each one's role is checked."""
    return downloads.export_download(
        _store, project, fmt, include_all=include_all, raw_cells=raw_cells, who=who
    )


def main() -> None:
    store = get_store()
    project = widgets.choose_project(store, role="reviewer")
    if project is None:
        return
    st.title(f"Export · {escape_markdown(project)}")
    fmt = st.radio("Format", services.EXPORT_FORMATS, key="pl_export_format", horizontal=True)
    scope = st.radio("Rows", list(SCOPES), key="pl_export_scope", horizontal=True)
    include_all = SCOPES[scope]
    raw_cells = fmt == "csv" and st.checkbox(
        "Raw cells", key="pl_export_raw",
        help="Off (the default), text cells starting with = + - @ get a leading apostrophe so "
        "a spreadsheet does not run them as formulas; on, every cell is written as it is.",
    )  # fmt: skip
    try:
        key = model_report.change_key(store, project)
        who = auth.current_identity()
        download = _download(project, fmt, include_all, raw_cells, key, who, store)
    except ProtolabelError as exc:
        st.error(escape_markdown(str(exc)))
        return
    st.caption(
        f"{download.rows} rows; the same file as `protolabel export --format {fmt}"
        f"{' --all' if include_all else ''}{' --raw-cells' if raw_cells else ''}`"
        + (" (a zip with the table and its images folder)" if download.mime.endswith("zip") else "")
    )
    st.download_button(
        f"Download {download.file_name}",
        data=download.data,
        file_name=download.file_name,
        mime=download.mime,
        key="pl_download",
        type="primary",
        on_click="ignore",
    )
