"""Training the project's learner after a round: its labelled rows, the class descriptions
its prototypes start from, whether a retrain is due, and the retrain itself (a prototypical
network, Snell et al. 2017; ``meta.ProtoNetClassifier``). The worker calls :func:`train`."""

from __future__ import annotations

import time
from collections.abc import Collection

import numpy as np
from sqlalchemy.orm import Session

from annotator import services, zero_shot
from annotator.store import queries, queue
from annotator.store.db import Store
from annotator.store.models import ModelVersion, Project, utcnow


def retrain_due(session: Session, project_id: int, model: ModelVersion | None) -> bool:
    """A round was completed after the newest model was trained, or the class descriptions
    the prototypes start from (:func:`descriptions_key`) are not the newest model's: a new
    project's first model comes from its class names, before any label."""
    project = session.get(Project, project_id)
    key = descriptions_key(project)
    trained_with = (model.metrics or {}).get("descriptions") if model is not None else None
    if key is not None and key != trained_with:
        return True
    since = model.created_at if model is not None else None
    return bool(queue.rounds_completed_since(session, project_id, since))


def projects_pending_retrain(store: Store) -> list[str]:
    """Projects with a completed round that no model has learnt from yet."""
    with store.read() as session:
        projects = queries.active_projects(session)
        return [
            p.name
            for p in projects
            if retrain_due(session, p.id, queries.latest_model(session, p.id))
        ]


def retrain_pending(store: Store, project_name: str) -> bool:
    with store.read() as session:
        project = queries.get_project(session, project_name)
        return retrain_due(session, project.id, queries.latest_model(session, project.id))


def _guideline_texts(project: Project) -> dict[str, str]:
    return {k: str((v or {}).get("text") or "") for k, v in (project.guidelines or {}).items()}


def descriptions_key(project: Project) -> str | None:
    """A digest of the class descriptions the project's prototypes start from (names,
    guidelines, template), or None when zero-shot is off or does not apply (not text, or
    names without meaning: :func:`annotator.zero_shot.applies`)."""
    import hashlib
    import json

    names = list(project.labels)
    if not (project.zero_shot and zero_shot.applies(project.data_kind, names)):
        return None
    texts = zero_shot.prior_texts(names, zero_shot.TEMPLATE, _guideline_texts(project))
    return hashlib.sha256(json.dumps([names, texts]).encode()).hexdigest()[:16]


def project_priors(
    store: Store, project_name: str, labels: Collection[str] = ()
) -> dict[str, np.ndarray] | None:
    """The rows of the project's class descriptions for ``ProtoNetClassifier.fit(priors=)``,
    one per class of the label set and per other label in ``labels`` (labels since taken out
    of the set keep their names' priors); None where :func:`descriptions_key` is None."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        key, names = descriptions_key(project), list(project.labels)
        guidelines = _guideline_texts(project)
    if key is None:
        return None
    names += sorted({str(label) for label in labels} - set(names))
    return services.class_priors(store, project_name, names, guidelines)


def labelled_rows(session: Session, project_id: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows, final labels and the newest annotation id of every item with a final label.

    The final label (``queries.item_labels``) is a reviewer's adjudication when there is one,
    else the majority of the annotators' latest labels: one annotator's latest label when only
    one labelled the item.
    """
    found = sorted(
        (it for it in queries.item_labels(session, project_id).values() if it.label is not None),
        key=lambda it: it.row,
    )
    idx = np.array([it.row for it in found], dtype=np.int64)
    labels = np.array([it.label for it in found], dtype=object)
    newest = max((it.newest_id for it in found), default=0)
    return idx, labels, newest


def train(store: Store, project_name: str, *, seed: int | None = None) -> int | None:
    """Retrain the learner on the current labels and store it; return its version.

    Where the project's class descriptions apply (:func:`descriptions_key`), each prototype
    starts from its class's description and the model exists from zero labels; else None
    while fewer than two classes have labels (a prototypical network needs two).
    Fits afresh each round (measured better than a warm start, see the comment below).
    """
    from meta import ProtoNetClassifier

    features = services.load_features(store, project_name)
    started = utcnow()
    with store.read() as session:
        project = queries.get_project(session, project_name)
        rows, labels, newest = labelled_rows(session, project.id)
        previous = queries.latest_model(session, project.id)
        version = (previous.version if previous is not None else 0) + 1
        project_id, semi_supervised = project.id, project.semi_supervised
        key = descriptions_key(project)
    if key is None and len(set(labels.tolist())) < 2:
        return None
    priors = None if key is None else project_priors(store, project_name, labels.astype(str))
    seed = store.settings.seed if seed is None else seed
    t0 = time.perf_counter()
    model = ProtoNetClassifier(random_state=seed + version, device=store.settings.device)
    # A fresh fit, not a warm start: bench/meta_bench.py (b) measured warm starts below fresh
    # fits on digits (0.883 vs 0.894 at 100 labels, shrink-and-perturb 0.6/0.1) at the same cost.
    # Semi-supervised projects refine the prototypes with unlabelled items (refine_steps); a
    # sample of them is drawn here so that a large memory-mapped pool is never copied whole.
    unlabelled = None
    if semi_supervised:
        sample = unlabelled_sample(len(features), rows, model.max_unlabelled, seed + version)
        unlabelled = np.asarray(features[sample])
    X = np.asarray(features[rows]).reshape(len(rows), features.shape[1])
    model.fit(X, labels.astype(str), priors=priors, unlabelled=unlabelled)
    seconds = time.perf_counter() - t0
    with store.write() as session:
        session.add(
            ModelVersion(
                project_id=project_id,
                version=version,
                state=model.to_bytes(),
                n_labels=len(rows),
                last_annotation_id=newest,
                train_seconds=seconds,
                metrics={
                    "n_classes": len(model.classes_),
                    "steps": int(model.n_steps_),
                    "semi_supervised": unlabelled is not None,
                    "descriptions": key,
                    "prior_strength": model.prior_strength_,
                },
                created_at=started,
            )
        )
        queries.log_event(
            session,
            project_id,
            "retrained",
            version=version,
            labels=len(rows),
            seconds=round(seconds, 3),
        )
    return version


def unlabelled_sample(n_items: int, labelled: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted rows of at most ``size`` items outside ``labelled``, drawn under ``seed``."""
    rest = np.setdiff1d(np.arange(n_items), labelled)
    if len(rest) > size:
        rest = np.sort(np.random.default_rng(seed).choice(rest, size, replace=False))
    return rest
