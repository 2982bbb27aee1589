"""Compare page: simulate query strategies on labelled data, learning curves and AULC."""

from __future__ import annotations

import json

import streamlit as st

from annotator import services, simulation
from annotator.errors import ProtolabelError
from annotator.simulation import background
from annotator.ui import auth, charts
from annotator.ui.resources import get_store
from annotator.ui.text import escape_markdown
from strategies import NAMES

RUN_KEY = "pl_compare_run"
SHOWN_KEY = "pl_compare_shown"


def _form(projects: list[str]) -> simulation.SimulationConfig | None:
    sources = ["demo:digits", "demo:fine_foods"] + [f"project:{p}" for p in projects]
    with st.form("compare"):
        data = st.selectbox(
            "Data", sources,
            help="demo:digits: 1,797 digits; demo:fine_foods: 5,000 reviews; project:NAME replays "
            "a project's labelled items, the people's labels acting as the oracle.",
        )  # fmt: skip
        strategies = st.multiselect("Strategies", list(NAMES), default=["random", "margin", "auto"])
        cols = st.columns(4)
        seeds = cols[0].number_input("Seeds", 1, 20, 3)
        budget = cols[1].number_input("Budget (labels)", 10, 5000, 100, step=10)
        batch = cols[2].number_input("Batch", 1, 500, 10)
        test_size = cols[3].number_input("Test size", 10, 10000, 500, step=50)
        cols = st.columns(2)
        learner = cols[0].selectbox(
            "Learner", list(simulation.LEARNERS),
            help="protonet: the app's prototypical network; logreg: scikit-learn "
            "LogisticRegression, a reference.",
        )  # fmt: skip
        semi = cols[1].checkbox(
            "Semi-supervised prototypes",
            help="protonet refines its prototypes with the unlabelled pool, as a project with "
            "that setting does: run with and without to see which suits your data.",
        )
        submitted = st.form_submit_button("Run", type="primary")
    if not submitted:
        return None
    return simulation.SimulationConfig(
        data=data, strategies=tuple(strategies), seeds=int(seeds), budget=int(budget),
        batch=int(batch), test_size=int(test_size), db=get_store().settings.db_url,
        learner=learner, semi_supervised=bool(semi) and learner == "protonet",
    )  # fmt: skip


@st.fragment(run_every=1.0)
def _progress() -> None:
    run: background.CompareRun | None = st.session_state.get(RUN_KEY)
    if run is None:
        return
    if run.error:
        st.error(run.error)
        st.session_state.pop(RUN_KEY)
    elif run.results is None:
        st.progress(run.progress, text=f"Simulating: {run.done_runs} of {run.total_runs} runs")
    else:
        st.session_state[SHOWN_KEY] = run.saved_id
        st.session_state.pop(RUN_KEY)
        st.rerun()


def _show(results: dict) -> None:
    frame = background.curves_frame(results)
    strategies = list(results["summary"])  # fixed colours, in the run's order
    st.altair_chart(charts.learning_curves(frame, strategies), width="stretch")
    st.dataframe(background.summary_table(results), hide_index=True, width="stretch")
    cols = st.columns(2)
    cols[0].download_button(
        "Download results JSON", json.dumps(results, indent=2), "results.json", "application/json"
    )
    cols[1].download_button(
        "Download plot (PNG)", simulation.curves_png(results), "curves.png", "image/png"
    )


def main() -> None:
    st.title("Compare strategies")
    st.caption(
        "An oracle answers from the ground truth: every strategy runs on the same splits and "
        "initial labels per seed; AULC is the mean test accuracy over the curve's points; "
        "p vs random is a paired t-test over seeds."
    )
    store = get_store()
    who = auth.current_identity()
    projects = services.project_names(store, include_archived=False, who=who, role="reviewer")
    config = _form(projects)
    if config is not None:
        try:
            st.session_state[RUN_KEY] = background.start(store, config, who=who)
        except ProtolabelError as exc:
            st.error(escape_markdown(str(exc)))
    _progress()
    saved = background.saved_runs(store, who)
    if not saved:
        return
    ids = [s["id"] for s in saved]
    shown = st.session_state.get(SHOWN_KEY)
    label = {
        s["id"]: f"#{s['number']} {s['data']} · {', '.join(s['strategies'])} · {s['learner']} · "
        f"{s['created_at']:%Y-%m-%d %H:%M}"
        for s in saved
    }
    choice = st.selectbox(
        "Past runs", ids, index=ids.index(shown) if shown in ids else 0, format_func=label.get
    )
    st.subheader(escape_markdown(label[choice]))
    _show(background.load_saved(store, choice, who))
