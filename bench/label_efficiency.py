"""Label efficiency on the 13-set suite (issue 14): AULC per set and strategy, paired tests
against random with Holm's adjustment, wins / ties / losses, average rank, curves.

    python bench/label_efficiency.py --suite tuning|reporting|all [--sets a,b] [--sizes 1500,5500]
        [--strategies random,margin,auto] [--seeds 10] [--budgets 200,500] [--jobs 2]
        [--quick] [--out DIR] [--learner-params JSON] [--semi-supervised]
        [--features image=efficientnet,text=minilm]

Data: the sets of ``bench/suite_data.py`` (built on first use under ``$PROTOLABEL_BENCH_CACHE``),
each read with the app's importer and default featurizer (``--features`` names others per kind,
to compare them), at about 1,000 and 5,000 pool items.
Tune defaults on ``--suite tuning``; quote ``--suite reporting`` (``bench/suite_split.json``).

Protocol (after CDALBench, Werner et al. 2024), the engine of ``protolabel simulate``
(:mod:`annotator.simulation`): a stratified test split of min(500, 30%) per seed, the featurizer
fitted on the pool; one label per class to start (``--init-size 0``: none, the app's own cold
start chooses every label); then rounds of 10 chosen by the app's planner
(``annotator.loop.planning.choose_batch``, the function behind the worker and the Label page) up to
the largest budget; the learner refitted and scored on the test split after each round. One
run per (set, strategy, seed) serves every budget: AULC at budget B is the mean accuracy over
the curve's points with at most B labels. The learner is ``ProtoNetClassifier`` with a new
project's defaults (``--learner-params`` to compare settings), and in the same run, on the same
splits, the peer baseline scikit-learn ``LogisticRegression(max_iter=1000)`` with random
(``lr+random``) and margin sampling (``lr+margin``).

Statistics per budget: for each strategy and set, the paired t-test of AULC over seeds against
random and against lr+margin; p-values adjusted with Holm over the sets (per strategy and
comparison); a win or loss is an adjusted p < 0.05 in that direction, anything else a tie.
Average rank: strategies ranked by mean AULC on each set (1 = best), averaged over the sets.

Outputs (``--out``, default ``bench/results/suite-<suite>``): ``suite.json`` (every curve, the
tables and the targets), ``suite.md`` (the tables) and ``curves.png`` (one panel per set).
Runs are cached per set, learner, strategy and seed under the cache folder, keyed by the
protocol and a hash of the code that decides them (strategies/, meta/ for protonet, the planner,
the simulation and the importer/featurizers): a rerun computes only what changed.
``--quick``: the small pools of two sets per kind in the half, 3 seeds, budget 200.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_data  # noqa: E402

from annotator import simulation  # noqa: E402
from annotator.processes import exit_with_parent  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASELINES = {"lr+random": ("logreg", "random"), "lr+margin": ("logreg", "margin")}
REFERENCE, PEER = "random", "lr+margin"
ALPHA = 0.05
BATCH, TEST_SIZE = 10, 500
#: The code each learner's runs depend on (a change recomputes them); the strategy's own
#: modules are added per arm (:func:`strategy_files`), so a new strategy recomputes nothing else.
CODE = {
    "common": ["annotator/loop/planning.py", "annotator/simulation/engine.py", "strategies/view.py",
               "strategies/typicality.py",  # the planner's cold start without a model
               "annotator/zero_shot.py",
               "annotator/io/featurizers.py", "annotator/io/readers.py", "bench/suite_data.py"],
    "protonet": ["meta"],
    "logreg": [],
}  # fmt: skip


@dataclass(frozen=True)
class Arm:
    """One curve family: a name in the tables, the learner and the strategy."""

    name: str
    learner: str
    strategy: str


def arms(strategies: list[str]) -> list[Arm]:
    ours = [Arm(s, "protonet", s) for s in strategies]
    return ours + [Arm(name, *spec) for name, spec in BASELINES.items()]


def strategy_files(strategy: str) -> list[str]:
    """The strategies/ modules a strategy's choice depends on: its class's module and, through
    their ``from strategies.X import`` lines, every module those import."""
    import re

    from annotator.simulation import strategy_spec
    from strategies import STRATEGIES

    name = strategy_spec(strategy)[0]
    if name == "auto":  # delegates by name to any strategy
        return sorted(
            p.relative_to(ROOT).as_posix() for p in (ROOT / "strategies").glob("[!_]*.py")
        )
    todo = [STRATEGIES[name].__module__.replace(".", "/") + ".py"]
    seen: list[str] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        text = (ROOT / path).read_text()
        todo += [
            f"strategies/{m}.py" for m in re.findall(r"^from strategies\.(\w+) import", text, re.M)
        ]
    return sorted(seen)


@functools.cache
def code_hash(learner: str, strategy: str = "random") -> str:
    """Hash of the code a run depends on, read once per process (edits during a long run do not
    change the keys it writes and reads)."""
    digest = hashlib.sha256()
    for entry in CODE["common"] + CODE[learner] + strategy_files(strategy):
        path = ROOT / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def rounded(value, digits: int = 4):
    """``value`` with every float rounded, so the committed suite.json stays small (every curve
    of a 6-set, 10-seed run: 1.2 MB at full precision and indented, 0.4 MB so)."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Featurizers other than the defaults (a pretrained model's vectors kept, not embedded again).
# Not in suite_data.py: its own hash names the folder of the built sets.


def parse_features(text: str | None) -> dict[str, str]:
    """``--features image=efficientnet,text=minilm`` -> {kind: featurizer}; every name checked
    (:func:`annotator.io.check_featurizer`), so a typo stops the run before it starts."""
    from annotator.errors import FeaturizerError
    from annotator.io import check_featurizer

    chosen: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        kind, sep, name = (s.strip() for s in part.partition("="))
        if not sep or kind not in suite_data.KINDS:
            raise SystemExit(
                f"--features {part!r}: write KIND=NAME, KIND one of {', '.join(suite_data.KINDS)}"
            )
        data_kind = "features" if kind == "tabular" else kind
        try:
            checked = check_featurizer(name, data_kind)
        except FeaturizerError as exc:
            raise SystemExit(f"--features {part!r}: {exc}") from None
        if checked != "auto":  # auto: the app's own choice, as without --features
            chosen[data_kind] = checked
    return chosen


def shared_features(variant: suite_data.Variant, data, featurizer: str) -> np.ndarray | None:
    """:func:`annotator.simulation.featurize_all` of the variant's items: the vectors of the
    featurizer's pretrained part, kept under the cache per variant, model and featurizer code
    (EfficientNet embeds about 20 images a second on 2 cores); None for a featurizer without
    one, fitted per seed."""
    from annotator import simulation
    from annotator.io import make_featurizer

    part = make_featurizer(featurizer).pretrained_part()
    if part is None:
        return None
    code = (ROOT / "annotator/io/featurizers.py").read_bytes()
    digest = hashlib.sha256(code).hexdigest()[:10]
    path = suite_data.CACHE / "features" / f"{variant.name}-{part.name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    print(f"{variant.name}: embedding {len(data)} items with {part.name}", file=sys.stderr)
    matrix = simulation.featurize_all(data, featurizer, progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, matrix)
    tmp.replace(path)
    return matrix


# ---------------------------------------------------------------------------------------------
# Running (cached)


def run_key(variant: str, arm: Arm, seed: int, config: simulation.SimulationConfig) -> Path:
    protocol = {
        "init": config.init_size, "batch": config.batch, "budget": config.budget,
        "test": config.test_size, "features": config.features,
        "params": config.learner_params if arm.learner == "protonet" else {},
        "code": code_hash(arm.learner, arm.strategy),
    }  # fmt: skip
    if config.semi_supervised and arm.learner == "protonet":
        protocol["semi_supervised"] = True  # absent when off: earlier runs keep their keys
    if not config.zero_shot and arm.learner == "protonet":
        protocol["zero_shot"] = False  # absent when on, the default
    key = hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]
    return suite_data.CACHE / "runs" / variant / arm.learner / arm.strategy / f"s{seed}-{key}.json"


def _task(split, arm: Arm, config: simulation.SimulationConfig, path: str) -> dict:
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    params = config.learner_params if arm.learner == "protonet" else {}  # protonet's only
    run = simulation.simulate_run(
        split, arm.strategy, replace(config, learner=arm.learner, learner_params=params)
    )
    run["seconds"] = time.perf_counter() - start
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(run))
    tmp.replace(path)
    return run


def set_config(variant: suite_data.Variant, data, args) -> simulation.SimulationConfig:
    init_size = 0 if args.init_size == 0 else len(set(data.labels))
    return simulation.SimulationConfig(
        data=str(variant.path), strategies=("random",), seeds=args.seeds, init_size=init_size,
        batch=BATCH, budget=max(args.budgets), test_size=TEST_SIZE,
        learner_params=args.learner_params, semi_supervised=args.semi_supervised,
        zero_shot=args.zero_shot, **variant.import_args,
    )  # fmt: skip


def plan_variant(variant: suite_data.Variant, args, all_arms: list[Arm]):
    """The variant's config and the missing runs as (split maker, arm, seed, path) tasks."""
    config = simulation.SimulationConfig(data=str(variant.path), **variant.import_args)
    data, featurizer = simulation.load_data(config)
    featurizer = args.features.get(data.kind, featurizer)
    config = replace(set_config(variant, data, args), features=featurizer)
    n_test = simulation.check_sizes(config, np.asarray(data.labels, dtype=str))
    todo, shared = [], None
    for seed in range(args.seeds):
        missing = [a for a in all_arms if not run_key(variant.name, a, seed, config).exists()]
        if missing:
            if shared is None:
                shared = shared_features(variant, data, featurizer)
            split = simulation.prepare_seed(
                data, featurizer, n_test, seed, features=shared, zero_shot=config.zero_shot
            )
            todo += [
                (split, a, config, str(run_key(variant.name, a, seed, config))) for a in missing
            ]
    return config, todo


def run_suite(variants, args, all_arms: list[Arm]) -> tuple[dict[str, dict], dict[str, str]]:
    """Every (variant, arm, seed) curve, computing the missing ones, and each variant's
    featurizer; both by variant name."""
    configs, tasks = {}, []
    for variant in variants:
        configs[variant.name], todo = plan_variant(variant, args, all_arms)
        tasks += todo
        print(f"{variant.name}: {len(todo)} runs to compute", file=sys.stderr)
    _execute(tasks, args.jobs)
    curves = {}
    for variant in variants:
        config = configs[variant.name]
        curves[variant.name] = {
            arm.name: [
                json.loads(run_key(variant.name, arm, seed, config).read_text())
                for seed in range(args.seeds)
            ]
            for arm in all_arms
        }
    return curves, {name: config.features for name, config in configs.items()}


def _execute(tasks, jobs: int) -> None:
    from tqdm import tqdm

    # longest first (large pools, protonet) so the two workers finish together
    tasks = sorted(
        tasks, key=lambda t: -(t[0].y_pool.size * (2 if t[1].learner == "protonet" else 1))
    )
    bar = tqdm(total=len(tasks), desc="suite", unit="run", file=sys.stderr)
    try:
        if jobs <= 1:
            for task in tasks:
                _task(*task)
                bar.update(1)
            return
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=context, initializer=exit_with_parent
        ) as pool:
            for future in concurrent.futures.as_completed([pool.submit(_task, *t) for t in tasks]):
                future.result()
                bar.update(1)
    finally:
        bar.close()


# ---------------------------------------------------------------------------------------------
# Statistics


def aulc_at(run: dict, budget: int) -> float:
    """Mean accuracy over the curve's points with at most ``budget`` labels."""
    return float(
        np.mean([a for n, a in zip(run["labels"], run["accuracy"], strict=True) if n <= budget])
    )


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (statsmodels); None stays None (no test possible)."""
    from statsmodels.stats.multitest import multipletests

    present = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if present:
        adjusted = multipletests([p_values[i] for i in present], method="holm")[1]
        for i, p in zip(present, adjusted, strict=True):
            out[i] = float(p)
    return out


def outcome(diff: float, p_adjusted: float | None) -> str:
    if p_adjusted is None or p_adjusted >= ALPHA:
        return "tie"
    return "win" if diff > 0 else "loss"


def budget_table(curves: dict[str, dict], budget: int, names: list[str]) -> dict:
    """Per set and arm: mean / std AULC; per arm vs random and vs lr+margin: mean difference,
    Holm-adjusted p and outcome per set, wins / ties / losses; average rank."""
    sets = list(curves)
    aulcs = {v: {a: [aulc_at(r, budget) for r in curves[v][a]] for a in names} for v in sets}
    means = {v: {a: float(np.mean(aulcs[v][a])) for a in names} for v in sets}
    table = {"budget": budget, "sets": sets, "aulc": {}, "versus": {}, "mean": {}, "rank": {}}
    for v in sets:
        table["aulc"][v] = {a: {"mean": means[v][a], "std": float(np.std(aulcs[v][a], ddof=1))
                                if len(aulcs[v][a]) > 1 else 0.0} for a in names}  # fmt: skip
    for reference in (REFERENCE, PEER):
        table["versus"][reference] = {}
        for a in names:
            if a == reference:
                continue
            diffs = [means[v][a] - means[v][reference] for v in sets]
            raw = [simulation.paired_p_value(aulcs[v][a], aulcs[v][reference]) for v in sets]
            adjusted = holm(raw)
            outcomes = [outcome(d, p) for d, p in zip(diffs, adjusted, strict=True)]
            table["versus"][reference][a] = {
                "diff": dict(zip(sets, diffs, strict=True)),
                "p": dict(zip(sets, raw, strict=True)),
                "p_holm": dict(zip(sets, adjusted, strict=True)),
                "outcome": dict(zip(sets, outcomes, strict=True)),
                "wins": outcomes.count("win"), "ties": outcomes.count("tie"),
                "losses": outcomes.count("loss"),
            }  # fmt: skip
    from scipy.stats import rankdata

    ranks = np.array([rankdata([-means[v][a] for a in names]) for v in sets])
    for i, a in enumerate(names):
        table["mean"][a] = float(np.mean([means[v][a] for v in sets]))
        table["rank"][a] = float(ranks[:, i].mean())
    return table


def targets(table: dict, ours: list[str]) -> dict:
    """Issue 14's targets at one budget (meaningful on the reporting half)."""
    versus_random = table["versus"][REFERENCE].get("auto")
    versus_peer = table["versus"][PEER]
    sets = table["sets"]
    out = {}
    if versus_random is not None:
        out["auto_never_significantly_worse_than_random"] = versus_random["losses"] == 0
        out["auto_no_mean_loss_over_0.01"] = min(versus_random["diff"].values()) >= -0.01
        gain = table["mean"]["auto"] - table["mean"][REFERENCE]
        out["auto_mean_gain_over_random"] = gain
        out["auto_mean_gain_ge_0.02"] = gain >= 0.02
        peer = versus_peer["auto"]["diff"]
        out["auto_ge_lr_margin_share"] = sum(d >= 0 for d in peer.values()) / len(sets)
        out["auto_ge_lr_margin_on_75pct"] = out["auto_ge_lr_margin_share"] >= 0.75
        out["auto_ge_lr_margin_on_average"] = table["mean"]["auto"] >= table["mean"][PEER]
    best = {v: max(table["aulc"][v][a]["mean"] for a in ours) for v in sets}
    gaps = {v: best[v] - table["aulc"][v][PEER]["mean"] for v in sets}
    out["best_ours_minus_lr_margin"] = gaps
    out["best_ours_ge_lr_margin_minus_0.005_everywhere"] = min(gaps.values()) >= -0.005
    return out


# ---------------------------------------------------------------------------------------------
# Reporting


def markdown(table: dict, names: list[str]) -> str:
    sets = table["sets"]
    head = "| set | " + " | ".join(names) + " |"
    lines = [f"**Budget {table['budget']}** (AULC, mean over seeds; * Holm-adjusted p < 0.05 "
             "against random, + better / - worse)", "", head,
             "|" + "---|" * (len(names) + 1)]  # fmt: skip
    for v in sets:
        best = max(table["aulc"][v][a]["mean"] for a in names)
        cells = []
        for a in names:
            value = f"{table['aulc'][v][a]['mean']:.3f}"
            if table["aulc"][v][a]["mean"] == best:
                value = f"**{value}**"
            result = table["versus"][REFERENCE].get(a, {}).get("outcome", {}).get(v, "tie")
            cells.append(value + {"win": " *+", "loss": " *-", "tie": ""}[result])
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines.append("| mean | " + " | ".join(f"{table['mean'][a]:.3f}" for a in names) + " |")
    for reference in (REFERENCE, PEER):
        row = []
        for a in names:
            r = table["versus"][reference].get(a)
            row.append("-" if r is None else f"{r['wins']}/{r['ties']}/{r['losses']}")
        lines.append(f"| W/T/L vs {reference} | " + " | ".join(row) + " |")
    lines.append("| average rank | " + " | ".join(f"{table['rank'][a]:.2f}" for a in names) + " |")
    return "\n".join(lines)


def curves_png(curves: dict[str, dict], columns: int = 3) -> bytes:
    """One panel per set: the mean curve per arm (simulation.curves_png), in a grid."""
    import io

    from PIL import Image

    panels = []
    for variant, by_arm in curves.items():
        runs = [dict(r, strategy=a) for a, rs in by_arm.items() for r in rs]
        summary = {a: {"aulc_mean": float(np.mean([aulc_at(r, 10**9) for r in rs]))}
                   for a, rs in by_arm.items()}  # fmt: skip
        png = simulation.curves_png({"runs": runs, "summary": summary}, size=(640, 360))
        panel = Image.open(io.BytesIO(png)).convert("RGB")
        from PIL import ImageDraw

        ImageDraw.Draw(panel).text((300, 8), variant, fill="black")
        panels.append(panel)
    rows = (len(panels) + columns - 1) // columns
    sheet = Image.new("RGB", (640 * columns, 360 * rows), "white")
    for i, panel in enumerate(panels):
        sheet.paste(panel, (640 * (i % columns), 360 * (i // columns)))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Command line


def choose_sets(args) -> list[str]:
    if args.sets:
        names = [n.strip() for n in args.sets.split(",") if n.strip()]
        unknown = [n for n in names if n not in suite_data.SETS]
        if unknown:
            raise SystemExit(
                f"unknown set {unknown[0]!r}; choose from {', '.join(suite_data.SETS)}"
            )
        return names
    halves = suite_data.committed_split()
    names = halves["tuning"] + halves["reporting"] if args.suite == "all" else halves[args.suite]
    if args.quick:  # two sets per kind, in the half's order
        names = [
            n
            for k in suite_data.KINDS
            for n in [m for m in names if suite_data.SETS[m].kind == k][:2]
        ]
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--suite",
        choices=("tuning", "reporting", "all"),
        default="tuning",
        help="which half of bench/suite_split.json (default: tuning)",
    )
    parser.add_argument("--sets", help="comma-separated set names instead of a half")
    parser.add_argument(
        "--sizes",
        default="small,large",
        help="pool variants: small (about 1,000), large (about 5,000) or both",
    )
    parser.add_argument(
        "--strategies",
        default="random,margin,auto",
        help="protolabel strategies (random is always included)",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="200,500", help="label budgets to report")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--init-size",
        type=int,
        choices=(0, 1),
        default=1,
        help="1: one label per class to start (default); 0: the app's own cold start",
    )
    parser.add_argument(
        "--quick", action="store_true", help="two sets per kind, small pools, 3 seeds, budget 200"
    )
    parser.add_argument(
        "--learner-params",
        type=json.loads,
        default={},
        help="protonet settings on top of its defaults, JSON, e.g. '{\"max_steps\": 100}'",
    )
    parser.add_argument(
        "--features",
        type=parse_features,
        default={},
        help="featurizers instead of the app's defaults, per kind: KIND=NAME,... "
        "(e.g. image=efficientnet,text=minilm; a pretrained model's vectors are kept in the cache)",
    )
    parser.add_argument(
        "--semi-supervised",
        action="store_true",
        help="protonet refines its prototypes with the unlabelled pool (a project setting)",
    )
    parser.add_argument(
        "--no-zero-shot",
        dest="zero_shot",
        action="store_false",
        help="protonet without prototypes from the class names (on by default, as in projects)",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default bench/results/suite-SUITE)"
    )
    args = parser.parse_args(argv)
    args.budgets = sorted(int(b) for b in args.budgets.split(","))
    sizes = {s.strip() for s in args.sizes.split(",")}
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if REFERENCE not in strategies:
        strategies.insert(0, REFERENCE)
    if args.quick:
        args.seeds, args.budgets, sizes = min(args.seeds, 3), [200], {"small"}
    out = args.out or ROOT / "bench/results" / f"suite-{'quick-' if args.quick else ''}{args.suite}"
    names = choose_sets(args)
    variants = []
    for name in names:
        built = suite_data.build_set(name)
        variants += [v for i, v in enumerate(built) if ("small" if i == 0 else "large") in sizes]
    all_arms = arms(strategies)
    start = time.perf_counter()
    curves, features = run_suite(variants, args, all_arms)
    seconds = time.perf_counter() - start
    arm_names = [a.name for a in all_arms]
    tables = [budget_table(curves, b, arm_names) for b in args.budgets]
    record = {
        "suite": args.suite, "sets": names, "variants": [v.name for v in variants],
        "seeds": args.seeds, "budgets": args.budgets, "init_size": args.init_size,
        "batch": BATCH, "test_size": TEST_SIZE,
        "learner_params": args.learner_params, "semi_supervised": args.semi_supervised,
        "zero_shot": args.zero_shot,
        "features": features,
        "arms": [vars(a) for a in all_arms],
        "seconds": seconds, "jobs": args.jobs, "cpus": os.cpu_count(),
        "python": platform.python_version(), "tables": tables,
        "targets": {str(t["budget"]): targets(t, strategies) for t in tables},
        "curves": curves,
    }  # fmt: skip
    text = "\n\n".join(markdown(t, arm_names) for t in tables)
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps(rounded(record), separators=(",", ":")))
    (out / "suite.md").write_text(text + "\n")
    (out / "curves.png").write_bytes(curves_png(curves))
    print(text)
    print(json.dumps(record["targets"], indent=1))
    print(
        f"\n{len(variants)} sets, {args.seeds} seeds, {seconds:.0f} s; wrote {out}/suite.json, suite.md, curves.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
