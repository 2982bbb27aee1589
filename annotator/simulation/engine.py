"""Simulated annotation: replay an oracle over a labelled dataset -> learning curves, AULC.

Which query strategy should I use on my data? This module answers it as issue 7 specifies,
honestly: several seeds, area under the learning curve, paired against random.

Protocol, the same for every strategy under a seed (so comparisons are paired):

1. **Test split.** Stratified, ``n_test = min(test_size, floor(0.3 n))`` items drawn with the
   seed (scikit-learn ``train_test_split``). The rest is the pool. Test items are never in the
   pool, and the featurizer (scaler, TF-IDF + SVD, image size) is fitted on the pool's items only,
   then applied to both.
2. **Initial labelled set.** One random pool item per class, then random pool items up to
   ``init_size`` in total. It counts toward the budget and is the curve's first point.
   ``init_size`` 0 is the app's own cold start instead: every label comes from the planner,
   which without a model starts cold (typicality, see :mod:`annotator.loop.planning`); until two
   classes are labelled there is no model and the score is that of predicting the one class
   seen. The curve's first point is then at ``batch`` labels.
3. **Rounds.** The strategy picks ``batch`` pool items (the last round fewer, to land on
   ``budget``); the :class:`Oracle` answers their labels from the pool's ground truth.
4. **Evaluation.** After the initial set and after each round the learner is retrained on the
   labelled items and scored on the test split: accuracy and macro-F1 (over all classes).
   ``query_seconds`` is the time the strategy took to choose the round (0.0 for the random
   initial set).

The learner is the project's prototypical network (``learner="protonet"``, the estimator's
defaults, warm-started from the previous round with shrink-and-perturb as the app does, on the
CPU) or scikit-learn ``LogisticRegression(max_iter=1000)`` (``"logreg"``) as a reference. No
pretraining on the evaluation data or its source. Neither learner uses the unlabelled pool; the
strategies that look at the unlabelled pool's features (``strategies.POOL_STRATEGIES``: those that
read ``"features"``) are listed in ``config["strategies_using_unlabelled_pool"]``.

Randomness: the split and the initial set come from the seed alone; the learner's
``random_state`` from (seed, round); the strategy's generator from (seed, strategy). Every run
uses one thread (torch, BLAS and OpenMP), so results are identical whatever ``jobs`` is.

Summary per strategy (see :func:`summarize`): ``aulc_mean``/``aulc_std`` (AULC = mean accuracy
over all points of a curve; std over seeds, ddof=1), ``final_accuracy_mean``,
``label_savings``, ``p_vs_random`` (paired t-test of AULC over seeds) and ``n`` (seeds paired).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator import zero_shot as zero_shot_module
from annotator.errors import ProtolabelError
from annotator.io.dataset import ImportedData
from annotator.processes import exit_with_parent, plain_main
from annotator.simulation.stats import summarize

LEARNERS = ("protonet", "logreg")
DEMOS = {
    "demo:digits": "scikit-learn's 1,797 handwritten digits, 8x8 grey images, 10 classes",
    "demo:fine_foods": "5,000 Amazon fine-food reviews (text), labels great / other",
}
MAX_TEST_FRACTION = 0.3
_SPLIT_STREAM, _INIT_STREAM = 1, 2

Progress = bool | Callable[[int, int], None] | None


class SimulationError(ProtolabelError):
    """The simulation cannot run as asked (bad data, strategy or sizes)."""


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; ``dataclasses.asdict`` of it is the core of ``results["config"]``.

    ``data``: a file or image folder, ``project:NAME`` (replay a project's labelled items, the
    people's labels as the oracle; needs ``db``) or a key of :data:`DEMOS`. ``seeds``: the number
    of seeds, 0 .. seeds-1. ``features``: a featurizer name or ``"auto"`` (for a project: the
    project's own featurizer). ``warm_start``: protonet starts each round from the previous
    round's model (off by default: the app fits afresh, measured better in bench/meta_bench.py).
    ``semi_supervised``: protonet refines its prototypes with the unlabelled pool (constrained
    k-means, ``meta.ProtoNetClassifier(refine_steps=...)``), as projects with that setting do;
    the test split is never used. ``learner_params``: keyword arguments for the learner on top of its defaults
    (to compare settings; the CLI uses the defaults). ``zero_shot``: protonet starts each
    class's prototype from a description of the class (:mod:`annotator.zero_shot`) where that
    applies (text, a label set with meaning), so there is a model before the first label.
    """

    data: str
    strategies: tuple[str, ...] = ("random", "margin")
    seeds: int = 5
    init_size: int = 10
    batch: int = 10
    budget: int = 200
    test_size: int = 500
    learner: str = "protonet"
    features: str = "auto"
    text_col: str | None = None
    label_col: str | None = None
    label_from_folder: bool = False
    db: str | None = None
    warm_start: bool = False
    semi_supervised: bool = False
    zero_shot: bool = True
    learner_params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class SeedSplit:
    """One seed's data: pool and test features (featurizer fitted on the pool), labels, init set.

    ``X_pool`` (n_pool, d), ``y_pool`` (n_pool,) str; ``X_test`` (n_test, d), ``y_test``;
    ``classes`` every class, sorted; ``priors`` {class: (d,) row} of the class descriptions
    (:func:`annotator.zero_shot.prior_rows`) or None where zero-shot does not apply.
    """

    seed: int
    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray
    priors: dict[str, np.ndarray] | None = None


class Oracle:
    """Answers labels of pool items only: the simulated person never sees the test split."""

    def __init__(self, y_pool: np.ndarray) -> None:
        self._y = np.asarray(y_pool)
        self.asked: list[int] = []

    def label(self, positions: np.ndarray) -> np.ndarray:
        """Labels of pool ``positions`` (indices into the pool)."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= self._y.size):
            raise IndexError("the oracle answers for pool items only")
        self.asked.extend(positions.tolist())
        return self._y[positions]


# ---------------------------------------------------------------------------------------------
# Data


def load_data(config: SimulationConfig) -> tuple[ImportedData, str]:
    """The items with ground truth (rows without a label dropped) and the featurizer's name."""
    from annotator.io import choose_featurizer, read_input

    featurizer = config.features
    if config.data.startswith("project:"):
        data, project_featurizer = _project_data(config)
        if featurizer in (None, "", "auto"):
            featurizer = project_featurizer
    elif config.data.startswith("demo:"):
        data = _demo_data(config.data)
    else:
        data = read_input(
            config.data,
            text_col=config.text_col,
            label_col=config.label_col,
            label_from_folder=config.label_from_folder,
        )
    data = _with_ground_truth(data)
    return data, choose_featurizer(featurizer, data).name


def _demo_data(name: str) -> ImportedData:
    if name == "demo:digits":
        from annotator.demo import digits_data

        return digits_data()
    if name == "demo:fine_foods":
        from annotator.io import read_input
        from protolabel_data import demo_path

        return read_input(demo_path("fine_foods"), text_col="text", label_col="label")
    raise SimulationError(f"unknown demo {name!r}; choose {', '.join(DEMOS)}")


def _project_data(config: SimulationConfig) -> tuple[ImportedData, str]:
    """A project's items that people labelled, their current labels as the ground truth."""
    from annotator.config import Settings
    from annotator.loop.training import labelled_rows
    from annotator.services import feature_values, items_as_data
    from annotator.store import queries
    from annotator.store.db import Store

    name = config.data.removeprefix("project:")
    settings = Settings.from_env(config.db)
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        raise SimulationError(f"no database at {settings.sqlite_path} to find project {name!r} in")
    store = Store.open(settings)
    try:
        with store.read() as session:
            project = queries.get_project(session, name)
            rows, labels, _ = labelled_rows(session, project.id)
            by_row = {item.row: item for item in project.items}
            items = [by_row[int(r)] for r in rows]
            values = None
            if project.data_kind == "features":
                values = feature_values(store, session, project, items)
            data = items_as_data(project, items, values)
            featurizer = project.featurizer
    finally:
        store.dispose()
    data.labels = [str(label) for label in labels]
    return data, featurizer


def project_setting(data: str, db: str | None, setting: str, default: bool) -> bool:
    """For ``project:NAME``, the project's switch ``setting`` (``semi_supervised``,
    ``zero_shot``); ``default`` for anything else or when the project cannot be found
    (loading it reports that). Writes nothing."""
    if not data.startswith("project:"):
        return default
    from annotator.config import Settings
    from annotator.store import queries
    from annotator.store.db import Store

    settings = Settings.from_env(db)
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        return default
    store = Store.open(settings)
    try:
        with store.read() as session:
            project = queries.find_project(session, data.removeprefix("project:"))
            return default if project is None else bool(getattr(project, setting))
    finally:
        store.dispose()


def _with_ground_truth(data: ImportedData) -> ImportedData:
    if data.labels is None or all(label is None for label in data.labels):
        raise SimulationError(
            f"{data.source}: no ground-truth labels to simulate with "
            "(pass --label-col, or --label-from-folder for an image folder)"
        )
    keep = [i for i, label in enumerate(data.labels) if label is not None]
    data = data.take(keep) if len(keep) < len(data) else data
    if len(set(data.labels)) < 2:
        raise SimulationError(f"{data.source}: fewer than 2 classes in the ground truth")
    return data


# ---------------------------------------------------------------------------------------------
# Checks


def check_config(config: SimulationConfig) -> None:
    """Raise :class:`SimulationError` for a configuration that cannot run (before any data)."""
    from strategies import NAMES, get_strategy

    unknown = [s for s in config.strategies if strategy_spec(s)[0] not in NAMES]
    if unknown:
        raise SimulationError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(NAMES)}")
    for spec in config.strategies:
        name, params = strategy_spec(spec)
        try:
            get_strategy(name, **params)
        except TypeError as err:
            raise SimulationError(f"strategy {spec!r}: {err}") from None
    if not config.strategies:
        raise SimulationError("no strategy to simulate: pass --strategies random,margin,...")
    if len(set(config.strategies)) < len(config.strategies):
        raise SimulationError("a strategy is listed twice in --strategies")
    if config.learner not in LEARNERS:
        raise SimulationError(f"unknown learner {config.learner!r}; choose {', '.join(LEARNERS)}")
    for name in ("seeds", "batch", "budget", "test_size"):
        if getattr(config, name) < 1:
            raise SimulationError(f"--{name.replace('_', '-')} must be at least 1")
    if config.init_size < 0:
        raise SimulationError("--init-size must be 0 (the app's cold start) or more")
    if config.budget < config.init_size:
        raise SimulationError(
            f"--budget {config.budget} is below --init-size {config.init_size}: "
            "the initial labelled set counts toward the budget"
        )
    if config.data.startswith("project:") and len(config.data) == len("project:"):
        raise SimulationError("--data project:NAME needs a project name")


def check_sizes(config: SimulationConfig, labels: np.ndarray) -> int:
    """The test size actually used; raise when the data cannot hold the protocol."""
    classes, counts = np.unique(labels, return_counts=True)
    n_test = min(config.test_size, int(MAX_TEST_FRACTION * labels.size))
    if counts.min() < 2:
        rare = classes[np.argmin(counts)]
        raise SimulationError(
            f"class {rare!r} has a single item: a stratified test split needs 2 per class"
        )
    if n_test < classes.size:
        raise SimulationError(
            f"a test split of {n_test} items cannot hold all {classes.size} classes "
            f"({labels.size} items; the test split is min(--test-size, 30%))"
        )
    if 0 < config.init_size < classes.size:
        raise SimulationError(
            f"--init-size {config.init_size} is below the {classes.size} classes: the "
            "initial set holds one item per class"
        )
    n_pool = labels.size - n_test
    if config.budget > n_pool:
        raise SimulationError(
            f"--budget {config.budget} exceeds the pool of {n_pool} items "
            f"({labels.size} items, {n_test} for testing); lower --budget or --test-size"
        )
    return n_test


# ---------------------------------------------------------------------------------------------
# One seed's split and one run


def featurize_all(data: ImportedData, featurizer: str, *, progress: bool | None = False):
    """The vectors of ``featurizer``'s pretrained part for every item, in one pass (all of its
    features for a pretrained model, the MiniLM half of minilm+tfidf): they do not depend on
    the pool, so the seeds share them instead of embedding every item once per seed. None for
    a featurizer without one (raw, pixels, tfidf: fitted on each seed's pool)."""
    from annotator.io import make_featurizer

    part = make_featurizer(featurizer, progress=progress).pretrained_part()
    return None if part is None else part.fit(None).transform(data)


def prepare_seed(
    data: ImportedData,
    featurizer: str,
    n_test: int,
    seed: int,
    *,
    features: np.ndarray | None = None,
    zero_shot: bool = False,
) -> SeedSplit:
    """Split ``data`` for ``seed`` and featurize it with a featurizer fitted on the pool,
    taking the pretrained part's vectors from ``features`` (:func:`featurize_all`'s) when
    given; with ``zero_shot``, the class descriptions too where they apply."""
    from sklearn.model_selection import train_test_split

    from annotator.io import make_featurizer

    labels = np.asarray(data.labels, dtype=str)
    pool, test = train_test_split(
        np.arange(labels.size),
        test_size=n_test,
        stratify=labels,
        random_state=np.random.RandomState([seed, _SPLIT_STREAM]),
    )
    fitted = make_featurizer(featurizer, progress=False).fit(data.take(pool))
    if features is not None:
        X_pool = fitted.transform_given(data.take(pool), features[pool])
        X_test = fitted.transform_given(data.take(test), features[test])
    else:
        X_pool, X_test = fitted.transform(data.take(pool)), fitted.transform(data.take(test))
    classes = np.unique(labels)
    priors = None
    if zero_shot and zero_shot_module.applies(data.kind, classes.tolist()):
        priors = zero_shot_module.prior_rows(fitted, classes.tolist())
    return SeedSplit(
        seed=seed,
        X_pool=X_pool,
        y_pool=labels[pool],
        X_test=X_test,
        y_test=labels[test],
        classes=classes,
        priors=priors,
    )


def initial_set(y_pool: np.ndarray, init_size: int, seed: int) -> np.ndarray:
    """Pool positions: one random item per class (sorted classes), then random up to
    ``init_size`` in total."""
    rng = np.random.default_rng([seed, _INIT_STREAM])
    firsts = [rng.choice(np.flatnonzero(y_pool == c)) for c in np.unique(y_pool)]
    rest = np.setdiff1d(np.arange(y_pool.size), firsts)
    extra = rng.choice(rest, max(0, init_size - len(firsts)), replace=False)
    return np.concatenate([np.asarray(firsts, dtype=np.int64), extra.astype(np.int64)])


def round_sizes(init_size: int, batch: int, budget: int) -> list[int]:
    """Label counts of the curve's points: init, init + batch, ..., budget."""
    points = list(range(init_size, budget, batch))
    return [*points, budget] if points[-1:] != [budget] else points


def make_learner(name: str, random_state: int, params: dict[str, Any] | None = None):
    """An unfitted learner: ``ProtoNetClassifier`` (defaults, CPU, one thread) or
    ``LogisticRegression(max_iter=1000)``, with ``params`` on top."""
    if name == "protonet":
        from meta import ProtoNetClassifier

        defaults = {"device": "cpu", "n_threads": 1}
        return ProtoNetClassifier(random_state=random_state, **(defaults | (params or {})))
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=random_state, **({"max_iter": 1000} | (params or {})))


def _fit(config: SimulationConfig, seed: int, point: int, split: SeedSplit, labelled, y, previous):
    learner = config.learner
    model = make_learner(learner, seed * 10_000 + point, config.learner_params)
    X = split.X_pool[labelled]
    if learner == "protonet":
        unlabelled = None
        if config.semi_supervised:
            unlabelled = np.delete(split.X_pool, labelled, axis=0)
        return model.fit(X, y, priors=split.priors, unlabelled=unlabelled, warm_start_from=previous)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on a handful of labels
        return model.fit(X, y)


def _score(model, split: SeedSplit, answers: np.ndarray) -> tuple[float, float]:
    """Test accuracy and macro-F1; without a model, of predicting the one class labelled."""
    from sklearn.metrics import accuracy_score, f1_score

    if model is None:
        predicted = np.full(split.y_test.size, answers[0], dtype=split.y_test.dtype)
    else:
        predicted = model.predict(split.X_test)
    accuracy = accuracy_score(split.y_test, predicted)
    macro_f1 = f1_score(
        split.y_test, predicted, labels=split.classes, average="macro", zero_division=0
    )
    return float(accuracy), float(macro_f1)


def simulate_run(
    split: SeedSplit,
    strategy: str,
    config: SimulationConfig,
    oracle: Oracle | None = None,
) -> dict[str, Any]:
    """One learning curve: ``{"strategy", "seed", "labels", "accuracy", "macro_f1",
    "query_seconds"}`` (lists aligned with ``labels``).

    The model and the strategy see the pool (``split.X_pool``) and the oracle's answers only;
    the test split only scores. The initial set's one-item-per-class draw reads the pool's
    labels, as the protocol's class-covering start assumes; the oracle then answers for it.
    Everything but ``query_seconds`` (wall-clock) is a function of (split, strategy, config).
    """
    from threadpoolctl import threadpool_limits

    oracle = oracle or Oracle(split.y_pool)
    rng = np.random.default_rng([split.seed, zlib.crc32(strategy.encode())])
    labelled = np.empty(0, dtype=np.int64)
    if config.init_size:
        labelled = initial_set(split.y_pool, config.init_size, split.seed)
    answers = oracle.label(labelled)
    run = {"strategy": strategy, "seed": split.seed}
    run |= {key: [] for key in ("labels", "accuracy", "macro_f1", "query_seconds")}
    model, seconds = None, 0.0
    described = split.priors is not None and config.learner == "protonet"
    with threadpool_limits(limits=1):
        if described and not labelled.size:  # a model from the class descriptions alone
            model = _fit(config, split.seed, 0, split, labelled, answers, None)
        first = config.init_size or config.batch
        for point, target in enumerate(round_sizes(first, config.batch, config.budget)):
            if target > labelled.size:
                k = target - labelled.size
                chosen, seconds = _query(strategy, model, split, labelled, answers, k, rng)
                labelled = np.concatenate([labelled, chosen])
                answers = np.concatenate([answers, oracle.label(chosen)])
            previous = model if config.warm_start else None
            model = None  # a cold start with one class seen: no model yet, as in the app
            if described or np.unique(answers).size >= 2:
                model = _fit(config, split.seed, point, split, labelled, answers, previous)
            accuracy, macro_f1 = _score(model, split, answers)
            run["labels"].append(int(labelled.size))
            run["accuracy"].append(accuracy)
            run["macro_f1"].append(macro_f1)
            run["query_seconds"].append(round(seconds, 6))
    return run


def strategy_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"hybrid:candidate_factor=5"`` -> ``("hybrid", {"candidate_factor": 5})``: a strategy
    with settings beyond its defaults, ``;`` between settings (commas separate strategies on
    the command line); values read as JSON, else kept as text."""
    import json

    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(";")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SimulationError(f"strategy {spec!r}: write settings as NAME:key=value;...")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value.strip()
    return name.strip(), params


def _query(strategy: str, model, split: SeedSplit, labelled, answers, k: int, rng):
    """``k`` pool positions chosen as the app's planner chooses them
    (``planning.choose_batch``), and the seconds it took."""
    from annotator.loop.planning import choose_batch

    name, params = strategy_spec(strategy)
    pool = np.setdiff1d(np.arange(split.y_pool.size), labelled)
    start = time.perf_counter()
    choice = choose_batch(
        name, k, split.X_pool, pool, labelled, answers, model,
        n_classes=split.classes.size, rng=rng, random_state=split.seed, params=params,
    )  # fmt: skip
    return choice.rows, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Driver


def _init_worker() -> None:
    """A worker process: one torch thread (BLAS/OpenMP are limited per run); it ends with
    its parent (a server killed mid-run leaves no orphan computing)."""
    import torch

    torch.set_num_threads(1)
    exit_with_parent()


def _task(split: SeedSplit, strategy: str, config: SimulationConfig) -> dict[str, Any]:
    return simulate_run(split, strategy, config)


def _progress_bar(progress: Progress, total: int):
    from tqdm.auto import tqdm

    disable = None if progress is None else progress is not True
    return tqdm(total=total, desc="simulate", unit="run", disable=disable, file=sys.stderr)


def run_simulation(
    config: SimulationConfig,
    *,
    jobs: int = 1,
    progress: Progress = None,
    data: ImportedData | None = None,
) -> dict[str, Any]:
    """Simulate every strategy x seed; return ``{"config", "runs", "summary"}`` (results.json).

    ``jobs``: worker processes (spawned, one torch thread each); the results do not depend on
    it. ``progress``: None shows a tqdm bar on stderr when it is a terminal, True always, False
    never; a callable gets ``(runs done, runs in all)`` instead. ``data``: items with ground
    truth given in memory (``config.data`` then only names them in the record).
    """
    check_config(config)
    if data is None:
        data, featurizer = load_data(config)
    else:
        from annotator.io import choose_featurizer

        data = _with_ground_truth(data)
        featurizer = choose_featurizer(config.features, data).name
    n_test = check_sizes(config, np.asarray(data.labels, dtype=str))
    features = featurize_all(
        data, featurizer, progress=None if progress is None else progress is True
    )
    zero_shot = config.zero_shot and config.learner == "protonet"
    splits = [
        prepare_seed(data, featurizer, n_test, seed, features=features, zero_shot=zero_shot)
        for seed in range(config.seeds)
    ]
    tasks = [(split, s) for s in config.strategies for split in splits]
    runs = _execute(tasks, config, jobs, progress)
    return {
        "config": _config_record(config, featurizer, splits[0], len(data)),
        "runs": runs,
        "summary": summarize(runs, config.strategies),
    }


def _execute(tasks, config: SimulationConfig, jobs: int, progress: Progress) -> list[dict]:
    """Run the tasks (in-process for ``jobs`` 1) and return the runs in task order."""
    bar = None if callable(progress) else _progress_bar(progress, len(tasks))

    def tick(done: int) -> None:
        if bar is not None:
            bar.update(1)
        else:
            progress(done, len(tasks))

    runs: list[dict | None] = [None] * len(tasks)
    try:
        if jobs <= 1:
            for i, (split, strategy) in enumerate(tasks):
                runs[i] = simulate_run(split, strategy, config)
                tick(i + 1)
            return runs
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker
        ) as pool:
            with plain_main():  # the children are started while tasks are submitted
                futures = {
                    pool.submit(_task, split, s, config): i for i, (split, s) in enumerate(tasks)
                }
            for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                runs[futures[future]] = future.result()
                tick(done)
        return runs
    finally:
        if bar is not None:
            bar.close()


def _config_record(
    config: SimulationConfig, featurizer: str, split: SeedSplit, n_items: int
) -> dict[str, Any]:
    from strategies import POOL_STRATEGIES

    record = dataclasses.asdict(config)
    record.pop("db")
    record["strategies"] = list(config.strategies)
    record |= {
        "features": featurizer,
        "n_items": n_items,
        "n_pool": int(split.y_pool.size),
        "n_test": int(split.y_test.size),
        "classes": split.classes.tolist(),
        "seed_values": list(range(config.seeds)),
        "learner_params": _learner_params(config),
        "warm_start": config.learner == "protonet" and config.warm_start,
        "learner_uses_unlabelled_pool": False,
        "strategies_using_unlabelled_pool": [
            s for s in config.strategies if strategy_spec(s)[0] in POOL_STRATEGIES
        ],
        "pretrained": False,
        "zero_shot_used": split.priors is not None,
        "zero_shot_template": zero_shot_module.TEMPLATE if split.priors is not None else None,
        "label_savings": "labels needed to reach random's mean final accuracy (mean curve)",
    }
    return record


def _learner_params(config: SimulationConfig) -> dict[str, Any]:
    params = make_learner(config.learner, 0, config.learner_params).get_params()
    params.pop("random_state", None)
    params.pop("pretrained", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
