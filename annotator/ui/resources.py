"""Objects shared by every browser session of one server (``st.cache_resource``).

The store is opened once per server process and the demo created once; both are safe to share
across threads (SQLAlchemy engines are; sessions are made per action).
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib
import threading

import streamlit as st

from annotator import loop
from annotator.config import Settings
from annotator.demo import ensure_demo
from annotator.loop import training
from annotator.loop.worker import WorkerPool
from annotator.store.db import Store
from annotator.ui import auth


@st.cache_resource(show_spinner="Opening the database...")
def get_store() -> Store:
    """The server's store (``$PROTOLABEL_DB``). Where a login is configured its services
    enforce roles (``Settings.login_required``); otherwise (trust mode) the digits demo is
    put in place. With a login nobody would be a member of the demo, so there is none."""
    required = auth.login_configured()
    store = Store.open(dataclasses.replace(Settings.from_env(), login_required=required))
    if not required:
        ensure_demo(store)
    return store


@st.cache_resource
def get_workers() -> WorkerPool:
    """The server's background trainers, one per project; ended with the server."""
    store = get_store()
    pool = WorkerPool(store.settings)
    atexit.register(pool.stop_all)
    for name in training.projects_pending_retrain(store):  # left pending by a stopped server
        pool.ensure(name)
    recent = loop.most_recent_project(store)  # the Label page opens on it: get it ready
    if recent is not None:
        pool.ensure(recent)
    return pool


#: Imported in the background once per server: the learner (torch), torch's compiler stack
#: (which the first optimizer loads: the Model page's cross-validation would wait 2-3 s for it)
#: and the scikit-learn parts that cross-validation uses.
WARM_UP = ("meta", "torch._dynamo", "sklearn.model_selection", "sklearn.metrics")


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


@st.cache_resource
def warm_up() -> threading.Thread:
    """Import the learner (torch) in the background once per server, so the first page that
    shows a model's suggestions or estimate does not wait seconds for the imports."""
    thread = threading.Thread(
        target=_import_all, args=(WARM_UP,), name="protolabel-warm-up", daemon=True
    )
    thread.start()
    return thread
