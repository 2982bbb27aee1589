"""The suite's statistics (bench/label_efficiency.py): AULC prefixes, Holm, outcomes, ranks."""

from __future__ import annotations

import numpy as np
import pytest


def holm_by_hand(p):
    """Holm (1979) step-down, written out: sort, multiply by (m - rank), running max, cap 1."""
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_holm_matches_the_step_down_procedure(le):
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 9))
        assert np.allclose(le.holm(list(p)), holm_by_hand(p))
    assert le.holm([None, 0.01, None, 0.04]) == [None, 0.02, None, 0.04]


def test_aulc_at_reads_the_prefix_of_one_long_run(le):
    run = {"labels": [10, 20, 30, 40], "accuracy": [0.1, 0.2, 0.3, 0.8]}
    assert le.aulc_at(run, 30) == pytest.approx(0.2)
    assert le.aulc_at(run, 35) == pytest.approx(0.2)
    assert le.aulc_at(run, 40) == pytest.approx(0.35)


def test_outcome_needs_an_adjusted_p_below_alpha(le):
    assert le.outcome(0.03, 0.01) == "win"
    assert le.outcome(-0.03, 0.01) == "loss"
    assert le.outcome(0.03, 0.2) == "tie"
    assert le.outcome(0.03, None) == "tie"


def curves_for(offsets: dict[str, float], seeds: int = 6, noise: float = 0.01, seed: int = 0):
    """Synthetic curves: arm accuracy = base + offset + noise per seed."""
    rng = np.random.default_rng(seed)
    labels = [10, 20, 30]
    out = {}
    for arm, offset in offsets.items():
        out[arm] = [
            {"labels": labels, "accuracy": list(0.5 + offset + rng.normal(0, noise, 3) + s * 0.01)}
            for s in range(seeds)
        ]
    return out


def test_budget_table_finds_a_clear_win_and_a_clear_loss(le):
    names = ["random", "auto", "margin", "lr+random", "lr+margin"]
    curves = {
        "a@1500": curves_for(
            {"random": 0, "auto": 0.1, "margin": -0.1, "lr+random": 0, "lr+margin": 0.1}
        ),
        "b@1500": curves_for(
            {"random": 0, "auto": 0.1, "margin": 0.0, "lr+random": 0, "lr+margin": 0.05}, seed=1
        ),
    }
    table = le.budget_table(curves, 30, names)
    versus = table["versus"]["random"]
    assert versus["auto"]["outcome"] == {"a@1500": "win", "b@1500": "win"}
    assert versus["margin"]["outcome"]["a@1500"] == "loss"
    assert versus["margin"]["outcome"]["b@1500"] == "tie"
    assert (versus["auto"]["wins"], versus["auto"]["ties"], versus["auto"]["losses"]) == (2, 0, 0)
    assert table["rank"]["margin"] > table["rank"]["auto"]
    assert table["mean"]["auto"] == pytest.approx(table["mean"]["random"] + 0.1, abs=0.02)
    verdict = le.targets(table, ["random", "auto", "margin"])
    assert verdict["auto_never_significantly_worse_than_random"]
    assert verdict["auto_mean_gain_ge_0.02"]
    assert verdict["auto_ge_lr_margin_on_average"]
    text = le.markdown(table, names)
    assert "| a@1500 |" in text and "W/T/L vs lr+margin" in text and "*+" in text


def test_run_keys_change_with_the_protocol_and_the_learner_code(le):
    from annotator.simulation import SimulationConfig

    config = SimulationConfig(data="x", init_size=2, budget=500)
    arm = le.Arm("auto", "protonet", "auto")
    key = le.run_key("cells@1500", arm, 0, config)
    assert key == le.run_key("cells@1500", arm, 0, config)
    assert key != le.run_key("cells@1500", arm, 1, config)
    assert key != le.run_key(
        "cells@1500", arm, 0, SimulationConfig(data="x", init_size=2, budget=200)
    )
    other = SimulationConfig(data="x", init_size=2, budget=500, learner_params={"max_steps": 5})
    assert key != le.run_key("cells@1500", arm, 0, other)
    lr = le.Arm("lr+margin", "logreg", "margin")  # learner settings of protonet do not touch LR
    assert le.run_key("cells@1500", lr, 0, config) == le.run_key("cells@1500", lr, 0, other)
    assert le.code_hash("protonet") != le.code_hash("logreg")


def test_learner_params_reach_protonet_runs_only(le, monkeypatch, tmp_path):
    """``--learner-params`` are ProtoNet settings: the LR arms of the same run get none (they
    once reached LogisticRegression as unknown keywords)."""
    from annotator.simulation import SimulationConfig

    seen = {}

    def fake_run(split, strategy, config):
        seen[config.learner] = config.learner_params
        return {"labels": [], "accuracy": []}

    monkeypatch.setattr(le.simulation, "simulate_run", fake_run)
    config = SimulationConfig(data="x", init_size=2, learner_params={"max_steps": 5})
    le._task(None, le.Arm("lr+margin", "logreg", "margin"), config, str(tmp_path / "lr.json"))
    le._task(None, le.Arm("margin", "protonet", "margin"), config, str(tmp_path / "pn.json"))
    assert seen == {"logreg": {}, "protonet": {"max_steps": 5}}


def test_a_strategy_run_depends_on_its_own_modules_only(le):
    assert le.strategy_files("random") == ["strategies/base.py", "strategies/random_sampling.py"]
    auto = le.strategy_files("auto")
    assert {"strategies/hybrid.py", "strategies/typicality.py", "strategies/coreset.py",
            "strategies/uncertainty.py", "strategies/base.py"} <= set(auto)  # fmt: skip
    assert "strategies/bald.py" not in le.strategy_files("hybrid")
    assert le.code_hash("protonet", "margin") != le.code_hash("protonet", "auto")


def test_features_option_names_a_featurizer_per_kind(le):
    assert le.parse_features(None) == {}
    assert le.parse_features("text=auto") == {}  # the app's own choice
    assert le.parse_features(" image=EfficientNet , text=minilm,tabular=raw") == {
        "image": "efficientnet",
        "text": "minilm",
        "features": "raw",
    }
    for bad, says in [
        ("efficientnet", "write KIND=NAME"),
        ("photo=efficientnet", "write KIND=NAME"),
        ("text=pixels", "for text data choose"),
        ("image=bert", "unknown featurizer 'bert'"),
    ]:
        with pytest.raises(SystemExit, match=says):
            le.parse_features(bad)


def test_a_pretrained_models_vectors_are_kept_and_others_are_not(le, monkeypatch, tmp_path):
    from annotator import simulation

    monkeypatch.setattr(le.suite_data, "CACHE", tmp_path)
    calls = []

    def featurize_all(data, featurizer, progress=False):
        calls.append(featurizer)
        return np.arange(6, dtype=np.float32).reshape(3, 2)

    monkeypatch.setattr(simulation, "featurize_all", featurize_all)
    variant = le.suite_data.Variant(le.suite_data.SETS["austen"], 1500)
    first = le.shared_features(variant, [0, 1, 2], "minilm")
    again = le.shared_features(variant, [0, 1, 2], "minilm")
    assert calls == ["minilm"]  # the second read comes from the cache
    np.testing.assert_array_equal(first, again)
    assert len(list((tmp_path / "features").glob("austen@1500-minilm-*.npy"))) == 1
    assert le.shared_features(variant, None, "tfidf") is None  # fitted per seed
    assert calls == ["minilm"]
    both = le.shared_features(variant, [0, 1, 2], "minilm+tfidf")  # its MiniLM half: cached
    np.testing.assert_array_equal(both, first)
    assert calls == ["minilm"]
