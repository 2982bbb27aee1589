"""Label page (/label): one item at a time, keyboard labelling, the model retraining behind."""

from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from annotator import labelling, services, session, teams
from annotator.errors import ProtolabelError
from annotator.store import queries
from annotator.ui.auth import NAME_KEY, login_configured, sidebar_identity
from annotator.ui.card import label_card
from annotator.ui.pages.labelset import guides_panel
from annotator.ui.resources import get_store, get_workers
from annotator.ui.text import escape_markdown

OWNER_KEY = "pl_owner"
DONE_KEY = "pl_done_events"
ANNOTATOR_KEY = NAME_KEY
PROJECT_KEY = "pl_project"


def _init_state() -> None:
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = uuid.uuid4().hex[:16]  # this tab's queue
    if DONE_KEY not in st.session_state:
        st.session_state[DONE_KEY] = set()


def _sidebar(store, projects: list[str]) -> tuple[str, teams.Identity | None]:
    with st.sidebar:
        if PROJECT_KEY not in st.session_state or st.session_state[PROJECT_KEY] not in projects:
            st.session_state[PROJECT_KEY] = session.most_recent_project(store) or projects[0]
        project = st.selectbox("Project", projects, key=PROJECT_KEY)
        who = sidebar_identity()
        role = teams.role_in(store, project, who.name) if who and who.authenticated else None
        if role is not None:
            st.caption(f"Role in this project: **{role}**")
        if role in (None, "owner"):  # trust mode, or an owner
            _settings(store, project, who)
    return project, who


def _settings(store, project: str, who: teams.Identity | None) -> None:
    with store.read() as s:
        p = queries.get_project(s, project)
        strategy, batch, overlap, semi = p.strategy, p.batch_size, p.overlap, p.semi_supervised
    new_strategy = st.selectbox(
        "Strategy", session.STRATEGY_NAMES, index=session.STRATEGY_NAMES.index(strategy),
        help="How the next batch is chosen; auto: typicality while there are few labels, "
        "then the most uncertain items, spread out (hybrid).",
    )  # fmt: skip
    new_batch = st.number_input("Batch size", min_value=1, max_value=1000, value=batch, step=1)
    new_overlap = st.number_input(
        "Overlap", min_value=1, max_value=session.MAX_OVERLAP, value=overlap, step=1,
        help="How many different annotators label each item (applies to batches chosen "
        "from now on).",
    )  # fmt: skip
    new_semi = st.toggle(
        "Semi-supervised prototypes", value=semi,
        help="Each retrain also refines the class prototypes with unlabelled items "
        "(constrained k-means). Helps when the data cluster by class (digits: AULC 0.929 "
        "vs 0.909), can cost otherwise (Fashion-MNIST, the text demo); protolabel simulate "
        "--semi-supervised tells which suits your data.",
    )  # fmt: skip
    new = (new_strategy, int(new_batch), int(new_overlap), bool(new_semi))
    if new != (strategy, batch, overlap, semi):
        try:
            session.configure(
                store, project, strategy=new_strategy, batch_size=int(new_batch),
                overlap=int(new_overlap), semi_supervised=bool(new_semi),
                user=who.name if who else None, authenticated=bool(who and who.authenticated),
            )  # fmt: skip
        except ProtolabelError as exc:
            st.error(str(exc))
            return
        st.toast(f"Next rounds: {new_strategy}, {int(new_batch)} items, overlap {int(new_overlap)}")


@st.fragment(run_every=2.0)
def status_panel(project: str) -> None:
    """Progress and model status, polled on its own so it never eats a key press."""
    store = get_store()
    get_workers().ensure(project)
    p = session.progress(store, project)
    cols = st.columns(4)
    cols[0].metric("Labelled", p.labelled)
    cols[1].metric("Remaining", p.remaining)
    cols[2].metric("This round", f"{p.round_done}/{p.round_size}" if p.round else "–")
    model = f"v{p.model_version}" if p.model_version else "none yet"
    cols[3].metric("Model", model)
    if p.retrain_pending:
        st.caption(":material/model_training: Retraining in the background; keep labelling.")


@st.fragment
def card_panel(project: str, who: teams.Identity) -> None:
    """The label card: apply the browser's events, then show the next reserved items."""
    store = get_store()
    owner = st.session_state[OWNER_KEY]
    done: set[str] = st.session_state[DONE_KEY]
    events = st.session_state.get("label_card", {}) or {}
    events = events.get("events", []) if isinstance(events, dict) else []
    try:
        labelling.apply_events(
            store, project, events, owner=owner, annotator=who.name, done=done,
            authenticated=who.authenticated,
        )  # fmt: skip
    except ProtolabelError as exc:
        st.error(str(exc))
    items = session.claim_next(store, project, owner, annotator=who.name)
    with store.read() as s:
        names = queries.get_project(s, project).source_info.get("feature_names") or None
    payload = labelling.card_payload(
        store, project, items, applied=[e["id"] for e in events if e.get("id") in done],
        feature_names=names,
    )  # fmt: skip
    if not items:
        payload["empty_message"] = (
            "Every item has a decision. Export the dataset on the Export page."
        )
    label_card(payload)
    _history(store, project, who)


def _history(store, project: str, who: teams.Identity) -> None:
    with st.expander("History (last 20 decisions): change a label"):
        entries = session.history(store, project, limit=session.HISTORY_LIMIT)
        if not entries:
            st.caption("No decisions yet.")
            return
        with store.read() as s:
            labels = list(queries.get_project(s, project).labels)
        frame = pd.DataFrame(
            [{"item": e.external_id, "label": e.label or "(skipped)", "by": e.annotator,
              "round": e.round, "id": e.annotation_id} for e in entries]
        )  # fmt: skip
        st.dataframe(frame.drop(columns="id"), hide_index=True, width="stretch")
        choice = st.selectbox(
            "Decision", frame.index, format_func=lambda i: f"{frame.item[i]}: {frame.label[i]}"
        )
        new = st.selectbox("New label", [*labels, "(skip)"])
        if st.button("Change label"):
            label = None if new == "(skip)" else new
            try:
                session.relabel(
                    store, project, int(frame.id[choice]), label, annotator=who.name,
                    authenticated=who.authenticated,
                )  # fmt: skip
            except ProtolabelError as exc:
                st.error(str(exc))
                return
            st.rerun(scope="fragment")


def main() -> None:
    _init_state()
    store = get_store()
    projects = [p.name for p in services.list_projects(store, include_archived=False)]
    if not projects:
        st.info("No projects yet. Import one with `protolabel import PATH --project NAME`.")
        return
    project, who = _sidebar(store, projects)
    st.title(f"Label · {escape_markdown(project)}")
    with store.read() as s:
        instructions = queries.get_project(s, project).instructions
    if instructions:
        st.caption(escape_markdown(instructions))
    with st.expander("Guidelines and examples per class"):
        guides_panel(store, project)
    status_panel(project)
    if who is None:
        st.warning(
            "Log in in the sidebar to start labelling."
            if login_configured()
            else "Type your name in the sidebar to start labelling."
        )
        return
    card_panel(project, who)
