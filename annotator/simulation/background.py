"""Background strategy comparisons for the Compare page (no Streamlit here).

A run is a thread of the server that calls ``simulation.run_simulation`` with a progress
callback; the page polls ``CompareRun.progress`` and shows the results when ``done``. A finished
run is stored in the database (``simulation.save_results``) so it can be reloaded later.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from annotator import simulation, teams
from annotator.errors import PermissionDeniedError
from annotator.store import queries
from annotator.store.db import Store


@dataclass
class CompareRun:
    """One simulation running in a background thread."""

    config: simulation.SimulationConfig
    done_runs: int = 0
    total_runs: int = 0
    results: dict[str, Any] | None = None
    saved_id: int | None = None
    error: str | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.results is not None or self.error is not None

    @property
    def progress(self) -> float:
        return self.done_runs / self.total_runs if self.total_runs else 0.0


def start(
    store: Store,
    config: simulation.SimulationConfig,
    *,
    jobs: int = 1,
    who: teams.Identity | None = None,
) -> CompareRun:
    """Check ``config`` now (a bad one raises at once), then simulate it in the background.

    Where a login is required, ``who`` must be logged in, and a reviewer or owner of the
    project that ``project:NAME`` data replays."""
    simulation.check_config(config)
    check_may_simulate(store, config.data, who)
    run = CompareRun(config, total_runs=len(config.strategies) * config.seeds)

    def tick(done: int, total: int) -> None:
        run.done_runs, run.total_runs = done, total

    def work() -> None:
        try:
            results = simulation.run_simulation(config, jobs=jobs, progress=tick)
            check_may_simulate(store, config.data, who)  # still allowed minutes later?
            run.saved_id = simulation.save_results(store, results)
            run.results = results
        except Exception as exc:  # noqa: BLE001 - shown on the page, the thread must not die silently
            run.error = str(exc) or type(exc).__name__

    run._thread = threading.Thread(target=work, name="protolabel-compare", daemon=True)
    run._thread.start()
    return run


def check_may_simulate(store: Store, data: str, who: teams.Identity | None) -> None:
    teams.require_login(who, login_required=store.settings.login_required, action="run Compare")
    if data.startswith("project:"):
        with store.read() as session:
            project = queries.get_project(session, data.removeprefix("project:"))
            teams.require(store, session, project, who, "reviewer", "run Compare on the project")


def saved_runs(store: Store, who: teams.Identity | None) -> list[dict[str, Any]]:
    """The stored comparisons ``who`` may see (``simulation.list_saved``): runs on bundled
    data, and where a login is required, replays only of projects they review or own."""
    runs = simulation.list_saved(store)
    for number, run in enumerate(sorted(runs, key=lambda r: r["id"]), start=1):
        run["number"] = number  # per database, from 1 (the event id counts every event)
    if not store.settings.login_required:
        return runs
    if who is None or not (who.authenticated or who.operator):
        return []
    with store.read() as session:
        allowed = {
            p.id
            for p in queries.all_projects(session)
            if teams.may(store, session, p, who, "reviewer")
        }
    return [r for r in runs if r["project_id"] is None or r["project_id"] in allowed]


def load_saved(store: Store, run_id: int, who: teams.Identity | None) -> dict[str, Any]:
    """A stored comparison's results, if ``who`` may see it (``saved_runs``)."""
    if run_id not in {r["id"] for r in saved_runs(store, who)}:
        raise PermissionDeniedError(f"no stored comparison #{run_id} that you may see")
    return simulation.load_results(store, run_id)


def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """One row per strategy: AULC mean +- std, final accuracy, label savings, p vs random, n."""
    rows = []
    for strategy, s in results["summary"].items():
        rows.append(
            {
                "strategy": strategy,
                "AULC": s["aulc_mean"],
                "AULC std": s["aulc_std"],
                "final accuracy": s["final_accuracy_mean"],
                "labels to random's final accuracy": s["label_savings"],
                "p vs random": s["p_vs_random"],
                "seeds": s.get("n"),
            }
        )
    frame = pd.DataFrame(rows)
    # "—" where a value does not apply (random against itself, say): text columns, since a
    # table column holds one type
    for column, shown in (
        ("labels to random's final accuracy", "{:.0f}"),
        ("p vs random", "{:.3f}"),
    ):
        if column in frame:
            frame[column] = [
                NOT_APPLICABLE if _missing(v) else shown.format(v) for v in frame[column]
            ]
    return frame


#: Shown in a table cell whose value does not apply.
NOT_APPLICABLE = "—"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def curves_frame(results: dict[str, Any]) -> pd.DataFrame:
    """Long table strategy / labels / mean / std, with the band's lower and upper edges."""
    frame = pd.DataFrame(simulation.mean_curves(results))
    frame["low"] = frame["mean"] - frame["std"]
    frame["high"] = frame["mean"] + frame["std"]
    return frame
