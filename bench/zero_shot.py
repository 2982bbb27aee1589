"""Zero-shot accuracy from class names alone (issue 18): each item's nearest class description.

    python bench/zero_shot.py --suite tuning|reporting [--json PATH]

For every text set of the half (``bench/suite_split.json``; small variants, every item), each
class's description is written from its name through each template of
:data:`annotator.zero_shot.TEMPLATES` and embedded by the featurizer; an item's zero-shot
class is the description nearest to it (cosine). Reported per featurizer (``minilm``, and
``minilm+tfidf`` as a project holds it: tf-idf fitted on the items) with chance (1 / classes)
the majority class's share, and whether the label set has meaning (:func:`annotator.zero_shot.label_set_has_meaning`).
Choose the template on ``--suite tuning``; quote ``--suite reporting``. No labels are used.

``--shrinkage``: once labels arrive, how strongly should the prior hold? For m labelled items
per class (drawn per seed) and each strength k, the prototypes
:func:`meta.protonet.prior_prototypes` (k = 0: the plain class means) in the project's
``minilm+tfidf`` space with the template :data:`annotator.zero_shot.TEMPLATE`, and the
accuracy of the nearest prototype (Euclidean, as the learner) on the other items; 10 seeds.
``fitted``: the strength :func:`meta.protonet.fitted_prior_strength` picks from the labelled
items alone (leave-one-out), per seed.
This is the featurizer's space, not a trained encoder's: a basis for a fixed strength.

``--learner``: the model a project makes from its class names alone, as the app and
``protolabel simulate`` make it (``simulation.prepare_seed(zero_shot=True)`` then
``ProtoNetClassifier.fit`` with the priors and no label): its accuracy on each seed's test
split of the simulation protocol (5 seeds), beside the set's chance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import label_efficiency as le  # noqa: E402
import suite_data  # noqa: E402

from annotator import zero_shot  # noqa: E402
from annotator.io import make_featurizer, read_input  # noqa: E402
from annotator.io.dataset import ImportedData  # noqa: E402

FEATURIZERS = ("minilm", "minilm+tfidf")
PER_CLASS = (1, 2, 4, 8)
STRENGTHS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
SEEDS = 10


def nearest_accuracy(items: np.ndarray, priors: np.ndarray, truth: np.ndarray) -> float:
    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)

    chosen = np.argmax(unit(items) @ unit(priors).T, axis=1)
    return float(np.mean(chosen == truth))


def bench_set(name: str) -> list[dict]:
    variant = suite_data.variants(name)[0]
    suite_data.build(variant)
    data = read_input(str(variant.path), **variant.import_args)
    classes = sorted(set(data.labels))
    truth = np.array([classes.index(label) for label in data.labels])
    meaning = le.shared_features(variant, data, "minilm")  # cached MiniLM rows
    rows = []
    for featurizer in FEATURIZERS:
        model = make_featurizer(featurizer, progress=False).fit(data)
        items = model.transform_given(data, meaning)
        for template in zero_shot.TEMPLATES:
            texts = zero_shot.prior_texts(classes, template)
            prompts = ImportedData(kind="text", source="priors", ids=list(classes), texts=texts)
            priors = model.transform(prompts, progress=False)
            rows.append({
                "set": variant.name, "featurizer": featurizer, "template": template,
                "classes": len(classes), "chance": round(1 / len(classes), 3),
                "majority": round(float(np.bincount(truth).max() / truth.size), 3),
                "meaningful": zero_shot.label_set_has_meaning(classes),
                "accuracy": round(nearest_accuracy(items, priors, truth), 4),
                "example": texts[0],
            })  # fmt: skip
    return rows


def shrinkage_set(name: str) -> list[dict]:
    import torch

    from meta.protonet import compute_prototypes, fitted_prior_strength, prior_prototypes

    variant = suite_data.variants(name)[0]
    data = read_input(str(variant.path), **variant.import_args)
    classes = sorted(set(data.labels))
    truth = np.array([classes.index(label) for label in data.labels])
    model = make_featurizer("minilm+tfidf", progress=False).fit(data)
    items = torch.from_numpy(
        model.transform_given(data, le.shared_features(variant, data, "minilm"))
    )
    texts = zero_shot.prior_texts(classes, zero_shot.TEMPLATE)
    prompts = ImportedData(kind="text", source="priors", ids=list(classes), texts=texts)
    priors = torch.from_numpy(model.transform(prompts, progress=False))
    rows = []
    for m in PER_CLASS:
        scores: dict[float | str, list[float]] = {k: [] for k in (*STRENGTHS, "fitted")}
        fitted_ks = []
        for seed in range(SEEDS):
            rng = np.random.default_rng([seed, m])
            picked = np.concatenate([
                rng.choice(np.flatnonzero(truth == c), size=m, replace=False)
                for c in range(len(classes))
            ])  # fmt: skip
            rest = np.setdiff1d(np.arange(truth.size), picked)
            support, labels = items[picked], torch.from_numpy(truth[picked])
            for k in STRENGTHS:
                if k == 0:
                    protos = compute_prototypes(support, labels, len(classes))
                else:
                    protos = prior_prototypes(support, labels, priors, k)
                chosen = torch.cdist(items[rest], protos).argmin(dim=1).numpy()
                scores[k].append(float(np.mean(chosen == truth[rest])))
            k = fitted_prior_strength(support, labels, priors)
            fitted_ks.append(k)
            protos = prior_prototypes(support, labels, priors, k)
            chosen = torch.cdist(items[rest], protos).argmin(dim=1).numpy()
            scores["fitted"].append(float(np.mean(chosen == truth[rest])))
        for k in (*STRENGTHS, "fitted"):
            rows.append({
                "set": variant.name, "per_class": m, "strength": k,
                "accuracy": round(float(np.mean(scores[k])), 4),
                "std": round(float(np.std(scores[k])), 4),
                **({"fitted_strengths": fitted_ks} if k == "fitted" else {}),
            })  # fmt: skip
    return rows


def learner_set(name: str, seeds: int = 5) -> dict:
    from annotator import simulation
    from meta import ProtoNetClassifier

    variant = suite_data.variants(name)[0]
    suite_data.build(variant)
    data = read_input(str(variant.path), **variant.import_args)
    featurizer = "minilm+tfidf"
    shared = le.shared_features(variant, data, featurizer)
    labels = np.asarray(data.labels, dtype=str)
    n_test = simulation.check_sizes(simulation.SimulationConfig(data=name), labels)
    scores = []
    for seed in range(seeds):
        split = simulation.prepare_seed(
            data, featurizer, n_test, seed, features=shared, zero_shot=True
        )
        if split.priors is None:
            return {"set": variant.name, "meaningful": False}
        empty = np.empty((0, split.X_pool.shape[1]), dtype=np.float32)
        model = ProtoNetClassifier(random_state=seed, device="cpu").fit(
            empty, [], priors=split.priors
        )
        scores.append(float(np.mean(model.predict(split.X_test) == split.y_test)))
    classes = np.unique(labels)
    return {
        "set": variant.name, "meaningful": True, "classes": len(classes),
        "chance": round(1 / len(classes), 3), "accuracy": round(float(np.mean(scores)), 4),
        "std": round(float(np.std(scores)), 4), "seeds": seeds,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("tuning", "reporting"), default="tuning")
    parser.add_argument("--json", default=None)
    parser.add_argument("--shrinkage", action="store_true", help="the prior's strength screen")
    parser.add_argument(
        "--learner", action="store_true", help="the app's model from the class names alone"
    )
    args = parser.parse_args(argv)
    names = [
        n for n in suite_data.committed_split()[args.suite] if suite_data.SETS[n].kind == "text"
    ]
    if args.learner:
        rows = [learner_set(n) for n in names]
        print("| set | classes | chance | zero-shot accuracy (5 seeds) |")
        print("|---|---|---|---|")
        for r in rows:
            if r["meaningful"]:
                print(f"| {r['set']} | {r['classes']} | {r['chance']} "
                      f"| {r['accuracy']:.3f} +- {r['std']:.3f} |")  # fmt: skip
            else:
                print(f"| {r['set']} | names without meaning: no zero-shot | | |")
        out = Path(args.json or f"bench/results/zero_shot_learner_{args.suite}.json")
        out.write_text(json.dumps({"suite": args.suite, "rows": rows}, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)
        return 0
    if args.shrinkage:
        rows = [r for n in names for r in shrinkage_set(n)]
        heads = [f"k={k:g}" for k in STRENGTHS] + ["fitted"]
        print("| set | labels per class | " + " | ".join(heads) + " |")
        print("|---|---|" + "---|" * len(heads))
        for i in range(0, len(rows), len(heads)):
            group = rows[i : i + len(heads)]
            cells = " | ".join(f"{r['accuracy']:.3f}" for r in group)
            print(f"| {group[0]['set']} | {group[0]['per_class']} | {cells} |")
        out = Path(args.json or f"bench/results/zero_shot_shrinkage_{args.suite}.json")
        out.write_text(json.dumps({"suite": args.suite, "rows": rows}, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)
        return 0
    rows = [r for n in names for r in bench_set(n)]
    print("| set | featurizer | template | classes | meaningful | chance | majority | accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['featurizer']} | {r['template']} | {r['classes']} "
              f"| {r['meaningful']} | {r['chance']} | {r['majority']} | {r['accuracy']} |")  # fmt: skip
    out = Path(args.json or f"bench/results/zero_shot_{args.suite}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"suite": args.suite, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
