"""Out-of-fold predictions of the project's learner: the one cross-validation loop behind the
Model page's accuracy estimate (``model_report``) and the review's label-error candidates
(``review``), so both judge the labels with the model the project trains (its class
descriptions and its unlabelled items included) and no item by a model that saw its label.

Folds are stratified, ``k = min(MAX_CV_FOLDS, smallest class count)``, so every class needs
2 labels. With the class descriptions (zero-shot priors, issue 18) every class is in every
fold's model whether or not the fold holds its labels, so a class with a single label can be
checked too (its item is then judged by the prior alone): ``k = min(MAX_CV_FOLDS, largest
class count)``. Pure: features and labels in, probabilities out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

MAX_CV_FOLDS = 5


@dataclass(frozen=True)
class OutOfFold:
    """``proba`` (n, len(classes)) out-of-fold probabilities, columns in ``classes`` order;
    ``fold`` (n,) the fold that held each item out; ``k`` the number of folds."""

    proba: np.ndarray
    classes: list[str]
    fold: np.ndarray
    k: int

    def predicted(self) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.proba.argmax(axis=1)]


def folds_for(labels: np.ndarray, *, described: bool = False) -> int:
    """How many folds the labels allow (below 2: too few to cross-validate)."""
    _, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    if len(counts) < (1 if described else 2):
        return 0
    return int(min(MAX_CV_FOLDS, counts.max() if described else counts.min()))


def out_of_fold_proba(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    priors: dict[str, np.ndarray] | None = None,
    unlabelled: np.ndarray | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    device: str = "cpu",
) -> OutOfFold:
    """Each labelled item's probabilities from a ``ProtoNetClassifier`` fitted on the other
    folds (with ``priors`` and ``unlabelled`` as the project's model; ``max_steps`` None: the
    learner's default). Raises ValueError when the labels allow fewer than 2 folds."""
    from sklearn.model_selection import StratifiedKFold

    from meta import ProtoNetClassifier

    labels = np.asarray(labels).astype(str)
    k = folds_for(labels, described=priors is not None)
    if k < 2:
        need = "2 labels in one class" if priors is not None else "2 classes with 2 labels each"
        raise ValueError(f"cross-validation needs {need}")
    classes = sorted(priors) if priors is not None else np.unique(labels).tolist()
    column = {c: j for j, c in enumerate(classes)}
    proba = np.zeros((len(labels), len(classes)))
    fold_of = np.empty(len(labels), dtype=np.int64)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    params = {} if max_steps is None else {"max_steps": max_steps}
    with warnings.catch_warnings():  # with priors, a class may have fewer labels than folds
        warnings.filterwarnings("ignore", "The least populated class in y has only")
        splits = list(folds.split(features, labels))
    for fold, (train, test) in enumerate(splits):
        model = ProtoNetClassifier(random_state=seed + fold, device=device, **params)
        model.fit(features[train], labels[train], priors=priors, unlabelled=unlabelled)
        cols = [column[str(c)] for c in model.classes_]
        proba[np.ix_(test, cols)] = model.predict_proba(features[test])
        fold_of[test] = fold
    return OutOfFold(proba, classes, fold_of, k)
