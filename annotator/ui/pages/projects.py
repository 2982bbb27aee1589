"""Projects page: every project with its item, labelled and skipped counts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator import services
from annotator.ui.resources import get_store


def projects_table(summaries: list[services.ProjectSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "project": p.name,
                "kind": p.data_kind,
                "features": p.featurizer,
                "labels": len(p.labels),
                "items": p.items,
                "labelled": p.labelled,
                "skipped": p.skipped,
                "remaining": p.remaining,
            }
            for p in summaries
        ],
        columns=[
            "project",
            "kind",
            "features",
            "labels",
            "items",
            "labelled",
            "skipped",
            "remaining",
        ],
    )


def main() -> None:
    store = get_store()
    st.title("Projects")
    summaries = services.list_projects(store)
    st.caption(f"Database: {store.url_for_humans}")
    if not summaries:
        st.info("No projects yet. Import one with `protolabel import PATH --project NAME`.")
        return
    st.dataframe(projects_table(summaries), hide_index=True, width="stretch")
    from annotator.ui.main import pages  # at call time: main imports this module

    st.page_link(pages()["label"], label="Start labelling", icon=":material/label:")
