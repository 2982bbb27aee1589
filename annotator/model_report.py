"""How the model is doing and whether to stop: what the Model page shows.

- Rounds (strategy, size, decisions) and model versions (labels, retrain time).
- Accuracy *estimated* by stratified k-fold cross-validation on the labels given so far, with
  ``k = min(5, smallest class count)``; ``None`` with a reason when some class has fewer than two
  labels. Hidden ground truth (``Item.ground_truth``) is never read here.
- Per-class label counts and the confusion matrix of the cross-validated predictions.
- Stopping advice by *stabilizing predictions* (Bloodgood & Vijay-Shanker 2009, "A Method for
  Stopping Active Learning Based on Stabilizing Predictions and the Need for User-Adjustable
  Stopping", CoNLL, arXiv:1409.5165): successive model versions predict a fixed stop set of
  unlabelled-pool items (no labels needed); Cohen's kappa between each version and the one
  before measures how much the model still changes. Advice is to stop once kappa reaches
  ``KAPPA_THRESHOLD`` (0.99) for ``STOP_WINDOW`` (3) successive model versions, the paper's
  parameters. Bloodgood & Grothendieck (2015, arXiv:1504.06329) bound the F-measure change
  between two models with kappa T by 4(1 - T) / T (about 0.04 at T = 0.99).

The stop set is a seeded sample of up to ``STOP_SET_SIZE`` rows of items without a label at
that moment (seed: ``Settings.seed`` and the project id), chosen the first time it is needed and
stored in the project (``Project.stop_set``) so it never changes afterwards.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from annotator import services, validation
from annotator.loop.training import labelled_rows, project_priors, unlabelled_sample
from annotator.store import queries
from annotator.store.db import Store

KAPPA_THRESHOLD = 0.99
STOP_WINDOW = 3
STOP_SET_SIZE = 2000
#: Unlabelled rows refining each fold of a semi-supervised project (a seeded sample); the app
#: retrains with up to 20,000, fewer keeps the five folds quick.
MAX_CV_UNLABELLED = 5_000


# --------------------------------------------------------------------------------------------
# Stopping advice: pure arithmetic


@dataclass(frozen=True)
class StopAdvice:
    """``kappas[i]``: agreement of model ``versions[i + 1]`` with ``versions[i]`` on the stop set."""

    versions: list[int]
    kappas: list[float]
    stop: bool
    sentence: str
    threshold: float = KAPPA_THRESHOLD
    window: int = STOP_WINDOW


def kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two prediction vectors; 1.0 when both are the same single class
    (sklearn's value there is NaN: no disagreement is possible, so agreement is perfect)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a) == 0:
        raise ValueError("kappa of empty predictions")
    if (a == b).all() and len(set(a.tolist())) == 1:
        return 1.0
    return float(cohen_kappa_score(a, b))


def stop_advice(
    versions: Sequence[int],
    predictions: Sequence[Sequence[str]],
    *,
    threshold: float = KAPPA_THRESHOLD,
    window: int = STOP_WINDOW,
) -> StopAdvice:
    """Kappa between successive versions' stop-set predictions, and the advice as a sentence."""
    if len(versions) != len(predictions):
        raise ValueError(f"{len(versions)} versions but {len(predictions)} prediction vectors")
    kappas = [kappa(predictions[i - 1], predictions[i]) for i in range(1, len(predictions))]
    run = 0
    for value in reversed(kappas):
        if value < threshold:
            break
        run += 1
    stop = run >= window
    if not versions:
        sentence = "No model yet: label the first round; the advice starts after a few retrains."
    elif len(kappas) < window:
        sentence = (
            f"Keep labelling: {len(versions)} model version(s) so far; the advice needs "
            f"{window + 1} to compare {window} successive pairs."
        )
    elif stop:
        sentence = (
            f"You can stop: the last {run} retrains changed almost none of the model's "
            f"predictions (kappa \u2265 {threshold} each time), so more labels are unlikely to "
            "change the model much."
        )
    else:
        sentence = (
            f"Keep labelling: the model's predictions still change between retrains (latest "
            f"kappa {kappas[-1]:.3f}; stop once it stays \u2265 {threshold} for {window} retrains"
            f" in a row, {window - run} more to go at best)."
        )
    return StopAdvice(list(versions), kappas, stop, sentence, threshold, window)


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Estimate:
    """Cross-validated accuracy on the labels given so far: an estimate, not a test score."""

    accuracy: float | None
    std: float | None
    folds: int
    n_labels: int
    reason: str = ""
    labels: list[str] = field(default_factory=list)
    confusion: np.ndarray | None = None  # (n_labels, n_labels): rows true, columns predicted


@dataclass(frozen=True)
class ModelReport:
    rounds: pd.DataFrame
    models: pd.DataFrame
    class_counts: pd.DataFrame
    estimate: Estimate
    advice: StopAdvice
    stop_set_size: int


def _more_labels_needed(rare: np.ndarray) -> str:
    """What unlocks the estimate when some classes have a single label."""
    names = ", ".join(repr(str(c)) for c in rare[:5]) + (", ..." if len(rare) > 5 else "")
    if len(rare) == 1:
        return (
            f"class {names} has only 1 label and cross-validation needs 2 per class: "
            f"1 more {names} label gives an estimate"
        )
    return (
        f"{len(rare)} classes have only 1 label ({names}) and cross-validation needs 2 per "
        f"class: {len(rare)} more labels, one for each, give an estimate"
    )


def cross_validated(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    device: str = "cpu",
    unlabelled: np.ndarray | None = None,
    priors: dict[str, np.ndarray] | None = None,
) -> Estimate:
    """Stratified k-fold accuracy and confusion (:func:`annotator.validation.out_of_fold_proba`).

    ``unlabelled``: rows without a label that refine each fold's prototypes, as a
    semi-supervised project's model does (the held-out fold is never among them). ``priors``:
    the class descriptions, as a project with zero-shot prototypes trains (then a class with
    one label is estimated too, and every class is a column of the confusion).
    """
    from sklearn.metrics import confusion_matrix

    labels = np.asarray(labels).astype(str)
    classes, counts = np.unique(labels, return_counts=True)
    n = len(labels)
    if priors is not None:
        if validation.folds_for(labels, described=True) < 2:
            return Estimate(None, None, 0, n, "needs 2 labels in one class")
    elif len(classes) < 2:
        return Estimate(None, None, 0, n, "needs labels in at least 2 classes")
    elif counts.min() < 2:
        return Estimate(None, None, 0, n, _more_labels_needed(classes[counts < 2]))
    oof = validation.out_of_fold_proba(
        features, labels, priors=priors, unlabelled=unlabelled, seed=seed, device=device
    )
    predicted = oof.predicted()
    scores = [
        float(np.mean(predicted[oof.fold == f] == labels[oof.fold == f])) for f in range(oof.k)
    ]
    return Estimate(
        accuracy=float(np.mean(predicted == labels)),
        std=float(np.std(scores)),
        folds=oof.k,
        n_labels=n,
        labels=oof.classes,
        confusion=confusion_matrix(labels, predicted.astype(str), labels=oof.classes),
    )


def ensure_stop_set(store: Store, project_name: str) -> list[int]:
    """The project's stop set (item rows), chosen and stored on first use."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        if project.stop_set is not None:
            return list(project.stop_set)
    with store.write() as session:
        project = queries.get_project(session, project_name)
        if project.stop_set is None:  # nobody chose it meanwhile
            n = queries.item_count(session, project.id)
            unlabelled = np.ones(n, dtype=bool)
            unlabelled[labelled_rows(session, project.id)[0]] = False
            pool = np.flatnonzero(unlabelled)  # the rows without a label, in order
            if not len(pool):  # every item labelled: choose among them all
                pool = np.arange(n)
            rng = np.random.default_rng([store.settings.seed, project.id])
            size = min(STOP_SET_SIZE, len(pool))
            project.stop_set = sorted(rng.choice(pool, size=size, replace=False).tolist())
            queries.log_event(session, project.id, "stop_set", size=size)
        return list(project.stop_set)


_PREDICTION_CACHE: dict[tuple[str, str], tuple[str, ...]] = {}
_PREDICTION_CACHE_SIZE = 512
_PREDICTION_CACHE_LOCK = threading.Lock()  # Streamlit runs each browser session on its own thread


def _predictions(models: list[tuple[int, bytes]], rows: list[int], features) -> list[list[str]]:
    """Each stored model's predictions on the stop set, oldest first.

    Cached by (model state digest, stop set digest): a stored version never changes, so the
    page recomputes only what a new version adds.
    """
    from meta import ProtoNetClassifier

    x = np.asarray(features[np.asarray(rows, dtype=np.int64)])
    rows_key = hashlib.sha1(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()
    out = []
    for _version, state in models:
        key = (hashlib.sha1(state).hexdigest(), rows_key)
        with _PREDICTION_CACHE_LOCK:
            predicted = _PREDICTION_CACHE.get(key)
        if predicted is None:
            model = ProtoNetClassifier.from_bytes(state, device="cpu")
            predicted = tuple(str(p) for p in model.predict(x))
            with _PREDICTION_CACHE_LOCK:
                while len(_PREDICTION_CACHE) >= _PREDICTION_CACHE_SIZE:
                    _PREDICTION_CACHE.pop(next(iter(_PREDICTION_CACHE)))
                _PREDICTION_CACHE[key] = predicted
        out.append(list(predicted))
    return out


def build_report(store: Store, project_name: str, *, cross_validate: bool = True) -> ModelReport:
    """Everything the Model page shows for one project."""
    features = services.load_features(store, project_name)
    stop_rows = ensure_stop_set(store, project_name)
    with store.read() as session:
        project = queries.get_project(session, project_name)
        project_id, label_set = project.id, list(project.labels)
        semi_supervised = project.semi_supervised
        rows, labels, _ = labelled_rows(session, project_id)
        rounds = _rounds(session, project_id)
        models = queries.model_history(session, project_id)
    predictions = _predictions([(m[0], m[4]) for m in models], stop_rows, features)
    advice = stop_advice([m[0] for m in models], predictions)
    model_frame = pd.DataFrame(
        [
            {
                "version": m[0],
                "trained at": _when(m[3]),
                "labels": m[1],
                "retrain seconds": None if m[2] is None else round(float(m[2]), 2),
                "kappa vs previous": round(advice.kappas[i - 1], 4) if i else None,
            }
            for i, m in enumerate(models)
        ],
        columns=["version", "trained at", "labels", "retrain seconds", "kappa vs previous"],
    )
    counts = pd.Series(labels.astype(str)).value_counts() if len(labels) else pd.Series()
    class_counts = pd.DataFrame(
        {"label": label_set, "labelled": [int(counts.get(label, 0)) for label in label_set]}
    )
    if cross_validate:
        estimate = _estimate(store, project_name, features, rows, labels, semi_supervised)
    else:
        estimate = Estimate(None, None, 0, len(labels), "not computed")
    return ModelReport(rounds, model_frame, class_counts, estimate, advice, len(stop_rows))


def estimate_accuracy(store: Store, project_name: str) -> Estimate:
    """The cross-validated accuracy estimate alone (the slow part of the report: it trains a
    model per fold, so its cost grows with the labels), for a page that shows the rest first."""
    features = services.load_features(store, project_name)
    with store.read() as session:
        project = queries.get_project(session, project_name)
        semi_supervised = project.semi_supervised
        rows, labels, _ = labelled_rows(session, project.id)
    return _estimate(store, project_name, features, rows, labels, semi_supervised)


def _estimate(
    store: Store, project_name: str, features, rows, labels, semi_supervised: bool
) -> Estimate:
    """The estimate of the model the project trains: its priors and unlabelled sample too."""
    unlabelled = None
    if semi_supervised:  # estimate the model the project trains
        sample = unlabelled_sample(len(features), rows, MAX_CV_UNLABELLED, store.settings.seed)
        unlabelled = np.asarray(features[sample])
    return cross_validated(
        np.asarray(features[rows]),
        labels,
        seed=store.settings.seed,
        device="cpu",
        unlabelled=unlabelled,
        priors=project_priors(store, project_name, np.asarray(labels).astype(str)),
    )


def change_key(store: Store, project_name: str) -> int:
    """The newest event id of the project: the report changes only when this does."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        return queries.newest_event_id(session, project.id)


def _when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def _rounds(session, project_id: int) -> pd.DataFrame:
    decided = queries.decisions_by_round(session, project_id, "labelled")
    skipped = queries.decisions_by_round(session, project_id, "skipped")
    stale = queries.decisions_by_round(session, project_id, "stale")
    records = [
        {
            "round": r.number,
            "strategy": r.strategy,
            "chosen by model": f"v{r.model_version}" if r.model_version else "none (cold start)",
            "size": r.batch_size,
            "labelled": int(decided.get(r.number, 0)),
            "skipped": int(skipped.get(r.number, 0)),
            "started": _when(r.created_at),
            "completed": _when(r.completed_at),
            "stale items": int(stale.get(r.number, 0)),
        }
        for r in queries.rounds(session, project_id)
    ]
    return pd.DataFrame.from_records(
        records,
        columns=[
            "round", "strategy", "chosen by model", "size", "labelled", "skipped",
            "started", "completed", "stale items",
        ],
    )  # fmt: skip
