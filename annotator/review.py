"""Agreement, the review queue and adjudication: what the Review page shows and does.

- :func:`agreement` computes ``annotator.agreement.agreement_report`` over each annotator's
  latest label per item (undone decisions and skips left out).
- The review queue (:func:`review_queue`) holds items not adjudicated yet that are either
  *disagreements* (their annotators' latest labels differ) or *label-error candidates*: items
  whose final label a model trained without them contradicts with high confidence.
- Label-error candidates (:func:`label_error_candidates`) follow confident learning (Northcutt,
  Jiang & Chuang 2021, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 70,
  arXiv:1911.00068): out-of-fold predicted probabilities from stratified k-fold
  cross-validation (``annotator.validation``: ``k = min(5, smallest class count)``; with the
  class descriptions of zero-shot projects, every class in every fold), so no item is judged by a model that
  saw its label. An item is a candidate when the out-of-fold probability of its label is below
  ``max_given`` (default 0.1) *and* another class has at least ``min_other`` (default 0.8):
  both, so that a merely uncertain model flags nothing. Candidates are ranked by the
  probability of their label, lowest first (the paper's self-confidence ranking). Fixed,
  configurable thresholds stand in for the paper's per-class thresholds (the mean
  self-confidence of each class) because they are easy to explain and to tune; on the digits
  demo with 5% of 1,797 labels flipped at random (``bench/review_bench.py``) they find 75 of
  the 89 flips among 79 candidates (precision 0.95, recall 0.84), the per-class rule 72 among
  75 (0.96, 0.81); 0.05/0.9 gives 0.97/0.72 and 0.2/0.6 gives 0.88/0.91. The cost is
  capped: at most ``max_items`` labelled items (a seeded sample beyond that), the cached
  feature matrix and at most ``CV_MAX_STEPS`` training steps per fold; all 1,797 digits take
  1.4 s once torch is loaded, 4.3 s on the first call (2 busy cores). With few labels per
  class the network's probabilities are softer (two classes of 20 labels: at most about
  0.93), so the defaults flag only clear cases; loosen ``max_given`` on a small project.
- :func:`adjudicate` sets an item's final label (one row per item; re-adjudicating replaces
  it, :func:`clear_adjudication` removes it; every change is in the event log with who and
  when). Who may review is decided by :func:`require_reviewer` (roles for logged-in users).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from annotator import services, teams, validation
from annotator.agreement import SOURCE_SPLIT, AgreementReport, agreement_report
from annotator.errors import LabelError, PermissionDeniedError, ProtolabelError
from annotator.loop.training import project_priors
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Adjudication, Item, Project, utcnow

MAX_GIVEN = 0.1
MIN_OTHER = 0.8
MAX_CV_ITEMS = 3000
CV_MAX_STEPS = 100
MAX_NOTE = 2000

REASON_DISAGREEMENT = "disagreement"
REASON_MODEL = "model"


# --------------------------------------------------------------------------------------------
# Roles


def require_reviewer(
    session: Session,
    project: Project,
    actor: str,
    *,
    authenticated: bool = False,
    login_required: bool = False,
) -> str:
    """Raise ``PermissionDeniedError`` unless ``actor`` may adjudicate in ``project``; return
    the cleaned name.

    An authenticated user needs the reviewer or owner role (``annotator.teams``); in trust mode
    (no login) anyone with a name may review. Every adjudicating action calls this first,
    inside its write transaction, so a refusal writes nothing.
    """
    actor = (actor or "").strip()
    if not actor:
        raise PermissionDeniedError("reviewer name is empty: type your name first")
    if len(actor) > 200:
        raise PermissionDeniedError("reviewer name is longer than 200 characters")
    if authenticated or login_required:
        teams.authorize(
            session, project, teams.Identity(actor, authenticated), "reviewer",
            login_required=True, action="adjudicate",
        )  # fmt: skip
    return actor


# --------------------------------------------------------------------------------------------
# Agreement


def _label_triples(session: Session, project_id: int) -> list[tuple[int, str, str]]:
    return queries.latest_labels(session, project_id)


def agreement(store: Store, project_name: str) -> AgreementReport:
    """Agreement statistics of the project's annotators (see ``annotator.agreement``)."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        triples = _label_triples(session, project.id)
    return agreement_report(triples)


# --------------------------------------------------------------------------------------------
# Label-error candidates


@dataclass(frozen=True)
class Candidate:
    item_id: int
    row: int
    label: str  # the final label the model contradicts
    p_label: float  # out-of-fold probability of that label
    suggested: str  # the class the model prefers
    p_suggested: float


@dataclass(frozen=True)
class CandidateReport:
    """The result of one cross-validated check; ``candidates`` is empty when not computed."""

    candidates: list[Candidate]
    n_checked: int  # labelled items that got an out-of-fold probability
    n_labelled: int
    folds: int
    seconds: float
    reason: str = ""  # why nothing or not everything was checked
    max_given: float = MAX_GIVEN
    min_other: float = MIN_OTHER


def find_candidates(
    proba: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    *,
    max_given: float = MAX_GIVEN,
    min_other: float = MIN_OTHER,
) -> list[tuple[int, float, str, float]]:
    """Positions whose label gets ``< max_given`` while another class gets ``>= min_other``:
    (position, p(label), suggested class, p(suggested)), lowest p(label) first."""
    column = {c: j for j, c in enumerate(classes)}
    given = np.array([column[str(lab)] for lab in labels], dtype=np.int64)
    idx = np.arange(len(given))
    p_given = proba[idx, given]
    others = proba.copy()
    others[idx, given] = -1.0
    best = others.argmax(axis=1)
    p_best = others[idx, best]
    hits = np.flatnonzero((p_given < max_given) & (p_best >= min_other))
    hits = hits[np.argsort(p_given[hits], kind="stable")]
    return [(int(i), float(p_given[i]), classes[best[i]], float(p_best[i])) for i in hits]


def label_error_candidates(
    store: Store,
    project_name: str,
    *,
    max_given: float = MAX_GIVEN,
    min_other: float = MIN_OTHER,
    max_items: int = MAX_CV_ITEMS,
    max_steps: int = CV_MAX_STEPS,
    seed: int | None = None,
    who: teams.Identity | None = None,
) -> CandidateReport:
    """Items (not adjudicated) whose final label the out-of-fold model contradicts. Where a
    login is required, ``who`` must be a reviewer or owner (it reads every label, and may
    rebuild the feature cache)."""
    if not 0.0 < max_given <= 1.0 or not 0.0 <= min_other <= 1.0:
        raise ProtolabelError("thresholds must be probabilities (0 < max_given, min_other <= 1)")
    if store.settings.login_required:
        with store.read() as session:
            project = queries.get_project(session, project_name)
            teams.require(store, session, project, who, "reviewer", "check the labels")
    started = time.perf_counter()
    seed = store.settings.seed if seed is None else seed
    features = services.load_features(store, project_name)
    with store.read() as session:
        project = queries.get_project(session, project_name)
        found = [
            it for it in queries.item_labels(session, project.id).values() if it.label is not None
        ]
    found.sort(key=lambda it: it.row)
    n_labelled = len(found)
    notes = []
    if n_labelled > max_items:
        rng = np.random.default_rng([seed, project.id, n_labelled])
        keep = np.sort(rng.choice(n_labelled, size=max_items, replace=False))
        found = [found[i] for i in keep]
        notes.append(f"checked a random {max_items} of {n_labelled} labelled items")
    labels = np.array([it.label for it in found], dtype=object).astype(str)
    # With the class descriptions (zero-shot), a class's single label is judged by its prior.
    priors = project_priors(store, project_name, labels)
    classes, counts = np.unique(labels, return_counts=True)
    rare = set(classes[counts < 2].tolist()) if priors is None else set()
    if rare:
        found = [it for it in found if it.label not in rare]
        labels = np.array([it.label for it in found], dtype=object).astype(str)
        notes.append(f"classes with a single label not checked: {', '.join(sorted(rare))}")
    if validation.folds_for(labels, described=priors is not None) < 2:
        need = "2 labels in one class" if priors else "at least 2 classes with 2 labels each"
        reason = "; ".join([*notes, f"needs {need}"])
        return CandidateReport([], 0, n_labelled, 0, time.perf_counter() - started, reason)
    rows = np.array([it.row for it in found], dtype=np.int64)
    oof = validation.out_of_fold_proba(
        np.asarray(features[rows], dtype=np.float32), labels, priors=priors, seed=seed,
        max_steps=max_steps,
    )  # fmt: skip
    k = oof.k
    hits = find_candidates(oof.proba, labels, oof.classes, max_given=max_given, min_other=min_other)
    candidates = [
        Candidate(found[i].item_id, found[i].row, found[i].label, p, suggested, p_other)
        for i, p, suggested, p_other in hits
        if found[i].adjudication is None
    ]
    return CandidateReport(
        candidates, len(found), n_labelled, k, time.perf_counter() - started, "; ".join(notes),
        max_given, min_other,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The review queue


@dataclass(frozen=True)
class ReviewEntry:
    """An item to review, with every annotator's latest decision and why it is here."""

    item_id: int
    external_id: str
    row: int
    label: str | None  # the current final label
    source: str | None
    agreement: float | None
    votes: dict[str, str | None]
    reasons: list[str] = field(default_factory=list)  # sentences for people
    kinds: tuple[str, ...] = ()  # REASON_DISAGREEMENT and/or REASON_MODEL
    suggested: str | None = None  # the model's class, for a label-error candidate
    p_label: float | None = None
    p_suggested: float | None = None


def _votes_text(votes: dict[str, str | None]) -> str:
    return ", ".join(f"{a}: {lab if lab is not None else 'skip'}" for a, lab in votes.items())


def review_queue(
    store: Store, project_name: str, *, candidates: CandidateReport | None = None
) -> list[ReviewEntry]:
    """Items to adjudicate: disagreements, then (with ``candidates``) the model's label-error
    candidates; adjudicated items are left out, so an entry leaves once decided.

    Order: items with both reasons first, then disagreements (splits first, then by agreement,
    lowest first), then candidates by the probability of their label (lowest first).
    """
    model_hits = {c.item_id: c for c in (candidates.candidates if candidates else [])}
    with store.read() as session:
        project = queries.get_project(session, project_name)
        decided = queries.item_labels(session, project.id)
        wanted = [
            i
            for i, it in decided.items()
            if it.adjudication is None and (it.final.disagreement or i in model_hits)
        ]
        external = queries.external_ids(session, wanted)
    entries = []
    for item_id in wanted:
        it = decided[item_id]
        reasons, kinds = [], []
        if it.final.source == SOURCE_SPLIT:
            kinds.append(REASON_DISAGREEMENT)
            reasons.append(
                f"annotators are split ({_votes_text(it.final.votes)}): no final label until "
                "a reviewer settles it"
            )
        elif it.final.disagreement:
            kinds.append(REASON_DISAGREEMENT)
            reasons.append(f"annotators disagree ({_votes_text(it.final.votes)})")
        hit = model_hits.get(item_id)
        if hit is not None and hit.label == it.label:  # still the label the model contradicted
            kinds.append(REASON_MODEL)
            reasons.append(
                f"the model, trained without this item, gives {hit.label!r} "
                f"{hit.p_label:.0%} and {hit.suggested!r} {hit.p_suggested:.0%}"
            )
        else:
            hit = None
        if not kinds:
            continue
        entries.append(
            ReviewEntry(
                item_id=item_id,
                external_id=external.get(item_id, str(item_id)),
                row=it.row,
                label=it.label,
                source=it.final.source,
                agreement=it.final.agreement,
                votes=dict(it.final.votes),
                reasons=reasons,
                kinds=tuple(kinds),
                suggested=hit.suggested if hit else None,
                p_label=hit.p_label if hit else None,
                p_suggested=hit.p_suggested if hit else None,
            )
        )
    entries.sort(
        key=lambda e: (
            -len(e.kinds),
            REASON_DISAGREEMENT not in e.kinds,
            e.source != SOURCE_SPLIT,  # a split has no final label at all: first
            e.agreement if e.agreement is not None else 1.0,
            e.p_label if e.p_label is not None else 1.0,
            e.row,
        )
    )
    return entries


# --------------------------------------------------------------------------------------------
# Adjudication


@dataclass(frozen=True)
class AdjudicationRecord:
    item_id: int
    external_id: str
    label: str
    reviewer: str
    note: str
    created_at: object


def _item(session: Session, project: Project, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None or item.project_id != project.id:
        raise ProtolabelError(f"project {project.name!r} has no item {item_id}")
    return item


def adjudicate(
    store: Store,
    project_name: str,
    item_id: int,
    label: str,
    reviewer: str,
    *,
    note: str = "",
    authenticated: bool = False,
) -> None:
    """Set the item's final label (replacing an earlier adjudication)."""
    if len(note or "") > MAX_NOTE:
        raise ProtolabelError(f"note is longer than {MAX_NOTE} characters")
    with store.write() as session:
        project = queries.get_project(session, project_name)
        reviewer = require_reviewer(
            session, project, reviewer, authenticated=authenticated,
            login_required=store.settings.login_required,
        )  # fmt: skip
        if label not in project.labels:
            raise LabelError(
                f"label {label!r} is not in project {project.name!r}'s label set "
                f"({', '.join(project.labels)})"
            )
        item = _item(session, project, item_id)
        row = queries.adjudication(session, project.id, item.id)
        previous = row.label if row is not None else None
        if row is None:
            row = Adjudication(project_id=project.id, item_id=item.id)
            session.add(row)
        row.label, row.reviewer, row.note, row.created_at = label, reviewer, note or "", utcnow()
        queries.log_event(
            session, project.id, "adjudicate", item=item.external_id, label=label,
            previous=previous, reviewer=reviewer,
        )  # fmt: skip


def clear_adjudication(
    store: Store, project_name: str, item_id: int, reviewer: str, *, authenticated: bool = False
) -> bool:
    """Remove the item's adjudication (its annotators' majority counts again); False if none."""
    with store.write() as session:
        project = queries.get_project(session, project_name)
        reviewer = require_reviewer(
            session, project, reviewer, authenticated=authenticated,
            login_required=store.settings.login_required,
        )  # fmt: skip
        item = _item(session, project, item_id)
        row = queries.adjudication(session, project.id, item.id)
        if row is None:
            return False
        queries.log_event(
            session, project.id, "adjudication_cleared", item=item.external_id,
            label=row.label, reviewer=reviewer,
        )  # fmt: skip
        session.delete(row)
        return True


def adjudications(store: Store, project_name: str) -> list[AdjudicationRecord]:
    """The project's adjudications, newest first."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        rows = queries.adjudications_newest_first(session, project.id)
        return [
            AdjudicationRecord(a.item_id, ext, a.label, a.reviewer, a.note, a.created_at)
            for a, ext in rows
        ]


def item_id_for(store: Store, project_name: str, external_id: str) -> int:
    """The item id of an external id (for the CLI and tests)."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        item_id = queries.item_id_of(session, project.id, external_id)
        if item_id is None:
            raise ProtolabelError(f"project {project_name!r} has no item with id {external_id!r}")
        return item_id


def label_set(store: Store, project_name: str) -> list[str]:
    with store.read() as session:
        return list(queries.get_project(session, project_name).labels)


def item_views(store: Store, project_name: str, item_ids: list[int]):
    """The items' contents as the pages show them (``project_admin.Example``), by item id."""
    from annotator.project_admin import Example

    with store.read() as session:
        project = queries.get_project(session, project_name)
        names = list(project.source_info.get("feature_names") or []) or None
        items = queries.items_of(session, project.id, item_ids)
        values = services.feature_values_by_id(store, session, project, items)
        return {
            it.id: Example(it.external_id, it.text, it.image, values.get(it.id), names)
            for it in items
        }


def shortcut_keys(labels: list[str]) -> dict[str, str | None]:
    """A keyboard key per label for the adjudication buttons: the label itself when every
    label is one letter or digit (Streamlit reserves C and R), else 1-9 and 0 for the first
    ten labels in order; None for the rest."""
    single = all(
        len(lab) == 1 and len(lab.upper()) == 1 and lab.isalnum() and lab.upper() not in "CR"
        for lab in labels
    )  # ("ß".upper() is "SS": not a key)
    if single and len({lab.upper() for lab in labels}) == len(labels):
        return {lab: lab.upper() for lab in labels}
    return {lab: (str((i + 1) % 10) if i < 10 else None) for i, lab in enumerate(labels)}
