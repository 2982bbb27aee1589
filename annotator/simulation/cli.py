"""``protolabel simulate``: compare query strategies on data with ground truth (issue 7).

Wired into :mod:`annotator.cli` with ``simulate_cli.add_parser(sub)`` and
``COMMANDS["simulate"] = simulate_cli.run``. The engine is :mod:`annotator.simulation`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from annotator import simulation
from annotator.errors import ProtolabelError
from annotator.io.featurizers import FEATURIZERS
from strategies import NAMES

EPILOG = f"""\
data (--data):
  PATH               a file (.csv .tsv .jsonl .parquet .npz .npy) or image folder with ground
                     truth: --label-col C (with --text-col C for text), or --label-from-folder
  project:NAME       replay a project: its labelled items, the people's current labels acting
                     as the oracle (featurizer: the project's own unless --features says)
  demo:digits        {simulation.DEMOS["demo:digits"]}
  demo:fine_foods    {simulation.DEMOS["demo:fine_foods"]}

protocol (the same for every strategy under a seed, so comparisons are paired):
  test split   stratified, min(--test-size, 30% of the items), drawn with the seed; never in
               the pool; the featurizer (scaler, TF-IDF + SVD, image size) is fitted on the pool
               (a pretrained one, minilm or efficientnet, embeds each item once for all seeds)
  start        one random pool item per class, then random items up to --init-size; counts
               toward --budget and is the curve's first point. --init-size 0: the app's own
               cold start instead (the planner without a model: typicality, or the strategy
               itself for typicality, probcover, random); no model until two classes are
               labelled (scored as predicting the one class seen); first point at --batch.
               With zero-shot prototypes (below) there is a model before the first label
  rounds       --batch items chosen by the strategy, answered from the ground truth, until
               --budget labels; after each round the learner is retrained and scored on the
               test split (accuracy, macro-F1); the query time is recorded
  learner      protonet: the prototypical network, fitted afresh each round as in the app;
               with --semi-supervised its prototypes are refined with the unlabelled pool
               (constrained k-means), as projects with that setting do (project:NAME
               follows the project's setting unless --[no-]semi-supervised says); logreg: scikit-learn
               LogisticRegression(max_iter=1000), a reference (supervised only)
  zero-shot    protonet, text items whose class names are words (not 1, 2 or A): each
               class's prototype starts from the embedding of its name (the same featurizer)
               and moves to the mean of its examples as they arrive; --no-zero-shot: off
  seeds        0 .. --seeds - 1; results are identical whatever --jobs is

results (--out, JSON):
  {{"config": {{...}}, "runs": [{{"strategy", "seed", "labels", "accuracy", "macro_f1",
  "query_seconds"}}], "summary": {{STRATEGY: {{"aulc_mean", "aulc_std", "final_accuracy_mean",
  "label_savings", "p_vs_random", "n"}}}}}}
  AULC: mean accuracy over a curve's points (mean +- std over seeds). label_savings: labels at
  which the strategy's mean curve reaches random's mean final accuracy (null: never, or random
  not simulated). p_vs_random: paired t-test of AULC over the n seeds (null for random).

Nothing is written to any database unless --save, which stores the run (an event of kind
"simulation") for the app's Compare page.

examples:
  protolabel simulate --data demo:digits --strategies random,margin,hybrid --out digits.json
  protolabel simulate --data reviews.csv --text-col text --label-col label --budget 100 \\
      --learner logreg --out reviews.json --plot reviews.png --jobs 2
  protolabel simulate --data project:pets --strategies random,auto --out pets.json --save
"""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``simulate`` on ``subparsers`` and return its parser."""
    p = subparsers.add_parser(
        "simulate",
        help="compare query strategies on data with ground truth (learning curves, AULC)",
        description="Simulate labelling with an oracle that answers from the ground truth: "
        "every strategy x seed, a learning curve each, AULC and a paired t-test against random.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL or SQLite file, for project:NAME and --save "
        "(default: $PROTOLABEL_DB, else ./protolabel.db)",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="PATH|project:NAME|demo:digits|demo:fine_foods",
        help="what to simulate on (see below)",
    )
    p.add_argument("--text-col", metavar="C", help="file: column holding the text of each item")
    p.add_argument("--label-col", metavar="C", help="file: column of ground-truth labels")
    p.add_argument(
        "--label-from-folder",
        action="store_true",
        help="image folder: each image's ground truth is its class subfolder's name",
    )
    p.add_argument(
        "--features",
        default="auto",
        choices=["auto", *FEATURIZERS],
        help="featurizer (default auto: chosen as `protolabel import` chooses it; for "
        "project:NAME the project's)",
    )
    p.add_argument(
        "--strategies",
        type=_csv,
        default=NAMES,
        metavar="A,B,...",
        help=f"query strategies, comma-separated (default: all: {','.join(NAMES)})",
    )
    p.add_argument(
        "--seeds", type=int, metavar="N", default=5, help="number of seeds, 0..N-1 (default 5)"
    )
    p.add_argument(
        "--init-size",
        type=int,
        default=10,
        metavar="N",
        help="initial labelled set (default 10); 0: the app's own cold start chooses every label",
    )
    p.add_argument(
        "--batch", type=int, metavar="N", default=10, help="items per round (default 10)"
    )
    p.add_argument(
        "--budget", type=int, metavar="N", default=200, help="labels in all (default 200)"
    )
    p.add_argument(
        "--test-size",
        type=int,
        metavar="N",
        default=500,
        help="test items, at most 30%% of the data (default 500)",
    )
    p.add_argument(
        "--learner",
        default="protonet",
        choices=list(simulation.LEARNERS),
        help="protonet (default) or logreg (scikit-learn LogisticRegression, a reference)",
    )
    p.add_argument(
        "--semi-supervised",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="protonet: refine the prototypes with the unlabelled pool (default: the "
        "project's setting for project:NAME, else off)",
    )
    p.add_argument(
        "--zero-shot",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="protonet on text with meaningful class names: prototypes start from the names "
        "(default: the project's setting for project:NAME, else on; zero_shot_used in the "
        "results' config says whether it applied)",
    )
    p.add_argument(
        "--out", default="results.json", metavar="FILE", help="results JSON (default results.json)"
    )
    p.add_argument("--plot", metavar="FILE.png", help="also draw the learning curves as a PNG")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes, one torch thread each (default 1; results do not depend on it)",
    )
    p.add_argument(
        "--save",
        action="store_true",
        help="store the run in the database for the Compare page (otherwise nothing is written)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> simulation.SimulationConfig:
    return simulation.SimulationConfig(
        data=args.data,
        strategies=tuple(args.strategies),
        seeds=args.seeds,
        init_size=args.init_size,
        batch=args.batch,
        budget=args.budget,
        test_size=args.test_size,
        learner=args.learner,
        semi_supervised=(
            simulation.project_setting(args.data, args.db, "semi_supervised", False)
            if args.semi_supervised is None
            else args.semi_supervised
        ),
        zero_shot=(
            simulation.project_setting(args.data, args.db, "zero_shot", True)
            if args.zero_shot is None
            else args.zero_shot
        ),
        features=args.features,
        text_col=args.text_col,
        label_col=args.label_col,
        label_from_folder=args.label_from_folder,
        db=args.db,
    )


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before hours of simulation when the outputs cannot be written."""
    if args.jobs < 1:
        raise ProtolabelError("--jobs must be at least 1")
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise ProtolabelError(f"--plot {args.plot}: write a .png file")
    for path in filter(None, (args.out, args.plot)):
        folder = Path(path).resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ProtolabelError(f"cannot write {path}: {folder} is not a writable folder")


def _write(path: str, data: bytes) -> None:
    """Atomically: a temporary file beside ``path``, then a rename."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)


def print_summary(results: dict, file=None) -> None:
    """The summary table: AULC mean +- std, final accuracy, label savings, p vs random."""
    file = file or sys.stdout
    config = results["config"]
    print(
        f"{config['data']}: {config['n_pool']} pool / {config['n_test']} test items, "
        f"{config['features']} features, {config['learner']}, {config['seeds']} seeds, "
        f"{config['init_size']} -> {config['budget']} labels by {config['batch']}",
        file=file,
    )
    print(
        f"{'strategy':<18} {'AULC mean +- std':>16} {'final acc':>9} {'labels*':>7} {'p vs random':>11}",
        file=file,
    )
    for name, s in results["summary"].items():
        saved = "-" if s["label_savings"] is None else str(s["label_savings"])
        p = "-" if s["p_vs_random"] is None else f"{s['p_vs_random']:.3g}"
        aulc = f"{s['aulc_mean']:.3f} +- {s['aulc_std']:.3f}"
        print(
            f"{name:<18} {aulc:>16} {s['final_accuracy_mean']:>9.3f} {saved:>7} {p:>11}", file=file
        )
    print("labels*: labels needed to reach random's final accuracy", file=file)


def run(args: argparse.Namespace) -> int:
    """Run ``protolabel simulate``; 0 on success (user errors raise ProtolabelError)."""
    config = config_from_args(args)
    simulation.check_config(config)
    _check_outputs(args)
    results = simulation.run_simulation(config, jobs=args.jobs, progress=None)
    _write(args.out, (json.dumps(results, indent=1) + "\n").encode())
    print_summary(results)
    print(f"wrote {args.out}")
    if args.plot:
        _write(args.plot, simulation.curves_png(results))
        print(f"wrote {args.plot}")
    if args.save:
        from annotator.config import Settings
        from annotator.store.db import Store

        store = Store.open(Settings.from_env(args.db))
        try:
            event_id = simulation.save_results(store, results)
        finally:
            store.dispose()
        print(f"saved as simulation {event_id} in {store.url_for_humans}")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry (``python -m annotator.simulation.cli``); ``protolabel simulate`` is the same."""
    parser = argparse.ArgumentParser(prog="protolabel")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ProtolabelError as exc:
        print(f"protolabel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
