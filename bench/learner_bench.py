"""The learner against logistic regression on random labelled sets (issue 14, item 4).

    python bench/learner_bench.py --suite tuning|reporting [--sets a,b] [--seeds 10]
        [--shots 1,2,5,20,50] [--totals 200,500] [--learner-params JSON] [--jobs 2] [--json PATH]

For every set of the suite (small pools, the app's importer and default featurizer, the
simulation's per-seed split: featurizer fitted on the pool, test min(500, 30%)) and seed, random
labelled sets are drawn from the pool: ``k`` per class for each shot count (classes with fewer
pool items give all they have) and ``n`` labels in all for each total (one per class first,
then random). ``ProtoNetClassifier`` (constructor defaults plus ``--learner-params``, CPU, one
thread) and scikit-learn ``LogisticRegression(max_iter=1000)`` are fitted on the same labelled
set; their test accuracies are compared. Target: ProtoNet's mean accuracy >= LR's - 0.01 on
every reporting set at every size.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_data  # noqa: E402

from annotator import simulation  # noqa: E402
from annotator.processes import exit_with_parent  # noqa: E402

TEST_SIZE = 500
TOLERANCE = 0.01


def labelled_set(y: np.ndarray, size: str, rng: np.random.Generator) -> np.ndarray:
    """Pool positions: ``"5-shot"`` -> 5 per class (all of a smaller class); ``"200"`` -> one
    per class, then random up to 200."""
    classes = np.unique(y)
    if size.endswith("-shot"):
        k = int(size.removesuffix("-shot"))
        picks = [rng.permutation(np.flatnonzero(y == c))[:k] for c in classes]
        return np.concatenate(picks)
    firsts = np.array([rng.choice(np.flatnonzero(y == c)) for c in classes])
    rest = rng.permutation(np.setdiff1d(np.arange(y.size), firsts))
    return np.concatenate([firsts, rest[: max(0, int(size) - firsts.size)]])


def one_seed(split, sizes: list[str], params: dict) -> dict:
    """Accuracy of protonet and logreg per size for one seed's split."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    out = {}
    with threadpool_limits(limits=1):
        for size in sizes:
            rng = np.random.default_rng([split.seed, len(size), sum(map(ord, size))])
            rows = labelled_set(split.y_pool, size, rng)
            X, y = split.X_pool[rows], split.y_pool[rows]
            scores = {}
            for learner in ("protonet", "logreg"):
                start = time.perf_counter()
                model = simulation.make_learner(
                    learner, split.seed, params if learner == "protonet" else None
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y)
                accuracy = float(np.mean(model.predict(split.X_test) == split.y_test))
                scores[learner] = accuracy
                scores[f"{learner}_seconds"] = time.perf_counter() - start
            out[size] = scores | {"n_labels": int(rows.size)}
    return out


def bench_set(name: str, args, sizes: list[str], pool) -> dict:
    variant = suite_data.build_set(name)[0]
    config = simulation.SimulationConfig(data=str(variant.path), **variant.import_args)
    data, featurizer = simulation.load_data(config)
    config = simulation.SimulationConfig(
        data=str(variant.path), init_size=len(set(data.labels)), budget=max(args.totals or [1]),
        test_size=TEST_SIZE, **variant.import_args,
    )  # fmt: skip
    n_test = simulation.check_sizes(config, np.asarray(data.labels, dtype=str))
    splits = [simulation.prepare_seed(data, featurizer, n_test, s) for s in range(args.seeds)]
    futures = [pool.submit(one_seed, s, sizes, args.learner_params) for s in splits]
    seeds = [f.result() for f in futures]
    rows = {}
    for size in sizes:
        proto = [s[size]["protonet"] for s in seeds]
        lr = [s[size]["logreg"] for s in seeds]
        rows[size] = {
            "protonet": float(np.mean(proto)), "logreg": float(np.mean(lr)),
            "diff": float(np.mean(proto) - np.mean(lr)),
            "p": simulation.paired_p_value(proto, lr),
            "n_labels": float(np.mean([s[size]["n_labels"] for s in seeds])),
            "protonet_seconds": float(np.mean([s[size]["protonet_seconds"] for s in seeds])),
        }  # fmt: skip
    return {"variant": variant.name, "featurizer": featurizer, "sizes": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", choices=("tuning", "reporting"), default="tuning")
    parser.add_argument("--sets", help="comma-separated set names instead of a half")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--shots", default="1,2,5,20,50")
    parser.add_argument("--totals", default="200,500")
    parser.add_argument("--learner-params", type=json.loads, default={})
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.totals = [int(t) for t in args.totals.split(",") if t.strip()]
    sizes = [f"{int(k)}-shot" for k in args.shots.split(",") if k.strip()]
    sizes += [str(t) for t in args.totals]
    names = ([n.strip() for n in args.sets.split(",")] if args.sets
             else suite_data.committed_split()[args.suite])  # fmt: skip
    start = time.perf_counter()
    results = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        args.jobs, mp_context=context, initializer=exit_with_parent
    ) as pool:
        for name in names:
            results.append(bench_set(name, args, sizes, pool))
            row = results[-1]
            cells = "  ".join(
                f"{s}: {r['protonet']:.3f}/{r['logreg']:.3f} ({r['diff']:+.3f})"
                for s, r in row["sizes"].items()
            )
            print(f"{row['variant']:16s} {cells}", flush=True)
    mean_diff = {s: float(np.mean([r["sizes"][s]["diff"] for r in results])) for s in sizes}
    worst = min(r["sizes"][s]["diff"] for r in results for s in sizes)
    print("mean diff  " + "  ".join(f"{s}: {d:+.3f}" for s, d in mean_diff.items()))
    print(f"worst diff {worst:+.3f} (target >= -{TOLERANCE}); {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"suite": args.suite, "seeds": args.seeds, "learner_params": args.learner_params,
                  "sets": results, "mean_diff": mean_diff, "worst_diff": worst,
                  "meets_target": worst >= -TOLERANCE}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
