"""Review page (/review): agreement between annotators, the review queue (disagreements and
the model's label-error candidates) and adjudication. Logic lives in ``annotator.review``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator import review
from annotator.agreement import AgreementReport
from annotator.errors import ProtolabelError
from annotator.ui import auth, widgets
from annotator.ui.auth import NAME_KEY
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown

REVIEWER_KEY = "rv_reviewer"
IDENTITY_KEY = "rv_identity"
CANDIDATES_KEY = "rv_candidates"  # {project: CandidateReport}
POSITION_KEY = "rv_position"  # {project: index of the entry on screen}
MESSAGE_KEY = "rv_message"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def agreement_tables(report: AgreementReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs table and the per-annotator table, undefined values as None with a reason."""
    pairs = pd.DataFrame(
        [
            {
                "annotator A": p.annotator_a,
                "annotator B": p.annotator_b,
                "items both labelled": p.n_items,
                "same label": p.observed,
                "Cohen's kappa": p.kappa,
                "note": p.reason,
            }
            for p in report.pairs
        ],
        columns=[
            "annotator A", "annotator B", "items both labelled", "same label", "Cohen's kappa",
            "note",
        ],
    )  # fmt: skip
    people = pd.DataFrame(
        [
            {
                "annotator": a.annotator,
                "labels": a.n_labels,
                "compared with the others' majority": a.n_compared,
                "agrees with it": a.agreement,
                "note": a.reason,
            }
            for a in report.annotators
        ],
        columns=[
            "annotator", "labels", "compared with the others' majority", "agrees with it", "note",
        ],
    )  # fmt: skip
    return pairs, people


def _agreement_section(store, project: str) -> None:
    st.subheader("Agreement")
    report = review.agreement(store, project)
    if report.n_items == 0:
        st.info("No labels yet: agreement is computed once items have labels.")
        return
    cols = st.columns(4)
    cols[0].metric("Items with several annotators", f"{report.n_overlap} / {report.n_items}")
    cols[1].metric("Annotators", report.n_annotators)
    cols[2].metric(
        "Fleiss' kappa",
        _fmt(report.fleiss.value),
        help="Over the items with the most common number of labels "
        f"({report.fleiss_raters or '-'} per item): {report.fleiss.n_items} items.",
    )
    cols[3].metric(
        "Krippendorff's alpha",
        _fmt(report.alpha.value),
        help=f"Nominal, over the {report.alpha.n_items} items with two or more labels.",
    )
    notes = [
        f"Fleiss' kappa: {report.fleiss.reason}." if report.fleiss.reason else "",
        f"Krippendorff's alpha: {report.alpha.reason}." if report.alpha.reason else "",
    ]
    if report.fleiss.value is not None:
        notes.insert(
            0,
            f"Fleiss' kappa used {report.fleiss.n_items} items with {report.fleiss_raters} "
            "labels each.",
        )
    st.caption(escape_markdown(" ".join(n for n in notes if n)))
    pairs, people = agreement_tables(report)
    if len(pairs):
        st.dataframe(pairs, hide_index=True, width="stretch", key="rv_pairs")
    st.dataframe(people, hide_index=True, width="stretch", key="rv_people")


def _candidates_section(store, project: str) -> review.CandidateReport | None:
    st.subheader("Label errors (model check)")
    stored: dict = st.session_state.setdefault(CANDIDATES_KEY, {})
    left, right, button = st.columns([2, 2, 1])
    max_given = left.slider(
        "Flag when the model gives the label below",
        0.01, 0.5, review.MAX_GIVEN, 0.01, key="rv_max_given",
    )  # fmt: skip
    min_other = right.slider(
        "...and another class at least",
        0.5, 0.99, review.MIN_OTHER, 0.01, key="rv_min_other",
    )  # fmt: skip
    if button.button("Check labels", key="rv_check", help="Cross-validates the model"):
        with st.spinner("Cross-validating the labels..."):
            try:
                stored[project] = review.label_error_candidates(
                    store, project, max_given=max_given, min_other=min_other,
                    who=auth.current_identity(),
                )  # fmt: skip
            except ProtolabelError as exc:
                st.error(escape_markdown(str(exc)))
    found = stored.get(project)
    if found is None:
        st.caption(
            "Finds items whose label a model trained without them contradicts with high "
            "confidence (out-of-fold probabilities, confident learning)."
        )
    else:
        text = (
            f"{len(found.candidates)} candidates among {found.n_checked} labelled items "
            f"({found.folds}-fold cross-validation, {found.seconds:.1f} s)."
        )
        if found.reason:
            text += f" {found.reason}."
        st.caption(escape_markdown(text))
    return found


def _reviewer() -> tuple[str, bool]:
    """(name, authenticated): the logged-in user, else the typed reviewer name (trust mode)."""
    who = st.session_state.get(IDENTITY_KEY)
    if who is not None:
        return who.name, who.authenticated
    return st.session_state.get(REVIEWER_KEY, ""), False


def _adjudicate(store, project: str, item_id: int, label: str) -> None:
    reviewer, authenticated = _reviewer()
    try:
        review.adjudicate(store, project, item_id, label, reviewer, authenticated=authenticated)
        st.session_state[MESSAGE_KEY] = ("success", f"Final label: {label}")
    except ProtolabelError as exc:
        st.session_state[MESSAGE_KEY] = ("error", str(exc))


def _move(project: str, step: int, size: int) -> None:
    positions = st.session_state.setdefault(POSITION_KEY, {})
    positions[project] = (positions.get(project, 0) + step) % max(size, 1)


def _queue_section(store, project: str, candidates) -> None:
    st.subheader("Review queue")
    queue = review.review_queue(store, project, candidates=candidates)
    message = st.session_state.pop(MESSAGE_KEY, None)
    if message is not None:
        (st.success if message[0] == "success" else st.error)(escape_markdown(message[1]))
    if not queue:
        st.info("Nothing to review: no disagreements or flagged labels left.")
        return
    n_dis = sum(review.REASON_DISAGREEMENT in e.kinds for e in queue)
    st.caption(
        f"{len(queue)} items to review: {n_dis} disagreements, {len(queue) - n_dis} flagged."
    )
    position = st.session_state.setdefault(POSITION_KEY, {}).get(project, 0) % len(queue)
    entry = queue[position]
    view = review.item_views(store, project, [entry.item_id]).get(entry.item_id)
    left, right = st.columns([1, 2])
    with left:
        if view is not None:
            widgets.show_example(view)
    with right:
        st.markdown(
            escape_markdown(
                f"Item {entry.external_id} ({position + 1} of {len(queue)}) · "
                f"current label: {entry.label if entry.label is not None else 'none'} "
                f"({entry.source or 'skipped'})"
            )
        )
        for reason in entry.reasons:
            st.markdown("- " + escape_markdown(reason))
        votes = pd.DataFrame(
            [
                {"annotator": a, "label": lab if lab is not None else "(skipped)"}
                for a, lab in entry.votes.items()
            ],
            columns=["annotator", "label"],
        )
        st.dataframe(votes, hide_index=True, key="rv_votes")
    labels = review.label_set(store, project)
    keys = review.shortcut_keys(labels)
    st.caption("Set the final label (keyboard: the key on each button; Right: next item).")
    buttons = st.columns(min(len(labels), 10) + 1)
    for i, label in enumerate(labels):
        buttons[i % 10].button(
            escape_markdown(label),  # a button renders Markdown: a label is shown as text
            key=f"rv_label_{i}",
            on_click=_adjudicate,
            args=(store, project, entry.item_id, label),
            type="primary" if label == entry.suggested else "secondary",
            shortcut=keys.get(label),
            help="the model's suggestion" if label == entry.suggested else None,
        )
    buttons[-1].button(
        "Next", key="rv_next", on_click=_move, args=(project, 1, len(queue)), shortcut="Right"
    )


def _adjudicated_section(store, project: str) -> None:
    records = review.adjudications(store, project)
    if not records:
        return
    st.subheader("Adjudicated")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "item": r.external_id,
                    "final label": r.label,
                    "reviewer": r.reviewer,
                    "when": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                }
                for r in records
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rv_adjudicated",
    )
    by_name = {r.external_id: r.item_id for r in records}
    left, right = st.columns([3, 1])
    chosen = left.selectbox("Clear the adjudication of", list(by_name), key="rv_clear_item")
    if right.button("Clear", key="rv_clear"):
        try:
            reviewer, authenticated = _reviewer()
            review.clear_adjudication(
                store, project, by_name[chosen], reviewer, authenticated=authenticated
            )
            st.rerun()
        except ProtolabelError as exc:
            st.error(escape_markdown(str(exc)))


def main() -> None:
    store = get_store()
    project = widgets.choose_project(store, role="reviewer")
    if project is None:
        return
    st.title(f"Review · {escape_markdown(project)}")
    st.session_state[IDENTITY_KEY] = None
    if auth.login_configured():  # roles apply: only reviewers and owners adjudicate
        with st.sidebar:
            st.session_state[IDENTITY_KEY] = auth.sidebar_identity()
    else:
        if REVIEWER_KEY not in st.session_state:
            st.session_state[REVIEWER_KEY] = st.session_state.get(NAME_KEY, "")
        st.sidebar.badge("Trust mode", icon=":material/lock_open:", color="orange")
        st.sidebar.text_input("Reviewer", key=REVIEWER_KEY, max_chars=200)
    _agreement_section(store, project)
    candidates = _candidates_section(store, project)
    _queue_section(store, project, candidates)
    _adjudicated_section(store, project)
