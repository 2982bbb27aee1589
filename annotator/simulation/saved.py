"""Stored simulations (the Compare page): events of kind ``"simulation"``."""

from __future__ import annotations

from typing import Any

from annotator.simulation.engine import SimulationError

# ---------------------------------------------------------------------------------------------
# Stored runs (the Compare page): events of kind "simulation", no table of their own yet

EVENT_KIND = "simulation"


def save_results(store, results: dict[str, Any]) -> int:
    """Store ``results`` as one ``Event(kind="simulation", payload=results)``; its id.

    The event belongs to the replayed project for ``project:NAME`` data, else to none.
    """
    from annotator.store import queries

    data = results["config"]["data"]
    with store.write() as session:
        project_id = None
        if data.startswith("project:"):
            project_id = queries.get_project(session, data.removeprefix("project:")).id
        event = queries.log_event(session, project_id, EVENT_KIND, **results)
        session.flush()
        return int(event.id)


def load_results(store, event_id: int) -> dict[str, Any]:
    """The results stored by :func:`save_results` under ``event_id``."""
    from annotator.store.models import Event

    with store.read() as session:
        event = session.get(Event, event_id)
        if event is None or event.kind != EVENT_KIND:
            raise SimulationError(f"no stored simulation with id {event_id}")
        return dict(event.payload)


def list_saved(store) -> list[dict[str, Any]]:
    """Stored simulations, newest first: ``{"id", "created_at", "data", "strategies",
    "learner"}`` (learner: e.g. "protonet", "protonet, semi-supervised", "logreg")."""
    from annotator.store import queries

    with store.read() as session:
        events = queries.events_of_kind(session, EVENT_KIND)
        return [
            {
                "id": e.id,
                "project_id": e.project_id,
                "created_at": e.created_at,
                "data": e.payload["config"]["data"],
                "strategies": e.payload["config"]["strategies"],
                "learner": _learner_label(e.payload["config"]),
            }
            for e in events
        ]


def _learner_label(config: dict[str, Any]) -> str:
    learner = config.get("learner", "protonet")
    return f"{learner}, semi-supervised" if config.get("semi_supervised") else learner
