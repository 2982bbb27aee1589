"""The access-control matrix of issue #13, through the services: where a login is required
(``Settings.login_required``, set by the app from its configuration), every action that
writes, exports or simulates checks who acts, and a refused one writes nothing.

| who | may |
|---|---|
| anonymous (or a typed name) | nothing |
| logged in, not a member | nothing in the project; create a project (and own it) |
| annotator | label, skip, undo and relabel their own decisions |
| reviewer | + adjudicate, undo or change anyone's decisions, export, Compare on the project |
| owner | + settings, label set, guidelines, rename, archive, delete, members, add items |

Each action runs on a fresh database: the refused identities first (the database is compared
row by row before and after each), then the allowed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from annotator import (
    downloads,
    loop,
    project_admin,
    review,
    services,
    simulation,
    teams,
    uploads,
)
from annotator.config import Settings
from annotator.errors import PermissionDeniedError
from annotator.loop import card
from annotator.services import ImportOptions
from annotator.simulation import background
from annotator.store.db import Store
from annotator.store.models import Base, Served

P = "proj"

ANONYMOUS = None
TYPED = teams.Identity("ann", authenticated=False)  # a member's name, typed, not logged in
NON_MEMBER = teams.Identity("nina", authenticated=True)
ANNOTATOR = teams.Identity("ann", authenticated=True)
REVIEWER = teams.Identity("rita", authenticated=True)
OWNER = teams.Identity("olga", authenticated=True)
#: In order of what they may do (each may do what those before it may).
WHO = {
    "anonymous": ANONYMOUS,
    "typed name": TYPED,
    "non-member": NON_MEMBER,
    "annotator": ANNOTATOR,
    "reviewer": REVIEWER,
    "owner": OWNER,
}
#: The least privileged identity each level allows.
LEVELS = {"login": "non-member", "annotator": "annotator", "reviewer": "reviewer",
          "owner": "owner"}  # fmt: skip


def _name(who: teams.Identity | None) -> str:
    return who.name if who is not None else "anonymous"


def _auth(who: teams.Identity | None) -> bool:
    return bool(who and who.authenticated)


@dataclass
class World:
    """A project with members, one served item and one decision per person, a split item with
    an adjudication, opened twice: as the operator (no login) and as the app (login)."""

    trust: Store
    app: Store
    folder: Path
    served: dict[str, int]  # name -> an item served to them, not yet decided
    decided: dict[str, int]  # name -> their decision (annotation id)
    split: int  # an item two annotators disagree on, adjudicated


def _data(folder: Path, n: int = 24, *, first_id: int = 0) -> Path:
    rng = np.random.default_rng(first_id)
    k = np.arange(n) % 3
    path = folder / f"blobs{first_id}.npz"
    X = np.eye(4)[k] * 8 + rng.normal(size=(n, 4))
    ids = np.array([str(first_id + i) for i in range(n)])
    np.savez(path, X=X, y=np.array(["a", "b", "c"])[k], ids=ids)
    return path


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> World:
    trust = Store.open(settings)
    services.import_path(trust, _data(tmp_path), P, ImportOptions())
    loop.configure(trust, P, strategy="random", batch_size=12)
    for who in (ANNOTATOR, REVIEWER, OWNER):
        teams.set_role(trust, P, who.name, {"ann": "annotator", "rita": "reviewer",
                                            "olga": "owner"}[who.name])  # fmt: skip
    served, decided = {}, {}
    for name in ("anonymous", "ann", "nina", "rita", "olga"):
        first, second = loop.claim_next(trust, P, name, n=2)
        decided[name] = loop.submit(
            trust, P, first.item_id, "a", annotator=name, owner=name
        ).annotation_id
        served[name] = second.item_id
    (item,) = loop.claim_next(trust, P, "x", n=1)
    loop.submit(trust, P, item.item_id, "a", annotator="x", owner="x")
    with trust.write() as s:  # as if served to y too (overlap 2)
        pid = loop.project_id(trust, P)
        s.add(Served(project_id=pid, item_id=item.item_id, annotator="y"))
    loop.submit(trust, P, item.item_id, "b", annotator="y", owner="y")
    review.adjudicate(trust, P, item.item_id, "a", "olga")
    app = Store.open(replace(settings, login_required=True))
    yield World(trust, app, tmp_path, served, decided, item.item_id)
    app.dispose()
    trust.dispose()


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table (the databases here are small) and the feature files."""
    out: dict[str, list[tuple]] = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    folder = store.features_dir()
    out["feature files"] = [
        (p.name, p.stat().st_size) for p in sorted(folder.iterdir())
    ] if folder and folder.exists() else []  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# The actions, each as the app's services are called by the pages


Act = Callable[[World, "teams.Identity | None"], object]


def _import_new(w: World, who) -> object:
    name = f"new-{_name(who)}"
    services.import_path(w.app, _data(w.folder), name, ImportOptions(), who=who)
    assert teams.role_in(w.trust, name, who.name) == "owner"  # the creator owns it
    return name


def _upload_new(w: World, who) -> object:
    data = _data(w.folder).read_bytes()
    name = f"up-{_name(who)}"
    return uploads.import_upload(w.app, "blobs.npz", data, name, ImportOptions(), who=who)


def _append(w: World, who) -> object:
    return services.import_path(
        w.app, _data(w.folder, 6, first_id=100), P, ImportOptions(append=True), who=who
    )


def _lease(w: World, who) -> object:
    return loop.lease(w.app, P, f"tab-{_name(who)}", annotator=_name(who),
                         authenticated=_auth(who))  # fmt: skip


def _submit(w: World, who, label: str | None = "b") -> object:
    name = _name(who)
    return loop.submit(w.app, P, w.served[name], label, annotator=name, owner=name,
                          authenticated=_auth(who))  # fmt: skip


def _card_label(w: World, who) -> object:
    name = _name(who)
    event = {"id": f"e-{name}", "type": "label", "item": w.served[name], "label": "c"}
    applied = card.apply_events(w.app, P, [event], owner=name, annotator=name, done=set(),
                                     authenticated=_auth(who))  # fmt: skip
    if applied.refused:  # the card shows why; the page does not raise
        raise PermissionDeniedError(applied.refused[0][1])
    return applied


def _undo_own(w: World, who) -> object:
    name = _name(who)
    return loop.undo(w.app, P, w.decided[name], annotator=name, owner=name,
                        authenticated=_auth(who))  # fmt: skip


def _relabel_own(w: World, who) -> object:
    name = _name(who)
    return loop.relabel(w.app, P, w.decided[name], "c", annotator=name,
                           authenticated=_auth(who))  # fmt: skip


def _others(who) -> str:
    return "olga" if _name(who) != "olga" else "rita"


def _undo_others(w: World, who) -> object:
    return loop.undo(w.app, P, w.decided[_others(who)], annotator=_name(who),
                        authenticated=_auth(who))  # fmt: skip


def _relabel_others(w: World, who) -> object:
    return loop.relabel(w.app, P, w.decided[_others(who)], "b", annotator=_name(who),
                           authenticated=_auth(who))  # fmt: skip


def _adjudicate(w: World, who) -> object:
    return review.adjudicate(w.app, P, w.split, "b", _name(who), authenticated=_auth(who))


def _clear_adjudication(w: World, who) -> object:
    return review.clear_adjudication(w.app, P, w.split, _name(who), authenticated=_auth(who))


def _export_file(w: World, who) -> object:
    out = w.folder / f"export-{_name(who)}.csv"
    services.export_project(w.app, P, "csv", out, who=who)
    assert out.exists()


def _export_download(w: World, who) -> object:
    return downloads.export_download(w.app, P, "jsonl", include_all=True, who=who)


def _compare_project(w: World, who) -> object:
    config = simulation.SimulationConfig(
        data=f"project:{P}", strategies=("random",), seeds=1, budget=20, batch=2, test_size=3,
        db=w.app.settings.db_url,
    )  # fmt: skip
    simulation.check_config(config)
    return background.check_may_simulate(w.app, config.data, who)  # start() runs it: slow


def _check_labels(w: World, who) -> object:
    return review.label_error_candidates(w.app, P, who=who)


def _history(w: World, who) -> object:
    return loop.history(w.app, P, who=who)


def _compare_demo(w: World, who) -> object:
    return background.check_may_simulate(w.app, "demo:digits", who)


def _preview(w: World, who) -> object:
    data = _data(w.folder).read_bytes()
    return uploads.preview_upload(w.app.settings, "blobs.npz", data, who=who)


def _configure(w: World, who) -> object:
    return loop.configure(w.app, P, batch_size=7, user=_name(who), authenticated=_auth(who))


def _set_role(w: World, who) -> object:
    return teams.set_role(w.app, P, "newcomer", "annotator", by=_name(who),
                          authenticated=_auth(who))  # fmt: skip


def _rename(w: World, who) -> object:
    return project_admin.rename_project(w.app, P, "renamed", who=who)


def _archive(w: World, who) -> object:
    return project_admin.set_archived(w.app, P, True, who=who)


def _delete(w: World, who) -> object:
    return services.delete_project(w.app, P, who=who)


def _add_label(w: World, who) -> object:
    return project_admin.add_label(w.app, P, "d", who=who)


def _rename_label(w: World, who) -> object:
    return project_admin.rename_label(w.app, P, "a", "alpha", who=who)


def _merge_labels(w: World, who) -> object:
    return project_admin.merge_labels(w.app, P, "a", "b", who=who)


def _guideline(w: World, who) -> object:
    return project_admin.set_guideline(w.app, P, "a", "pointy", [], who=who)


ACTIONS: dict[str, tuple[str, Act]] = {
    "create a project (import)": ("login", _import_new),
    "create a project (upload)": ("login", _upload_new),
    "preview an upload": ("login", _preview),
    "Compare on bundled data": ("login", _compare_demo),
    "lease items": ("annotator", _lease),
    "label": ("annotator", _submit),
    "skip": ("annotator", lambda w, who: _submit(w, who, None)),
    "label from the card": ("annotator", _card_label),
    "undo own decision": ("annotator", _undo_own),
    "relabel own decision": ("annotator", _relabel_own),
    "undo another's decision": ("reviewer", _undo_others),
    "relabel another's decision": ("reviewer", _relabel_others),
    "see the decisions (history)": ("annotator", _history),
    "check the labels (Review)": ("reviewer", _check_labels),
    "adjudicate": ("reviewer", _adjudicate),
    "clear an adjudication": ("reviewer", _clear_adjudication),
    "export a file": ("reviewer", _export_file),
    "export a download": ("reviewer", _export_download),
    "Compare on the project": ("reviewer", _compare_project),
    "settings": ("owner", _configure),
    "members": ("owner", _set_role),
    "add items": ("owner", _append),
    "rename the project": ("owner", _rename),
    "archive": ("owner", _archive),
    "delete": ("owner", _delete),
    "add a label": ("owner", _add_label),
    "rename a label": ("owner", _rename_label),
    "merge labels": ("owner", _merge_labels),
    "guidelines": ("owner", _guideline),
}

_ORDER = list(WHO)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_only_for_the_roles_allowed(world: World, action: str) -> None:
    needed, act = ACTIONS[action]
    first_allowed = _ORDER.index(LEVELS[needed])
    refused, allowed = _ORDER[:first_allowed], _ORDER[first_allowed:]
    for key in refused:
        before = dump(world.trust)
        with pytest.raises(PermissionDeniedError) as caught:
            act(world, WHO[key])
        assert "\n" not in str(caught.value) and str(caught.value), key
        assert dump(world.trust) == before, f"{action}: refused for {key} yet wrote"
    for key in allowed[:1] if needed == "owner" else allowed:  # an owner's action is final
        act(world, WHO[key])


def test_the_operator_and_trust_mode_may_do_everything(world: World) -> None:
    """The command line (no login) and the server itself (the demo) pass every check."""
    services.delete_project(world.app, P, who=teams.OPERATOR)
    services.import_path(world.app, _data(world.folder), "by-server", ImportOptions(),
                         who=teams.OPERATOR)  # fmt: skip
    assert teams.members(world.trust, "by-server") == []  # nobody owns what the server made
    project_admin.rename_project(world.trust, "by-server", "by-cli")  # no identity at all
    services.delete_project(world.trust, "by-cli")


def test_projects_are_listed_only_to_their_members(world: World) -> None:
    listed = {
        key: [p.name for p in services.list_projects(world.app, who=who)]
        for key, who in WHO.items()
    }
    assert listed == {"anonymous": [], "typed name": [], "non-member": [],
                      "annotator": [P], "reviewer": [P], "owner": [P]}  # fmt: skip
    assert [p.name for p in services.list_projects(world.app, who=ANNOTATOR, role="reviewer")] == []
    assert [p.name for p in services.list_projects(world.trust)] == [P]  # trust mode: all
    for store, who, role in [(world.app, w, r) for w in WHO.values() for r in teams.ROLES] + [
        (world.trust, None, "annotator")
    ]:  # the names without counts, for the pages' selectors: the same filter
        assert services.project_names(store, who=who, role=role) == [
            p.name for p in services.list_projects(store, who=who, role=role)
        ]


def test_saved_comparisons_of_a_project_are_shown_only_to_its_reviewers(world: World) -> None:
    from annotator import simulation

    for data in (f"project:{P}", "demo:digits"):
        results = {"config": {"data": data, "strategies": ["random"]}, "curves": {}}
        simulation.save_results(world.trust, results)
    seen = {key: [r["data"] for r in background.saved_runs(world.app, who)]
            for key, who in WHO.items()}  # fmt: skip
    assert seen["anonymous"] == [] and seen["typed name"] == []
    assert seen["non-member"] == seen["annotator"] == ["demo:digits"]
    assert sorted(seen["reviewer"]) == sorted(seen["owner"]) == ["demo:digits", f"project:{P}"]
    project_run = next(r["id"] for r in background.saved_runs(world.app, OWNER)
                       if r["data"].startswith("project:"))  # fmt: skip
    with pytest.raises(PermissionDeniedError):
        background.load_saved(world.app, project_run, ANNOTATOR)
    assert (
        background.load_saved(world.app, project_run, REVIEWER)["config"]["data"] == f"project:{P}"
    )


def test_an_annotator_sees_only_their_own_decisions_a_reviewer_all(world: World) -> None:
    own = {h.annotator for h in loop.history(world.app, P, who=ANNOTATOR)}
    assert own == {"ann"}
    assert {"olga", "rita", "ann", "x", "y"} <= {
        h.annotator for h in loop.history(world.app, P, who=REVIEWER)
    }
    assert len(loop.history(world.trust, P)) > 1  # trust mode and the command line: all
