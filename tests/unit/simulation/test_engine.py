"""The simulation engine (issue 7): protocol, determinism, no test-label leak, summary."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
from scipy import stats

from annotator import simulation as sim
from annotator.io import featurizers
from annotator.io.dataset import ImportedData
from annotator.simulation import SimulationConfig, SimulationError, engine

from .conftest import blobs


def _run(strategy: str, seed: int, accuracy: list[float]) -> dict:
    n = len(accuracy)
    return {
        "strategy": strategy,
        "seed": seed,
        "labels": [10 * (i + 1) for i in range(n)],
        "accuracy": accuracy,
        "macro_f1": accuracy,
        "query_seconds": [0.0] * n,
    }


# -- protocol ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("init", "batch", "budget", "expected"),
    [(10, 10, 50, [10, 20, 30, 40, 50]), (10, 15, 40, [10, 25, 40]), (5, 10, 5, [5])],
)
def test_round_sizes_end_on_the_budget(init, batch, budget, expected) -> None:
    assert sim.round_sizes(init, batch, budget) == expected


def test_initial_set_has_one_item_per_class_then_random() -> None:
    y = np.array(["a"] * 50 + ["b"] * 5 + ["c"] * 45)
    init = sim.initial_set(y, 8, seed=3)
    assert init.size == 8 and np.unique(init).size == 8
    assert set(y[init[:3]]) == {"a", "b", "c"}
    assert np.array_equal(init, sim.initial_set(y, 8, seed=3))
    assert not np.array_equal(init, sim.initial_set(y, 8, seed=4))


def test_split_is_stratified_capped_at_30_percent_and_featurizer_fit_on_pool(data) -> None:
    split = sim.prepare_seed(data, "raw", n_test=30, seed=0)
    assert split.X_test.shape[0] == 30 and split.X_pool.shape[0] == len(data) - 30
    assert sorted(np.unique(split.y_test, return_counts=True)[1]) == [10, 10, 10]
    # raw standardizes with the pool's statistics only: the pool is centred, the test is not
    np.testing.assert_allclose(split.X_pool.mean(axis=0), 0.0, atol=1e-5)
    assert np.abs(split.X_test.mean(axis=0)).max() > 1e-3
    config = SimulationConfig(data="blobs", test_size=10_000, init_size=3, budget=12)
    assert sim.check_sizes(config, np.asarray(data.labels)) == int(0.3 * len(data))


def test_oracle_never_sees_test_labels(data, config) -> None:
    split = sim.prepare_seed(data, "raw", n_test=30, seed=1)
    oracle = sim.Oracle(split.y_pool)
    run = sim.simulate_run(split, "margin", config, oracle)
    assert len(oracle.asked) == config.budget == run["labels"][-1]
    assert max(oracle.asked) < split.y_pool.size  # positions into the pool only
    with pytest.raises(IndexError):
        oracle.label(np.array([split.y_pool.size]))
    # Garbage test labels change the scores, never the choices.
    poisoned = dataclasses.replace(split, y_test=np.full(split.y_test.size, "c0"))
    spy = sim.Oracle(split.y_pool)
    sim.simulate_run(poisoned, "margin", config, spy)
    assert spy.asked == oracle.asked


def test_curves_have_one_point_per_round(data, config) -> None:
    results = sim.run_simulation(config, data=data, progress=False)
    assert [(r["strategy"], r["seed"]) for r in results["runs"]] == [
        ("random", 0), ("random", 1), ("margin", 0), ("margin", 1)
    ]  # fmt: skip
    for run in results["runs"]:
        assert run["labels"] == [3, 6, 9, 12]
        assert len(run["accuracy"]) == len(run["macro_f1"]) == len(run["query_seconds"]) == 4
        assert run["query_seconds"][0] == 0.0
        assert all(0.0 <= a <= 1.0 for a in run["accuracy"] + run["macro_f1"])
    by_seed = {}
    for run in results["runs"]:  # paired: the same initial set -> the same first point
        by_seed.setdefault(run["seed"], set()).add(run["accuracy"][0])
    assert all(len(first) == 1 for first in by_seed.values())
    assert results["config"]["n_test"] == 30 and results["config"]["features"] == "raw"


def test_same_seed_same_curves_and_jobs_do_not_matter(data, config) -> None:
    config = dataclasses.replace(
        config, learner="protonet", strategies=("random", "hybrid"), seeds=1, budget=9
    )
    one = sim.run_simulation(config, data=data, jobs=1, progress=False)
    again = sim.run_simulation(config, data=data, jobs=1, progress=False)
    two = sim.run_simulation(config, data=data, jobs=2, progress=False)  # other processes

    def curves(results):
        return [(r["strategy"], r["seed"], r["labels"], r["accuracy"], r["macro_f1"])
                for r in results["runs"]]  # fmt: skip

    assert curves(one) == curves(again) == curves(two)
    assert one["summary"] == two["summary"]


def test_progress_callback_counts_runs(data, config) -> None:
    seen = []
    sim.run_simulation(config, data=data, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


# -- summary -----------------------------------------------------------------------------------


def test_aulc_is_the_mean_accuracy_over_the_points() -> None:
    assert sim.aulc([0.5, 0.7, 0.9]) == pytest.approx(0.7)


def test_summary_arithmetic_on_a_hand_example() -> None:
    runs = [
        _run("random", 0, [0.5, 0.6, 0.7]),  # AULC 0.6
        _run("random", 1, [0.5, 0.7, 0.9]),  # AULC 0.7 -> random's mean final accuracy 0.8
        _run("margin", 1, [0.5, 0.9, 0.9]),  # AULC 0.7667 (listed out of seed order)
        _run("margin", 0, [0.5, 0.7, 0.85]),  # AULC 0.6833; mean curve 0.5, 0.8, 0.875
    ]
    summary = sim.summarize(runs, ["margin", "random"])
    assert list(summary) == ["margin", "random"]
    margin, random = summary["margin"], summary["random"]
    assert random["aulc_mean"] == pytest.approx(0.65)
    assert random["aulc_std"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    assert random["final_accuracy_mean"] == pytest.approx(0.8)
    assert margin["aulc_mean"] == pytest.approx((2.3 / 3 + 2.05 / 3) / 2)
    assert margin["final_accuracy_mean"] == pytest.approx(0.875)
    assert margin["label_savings"] == 20  # the mean curve reaches 0.8 at the second point
    assert random["label_savings"] == 30
    assert random["p_vs_random"] is None and margin["n"] == random["n"] == 2


def test_p_vs_random_is_the_paired_t_test_over_seeds() -> None:
    random = [[0.5, 0.5], [0.6, 0.6], [0.7, 0.7]]
    gains = [0.1, 0.2, 0.4]  # per seed; listed in reverse seed order below
    runs = [_run("random", s, acc) for s, acc in enumerate(random)]
    runs += [_run("margin", s, [a + gains[s] for a in random[s]]) for s in (2, 1, 0)]
    p = sim.summarize(runs, ["random", "margin"])["margin"]["p_vs_random"]
    t = np.mean(gains) / (np.std(gains, ddof=1) / np.sqrt(3))
    assert p == pytest.approx(2 * stats.t.sf(t, df=2))


def test_without_random_there_is_nothing_to_pair_with() -> None:
    runs = [_run("margin", 0, [0.5, 0.6]), _run("margin", 1, [0.5, 0.8])]
    summary = sim.summarize(runs, ["margin"])
    assert set(summary) == {"margin"}
    assert summary["margin"]["p_vs_random"] is None and summary["margin"]["label_savings"] is None


def test_summary_keys_are_exactly_the_strategies_asked(data, config) -> None:
    config = dataclasses.replace(config, strategies=("margin", "entropy"), seeds=1)
    results = sim.run_simulation(config, data=data, progress=False)
    assert list(results["summary"]) == ["margin", "entropy"]
    assert set(results["summary"]["margin"]) == {
        "aulc_mean", "aulc_std", "final_accuracy_mean", "label_savings", "p_vs_random", "n"
    }  # fmt: skip
    assert set(results) == {"config", "runs", "summary"}


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategies": ("random", "magic")}, "unknown strategy 'magic'"),
        ({"strategies": ()}, "no strategy"),
        ({"learner": "svm"}, "unknown learner"),
        ({"budget": 2}, "below --init-size"),
        ({"seeds": 0}, "--seeds must be at least 1"),
        ({"init_size": 2, "budget": 12}, "below the 3 classes"),
        ({"test_size": 2}, "cannot hold all 3 classes"),
        ({"init_size": -1}, "--init-size must be 0"),
        ({"budget": 500}, "exceeds the pool"),
    ],
)
def test_bad_configurations_raise_one_clear_error(data, config, change, message) -> None:
    with pytest.raises(SimulationError, match=message.replace("(", r"\(")):
        sim.run_simulation(dataclasses.replace(config, **change), data=data, progress=False)


def test_data_without_ground_truth_or_with_one_class_is_refused(config) -> None:
    unlabelled = dataclasses.replace(blobs(), labels=None)
    with pytest.raises(SimulationError, match="no ground-truth labels"):
        sim.run_simulation(config, data=unlabelled, progress=False)
    one_class = blobs(n_classes=1)
    with pytest.raises(SimulationError, match="fewer than 2 classes"):
        sim.run_simulation(config, data=one_class, progress=False)


def test_plot_is_a_png(data, config) -> None:
    results = sim.run_simulation(config, data=data, progress=False)
    png = sim.curves_png(results)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rows = sim.mean_curves(results)
    assert len(rows) == 2 * 4 and {r["strategy"] for r in rows} == {"random", "margin"}


def test_strategy_spec_reads_settings_beyond_the_defaults():
    from annotator.simulation import SimulationError, strategy_spec

    assert strategy_spec("margin") == ("margin", {})
    assert strategy_spec("hybrid:candidate_factor=5") == ("hybrid", {"candidate_factor": 5})
    assert strategy_spec("auto:warm=margin;switch_per_class=3") == (
        "auto",
        {"warm": "margin", "switch_per_class": 3},
    )
    with pytest.raises(SimulationError, match="key=value"):
        strategy_spec("hybrid:5")


def test_init_size_zero_runs_the_apps_cold_start(data, config) -> None:
    """Every label from the planner; the cold start (typicality without a model) as the app
    does it; no model, and a one-class score, until two classes are labelled."""
    from annotator.loop.planning import choose_batch

    cold = dataclasses.replace(config, init_size=0, batch=2, budget=8)
    split = sim.prepare_seed(data, "raw", n_test=30, seed=0)
    oracle = sim.Oracle(split.y_pool)
    run = sim.simulate_run(split, "margin", cold, oracle)
    assert run["labels"] == [2, 4, 6, 8] and len(oracle.asked) == 8
    first = choose_batch(
        "margin", 2, split.X_pool, np.arange(split.y_pool.size), np.empty(0, np.int64), None,
        None, n_classes=3, rng=np.random.default_rng([0, zlib.crc32(b"margin")]),
    )  # fmt: skip
    assert first.strategy == "typicality" and oracle.asked[:2] == first.rows.tolist()
    seen = split.y_pool[oracle.asked[:2]]
    if np.unique(seen).size == 1:  # scored as predicting the one class seen
        assert run["accuracy"][0] == pytest.approx(np.mean(split.y_test == seen[0]))


def test_without_a_model_the_score_is_predicting_the_one_class_seen(data) -> None:
    split = sim.prepare_seed(data, "raw", n_test=30, seed=0)
    accuracy, macro_f1 = engine._score(None, split, np.array(["c1", "c1"]))
    assert accuracy == pytest.approx(np.mean(split.y_test == "c1")) and 0 < macro_f1 < 1


def _texts(n_per_class: int = 15) -> ImportedData:
    words = {"c0": "apple pear plum", "c1": "train bus tram", "c2": "oak elm ash"}
    labels = [c for c in words for _ in range(n_per_class)]
    return ImportedData(
        kind="text",
        source="texts",
        ids=[f"t{i}" for i in range(len(labels))],
        texts=[f"{words[c]} {i}" for i, c in enumerate(labels)],
        labels=labels,
    )


def test_a_pretrained_featurizer_embeds_every_item_once_for_all_seeds(monkeypatch) -> None:
    """A stateless featurizer's vectors do not depend on the pool it was fitted on, so the
    seeds share one pass (it was one pass per seed: minutes per seed for images)."""
    embedded: list[int] = []

    def fake_minilm(self, data, progress):  # a deterministic stand-in for the model
        embedded.append(len(data))
        codes = [zlib.crc32(t.encode()) for t in data.texts]
        return np.stack([np.random.default_rng(c).normal(size=self.dim) for c in codes])

    monkeypatch.setattr(featurizers.MiniLM, "_transform", fake_minilm)
    data = _texts()
    config = SimulationConfig(
        data="texts", strategies=("random",), seeds=3, init_size=3, batch=3, budget=9,
        test_size=9, learner="logreg", features="minilm",
    )  # fmt: skip
    result = sim.run_simulation(config, data=data, progress=False)
    assert embedded == [len(data)] and len(result["runs"]) == 3
    shared = sim.featurize_all(data, "minilm")
    for seed in range(3):
        own = sim.prepare_seed(data, "minilm", 9, seed)  # fitted on this seed's pool
        same = sim.prepare_seed(data, "minilm", 9, seed, features=shared)
        np.testing.assert_array_equal(own.X_pool, same.X_pool)
        np.testing.assert_array_equal(own.X_test, same.X_test)
        np.testing.assert_array_equal(own.y_pool, same.y_pool)
    assert sim.featurize_all(blobs(), "raw") is None  # fitted per pool: stays per seed
    # minilm+tfidf: the MiniLM half is shared, the tfidf half still fitted on each seed's pool
    embedded.clear()
    np.testing.assert_array_equal(sim.featurize_all(data, "minilm+tfidf"), shared)
    for seed in range(3):
        own = sim.prepare_seed(data, "minilm+tfidf", 9, seed)
        same = sim.prepare_seed(data, "minilm+tfidf", 9, seed, features=shared)
        np.testing.assert_allclose(own.X_pool, same.X_pool, atol=1e-6)
        np.testing.assert_allclose(own.X_test, same.X_test, atol=1e-6)
    assert embedded == [len(data)] + [len(data) - 9, 9] * 3  # once shared, once per own split


def _named_texts(names: list[str], n_per_class: int = 20) -> ImportedData:
    """Texts that each hold their class's name among other words of the class."""
    extra = [["red", "green", "blue"], ["north", "south", "east"], ["one", "two", "three"]]
    labels = [name for name in names for _ in range(n_per_class)]
    texts = [f"{name} {extra[names.index(name)][i % 3]} item{i}" for i, name in enumerate(labels)]
    ids = [f"t{i}" for i in range(len(labels))]
    return ImportedData(kind="text", source="named", ids=ids, texts=texts, labels=labels)


def test_zero_shot_gives_a_model_from_the_class_names_before_any_label() -> None:
    """With names that carry meaning, the first round is chosen by (and the first point scored
    with) the prototypes of the names; without, or with --no-zero-shot, as before."""
    data = _named_texts(["animal", "fruit", "vehicle"])
    config = SimulationConfig(
        data="named", strategies=("margin",), seeds=1, init_size=0, batch=3, budget=6,
        test_size=15, features="tfidf", learner_params={"max_steps": 5},
    )  # fmt: skip
    split = sim.prepare_seed(data, "tfidf", 15, 0, zero_shot=True)
    assert sorted(split.priors) == ["animal", "fruit", "vehicle"]
    assert all(row.shape == (split.X_pool.shape[1],) for row in split.priors.values())
    from meta import ProtoNetClassifier

    zero = ProtoNetClassifier(random_state=0).fit(
        np.empty((0, split.X_pool.shape[1])), [], priors=split.priors
    )
    assert np.mean(zero.predict(split.X_test) == split.y_test) == 1.0  # the name is in the text
    run = sim.simulate_run(split, "margin", config)
    assert run["accuracy"][0] == 1.0
    result = sim.run_simulation(config, data=data, progress=False)
    assert result["config"]["zero_shot_used"] and result["config"]["zero_shot_template"]
    off = sim.run_simulation(
        dataclasses.replace(config, zero_shot=False), data=data, progress=False
    )
    assert not off["config"]["zero_shot_used"] and off["config"]["zero_shot_template"] is None
    assert sim.prepare_seed(data, "tfidf", 15, 0).priors is None  # zero_shot defaults to off
    numbered = _named_texts(["1", "2", "3"])
    assert sim.prepare_seed(numbered, "tfidf", 15, 0, zero_shot=True).priors is None
