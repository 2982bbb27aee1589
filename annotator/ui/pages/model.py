"""Model page (/model): rounds and retrains, the cross-validated accuracy estimate, per-class
counts and confusion, and the stopping advice with the kappa curve behind it."""

from __future__ import annotations

import streamlit as st

from annotator import model_report
from annotator.ui import charts, widgets
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown


@st.cache_data(max_entries=32, show_spinner=False)
def _report(project: str, change_key: int, _store) -> model_report.ModelReport:
    """The report without its accuracy estimate, recomputed only when the project changed
    (``change_key``): counts and charts from aggregate queries, shown at once."""
    return model_report.build_report(_store, project, cross_validate=False)


@st.cache_data(max_entries=32, show_spinner=False)
def _estimate(project: str, change_key: int, _store) -> model_report.Estimate:
    """The cross-validated estimate (a model per fold): computed last, into its places."""
    return model_report.estimate_accuracy(_store, project)


def main() -> None:
    store = get_store()
    project = widgets.choose_project(store)
    if project is None:
        return
    st.title(f"Model · {escape_markdown(project)}")
    # Choosing the stop set (once per project) is an event: before the key, so the next rerun
    # finds the report it computed instead of cross-validating again.
    model_report.ensure_stop_set(store, project)
    key = model_report.change_key(store, project)
    report = _report(project, key, store)
    advice = report.advice

    st.subheader("Stopping advice")
    (st.success if advice.stop else st.info)(advice.sentence)
    st.markdown(
        "Should you keep labelling? Each new model predicts the same sample of unlabelled "
        "items as the model before it; once the two agree almost completely for a few "
        "retrains in a row, more labels are unlikely to change the model much."
    )
    if advice.kappas:
        st.altair_chart(
            charts.kappa_curve(advice.versions, advice.kappas, advice.threshold),
            width="stretch",
        )
    else:
        st.caption(
            "The agreement curve appears after the second retrain: label a few rounds on the "
            "Label page."
        )
    st.caption(
        f"Stabilizing predictions (Bloodgood & Vijay-Shanker 2009): Cohen's kappa between each "
        f"model version's predictions and the previous version's on a fixed stop set of "
        f"{report.stop_set_size} items chosen once from the unlabelled pool (no labels needed). "
        f"Stop once kappa \u2265 {advice.threshold} for {advice.window} retrains in a row "
        f"(kappa: agreement beyond chance; 1 is identical predictions, 0 no better than chance)."
    )

    # filled last: the rest of the page shows while the folds train
    accuracy = st.empty()
    accuracy.caption("Accuracy (estimate): cross-validating the labels...")
    left, right = st.columns(2)
    with left:
        st.subheader("Labels per class")
        if report.class_counts.empty or not report.class_counts["labelled"].any():
            st.caption("No labels yet: label on the Label page; the count per class shows here.")
        else:
            st.altair_chart(charts.class_counts(report.class_counts), width="stretch")
    with right:
        st.subheader("Confusion (cross-validated)")
        confusion = st.empty()
        confusion.caption("Cross-validating the labels...")

    st.subheader("Rounds")
    if report.rounds.empty:
        st.caption("No rounds yet: start labelling on the Label page.")
    else:
        st.altair_chart(charts.labels_per_round(report.rounds), width="stretch")
        st.dataframe(report.rounds, hide_index=True, width="stretch")
    st.subheader("Model versions")
    if report.models.empty:
        st.caption("No model yet: it is trained when the first round is complete.")
    else:
        st.dataframe(report.models, hide_index=True, width="stretch")

    estimate = _estimate(project, key, store)
    with accuracy.container():
        _show_estimate(estimate)
    with confusion.container():
        if estimate.confusion is not None:
            st.altair_chart(charts.confusion(estimate.labels, estimate.confusion), width="stretch")
        else:
            st.caption("Shown once there is an accuracy estimate.")


def _show_estimate(estimate: model_report.Estimate) -> None:
    st.subheader("Accuracy (estimate)")
    if estimate.accuracy is None:
        st.metric("Cross-validated accuracy", "not yet")
        st.caption(f"No estimate: {escape_markdown(estimate.reason)}.")
        return
    st.metric(
        "Cross-validated accuracy (estimate)",
        f"{estimate.accuracy:.1%}",
        help="Out-of-fold accuracy of fresh models on the labels given so far; it is "
        "an estimate (labels chosen by active learning are not a random sample), never "
        "computed from hidden ground truth.",
    )
    st.caption(
        f"Estimate: {estimate.folds}-fold stratified cross-validation on {estimate.n_labels} "
        f"labels; spread across folds \u00b1{estimate.std:.1%}."
    )
