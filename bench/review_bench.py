"""Label-error candidates on the digits demo (issue 8): cost and how many flips they find.

    python bench/review_bench.py [--flip 0.05] [--seed 0] [--json PATH]

All 1,797 digits get their true label from one annotator, except a random ``--flip`` share that
gets a random other digit. ``annotator.review.label_error_candidates`` (5-fold out-of-fold
ProtoNet probabilities) then flags items; the table gives its time (first call, with torch
loading, and a second, warm call), and precision/recall against the flipped items for several
threshold pairs (the default first) and for confident learning's per-class thresholds
(Northcutt et al. 2021: flag when another class j reaches t_j, the mean probability of j over
the items labelled j, and the given label does not reach its own).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from annotator import demo, review, services, validation
from annotator.config import Settings, normalize_db_url
from annotator.loop.training import labelled_rows
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Annotation, Item

THRESHOLDS = [(review.MAX_GIVEN, review.MIN_OTHER), (0.05, 0.9), (0.2, 0.6), (0.3, 0.5)]


def _score(flagged: set[int], wrong: set[int]) -> dict[str, float | int]:
    hits = len(flagged & wrong)
    return {
        "candidates": len(flagged),
        "true": hits,
        "precision": hits / len(flagged) if flagged else 0.0,
        "recall": hits / len(wrong) if wrong else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="review-bench-")
    store = Store.open(Settings(db_url=normalize_db_url(str(Path(folder) / "bench.db"))))
    demo.ensure_demo(store)
    rng = np.random.default_rng(args.seed)
    with store.write() as session:
        project = queries.get_project(session, demo.DIGITS)
        items = session.execute(
            select(Item.id, Item.ground_truth).where(Item.project_id == project.id)
        ).all()
        flips = set(rng.choice(len(items), int(args.flip * len(items)), replace=False).tolist())
        rows = []
        for i, (item_id, truth) in enumerate(items):
            label = str((int(truth) + 1 + rng.integers(9)) % 10) if i in flips else truth
            rows.append({"project_id": project.id, "item_id": item_id, "label": label,
                         "annotator": "bench"})  # fmt: skip
        session.execute(insert(Annotation), rows)
    wrong = {items[i][0] for i in flips}
    services.load_features(store, demo.DIGITS)

    timings = []
    for _ in range(2):
        t0 = time.perf_counter()
        report = review.label_error_candidates(store, demo.DIGITS, seed=args.seed)
        timings.append(time.perf_counter() - t0)

    with store.read() as session:
        project = queries.get_project(session, demo.DIGITS)
        rows_, labels, _ = labelled_rows(session, project.id)
        item_of_row = {
            it.row: it.item_id for it in queries.item_labels(session, project.id).values()
        }
    features = services.load_features(store, demo.DIGITS)
    labels = labels.astype(str)
    oof = validation.out_of_fold_proba(
        np.asarray(features[rows_], np.float32), labels, seed=args.seed
    )
    proba, classes, folds = oof.proba, oof.classes, oof.k
    results = []
    for max_given, min_other in THRESHOLDS:
        hits = review.find_candidates(
            proba, labels, classes, max_given=max_given, min_other=min_other
        )
        flagged = {item_of_row[int(rows_[i])] for i, *_ in hits}
        results.append({"rule": f"p(label) < {max_given}, other >= {min_other}",
                        **_score(flagged, wrong)})  # fmt: skip
    column = {c: j for j, c in enumerate(classes)}
    given = np.array([column[lab] for lab in labels])
    per_class = np.array([proba[given == j, j].mean() for j in range(len(classes))])
    above = proba >= per_class[None, :]
    above[np.arange(len(given)), given] = False
    own = proba[np.arange(len(given)), given] < per_class[given]
    flagged = {item_of_row[int(rows_[i])] for i in np.flatnonzero(above.any(axis=1) & own)}
    results.append({"rule": "confident learning per-class thresholds", **_score(flagged, wrong)})

    print(f"digits: {report.n_labelled} labels, {len(wrong)} flipped, {folds}-fold out-of-fold")
    print(f"time: first call {timings[0]:.1f} s (loads torch), warm call {timings[1]:.1f} s")
    print(f"{'rule':45s} {'cands':>6s} {'true':>5s} {'prec':>5s} {'recall':>6s}")
    for r in results:
        print(f"{r['rule']:45s} {r['candidates']:6d} {r['true']:5d} {r['precision']:5.2f} "
              f"{r['recall']:6.2f}")  # fmt: skip
    out = {"n_labels": report.n_labelled, "flipped": len(wrong), "folds": folds,
           "seconds_first": timings[0], "seconds_warm": timings[1], "rules": results}  # fmt: skip
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    store.dispose()


if __name__ == "__main__":
    main()
