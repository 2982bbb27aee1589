"""Label page (/label): one item at a time, keyboard labelling, the model retraining behind."""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st

from annotator import loop, services, teams
from annotator.errors import DatabaseUnavailableError, ProtolabelError
from annotator.loop import card
from annotator.ui import auth, state, widgets
from annotator.ui.auth import NAME_KEY
from annotator.ui.card import CARD_KEY, label_card
from annotator.ui.resources import get_store, get_workers
from annotator.ui.text import escape_markdown

DONE_KEY = "pl_done_events"
TAB_SYNC_KEY = "pl_tab_sync"
ANNOTATOR_KEY = NAME_KEY
#: The card refreshes this often on its own (counters, leases, a retrain's new items).
REFRESH_SECONDS = 2.0


def _init_state() -> None:
    if DONE_KEY not in st.session_state:
        st.session_state[DONE_KEY] = set()  # event ids applied in this browser session
    if TAB_SYNC_KEY not in st.session_state:
        st.session_state[TAB_SYNC_KEY] = card.TabSync()


def _sidebar(store, projects: list[str]) -> tuple[str, teams.Identity | None]:
    project = state.choose_project(store, projects)
    with st.sidebar:
        who = auth.sidebar_identity()
        role = teams.role_in(store, project, who.name) if who and who.authenticated else None
        if role is not None:
            st.caption(f"Role in this project: **{role}**")
        if not store.settings.login_required or role == "owner":  # trust mode, or an owner
            _settings(store, project, who)
    return project, who


def _settings(store, project: str, who: teams.Identity | None) -> None:
    p = loop.project_settings(store, project)
    strategy, batch, overlap, semi = p.strategy, p.batch_size, p.overlap, p.semi_supervised
    zero, described = p.zero_shot, p.zero_shot_applies
    new_strategy = st.selectbox(
        "Strategy", loop.STRATEGY_NAMES, index=loop.STRATEGY_NAMES.index(strategy),
        help="How the next batch is chosen; auto: typical items while there are fewer than "
        "two labels per class, then the items the model is least sure of (margin).",
    )  # fmt: skip
    new_batch = st.number_input("Batch size", min_value=1, max_value=1000, value=batch, step=1)
    new_overlap = st.number_input(
        "Overlap", min_value=1, max_value=loop.MAX_OVERLAP, value=overlap, step=1,
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
    new_zero = st.toggle(
        "Prototypes from the class names", value=zero and described, disabled=not described,
        help="Text projects whose class names are words: each class starts from the embedding "
        "of its name and guideline, so the model suggests labels before the first one and "
        "moves to the examples as they arrive. Off for images and tables, and for names "
        "such as 1, 2 or A, which carry no meaning.",
    )  # fmt: skip
    new_zero = bool(new_zero) if described else zero
    new = (new_strategy, int(new_batch), int(new_overlap), bool(new_semi), new_zero)
    if new != (strategy, batch, overlap, semi, zero):
        try:
            loop.configure(
                store, project, strategy=new_strategy, batch_size=int(new_batch),
                overlap=int(new_overlap), semi_supervised=bool(new_semi), zero_shot=new_zero,
                user=who.name if who else None, authenticated=bool(who and who.authenticated),
            )  # fmt: skip
        except ProtolabelError as exc:
            st.error(escape_markdown(str(exc)))
            return
        st.toast(f"Next rounds: {new_strategy}, {int(new_batch)} items, overlap {int(new_overlap)}")


def status_line(store, project: str) -> None:
    """Progress before anyone labels (the card shows it, live, once a name is set)."""
    p = loop.progress(store, project)
    model = f"model v{p.model_version}" if p.model_version else "no model yet"
    st.caption(f"{p.labelled} labelled · {p.remaining} remaining · {model}")


@st.fragment(run_every=REFRESH_SECONDS)
def card_panel(project: str, who: teams.Identity) -> None:
    """The label card: apply the card's events, renew and top up the tab's items, show them.

    Runs on every key press (the card's state changes) and every ``REFRESH_SECONDS``, so the
    counters, the leases and a retrain's new items follow without a key press.
    """
    store = get_store()
    get_workers().ensure(project)
    tab: card.TabSync = st.session_state[TAB_SYNC_KEY]
    try:
        sync = card.CardSync.parse((st.session_state.get(CARD_KEY) or {}).get("sync"))
    except ProtolabelError as exc:
        st.error(escape_markdown(str(exc)))
        sync = None
    if sync is not None and sync.project != project:
        sync = None  # the card still speaks of the project shown before; it starts over
    if sync is None:  # the card has not reported its tab yet: it shows "Loading"
        payload = card.card_payload(store, project, [], acked=[])
        payload["loading"] = True
    else:
        try:
            payload = _sync(store, project, who, sync, tab)
            tab.last_payload = payload
        except DatabaseUnavailableError as exc:  # the card keeps its presses and its items
            st.error(escape_markdown(f"{exc} (your presses are kept and sent again)"))
            last = tab.last_payload
            payload = last if last and last.get("project") == project else {"loading": True}
    payload["annotator"] = who.name
    payload["remember_name"] = not who.authenticated
    label_card(payload)


def _sync(store, project: str, who: teams.Identity, sync, tab) -> dict:
    done: set[str] = st.session_state[DONE_KEY]
    try:
        applied = card.apply_events(
            store, project, sync.events, owner=sync.tab, annotator=who.name, done=done,
            authenticated=who.authenticated,
        )  # fmt: skip
    except DatabaseUnavailableError:
        raise
    except ProtolabelError as exc:
        st.error(escape_markdown(str(exc)))
        applied = card.Applied()
    if tab.project not in (None, project):  # the tab switched projects: give the old back
        with contextlib.suppress(ProtolabelError):  # (unless it was deleted meanwhile)
            loop.release(store, tab.project, sync.tab)
    tab.project = project
    # The worker's planner keeps the queue stocked; this run plans only for a tab that would
    # otherwise show nothing (a project's first round, a worker still starting).
    lease = loop.lease(
        store, project, sync.tab, annotator=who.name, shown=sync.shown,
        release=tab.release(sync), low_water=1, authenticated=who.authenticated,
    )  # fmt: skip
    names = loop.project_settings(store, project).feature_names
    payload = card.card_payload(
        store, project, lease.items, acked=applied.acked, refused=applied.refused,
        seq=tab.next_payload(lease.withdrawn), have=sync.have, feature_names=names,
    )  # fmt: skip
    payload["confirm"] = bool(lease.withdrawn)
    if not lease.items:
        payload["empty_message"] = (
            "Every item has a decision. Export the dataset on the Export page."
            if loop.nothing_left_for(store, project, who.name)
            else "Choosing the next items…"
        )
    return payload


@st.fragment(run_every=3.0)
def _history(store, project: str, who: teams.Identity) -> None:
    with st.expander("History (last 20 decisions): change a label"):
        try:  # checked on every refresh: a member removed meanwhile sees no more
            entries = loop.history(store, project, limit=loop.HISTORY_LIMIT, who=who)
        except ProtolabelError as exc:
            st.warning(escape_markdown(str(exc)))
            return
        if not entries:
            st.caption("No decisions yet.")
            return
        labels = loop.project_settings(store, project).labels
        frame = pd.DataFrame(
            [{"item": e.external_id, "label": e.label or "(skipped)", "by": e.annotator,
              "round": e.round, "id": e.annotation_id} for e in entries]
        )  # fmt: skip
        st.dataframe(frame.drop(columns="id"), hide_index=True, width="stretch")
        shown = {int(r.id): f"{r.item}: {r.label}" for r in frame.itertuples()}
        # options are annotation ids, so a refresh that adds decisions never shifts the choice
        choice = st.selectbox("Decision", list(shown), format_func=shown.get, key="pl_hist_pick")
        new = st.selectbox("New label", [*labels, "(skip)"], key="pl_hist_label")
        if st.button("Change label") and choice is not None:
            label = None if new == "(skip)" else new
            try:
                loop.relabel(
                    store, project, int(choice), label, annotator=who.name,
                    authenticated=who.authenticated,
                )  # fmt: skip
            except ProtolabelError as exc:
                st.error(escape_markdown(str(exc)))
                return
            st.rerun(scope="fragment")


def main() -> None:
    _init_state()
    store = get_store()
    projects = services.project_names(store, include_archived=False, who=auth.current_identity())
    if not projects:
        st.info(
            "You are not a member of any project: ask a project's owner to add you, or create "
            "a project on the Projects page."
            if store.settings.login_required
            else "No projects yet. Import one with `protolabel import PATH --project NAME`."
        )
        return
    project, who = _sidebar(store, projects)
    get_workers().ensure(project)  # starting takes seconds: begin while the name is typed
    st.title(f"Label · {escape_markdown(project)}")
    instructions = loop.project_settings(store, project).instructions
    if instructions:
        st.caption(escape_markdown(instructions))
    with st.expander("Guidelines and examples per class"):
        widgets.guides_panel(store, project)
    if who is None:
        status_line(store, project)
        st.warning(
            "Log in in the sidebar to start card."
            if auth.login_configured()
            else "Type your name in the sidebar and press Enter to start card."
        )
        return
    card_panel(project, who)
    _history(store, project, who)
