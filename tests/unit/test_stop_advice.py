"""Stopping advice (stabilizing predictions) against hand-computed kappas."""

from __future__ import annotations

import pytest

from annotator.model_report import KAPPA_THRESHOLD, STOP_WINDOW, kappa, stop_advice


def test_kappa_by_hand() -> None:
    # 10 items; a and b disagree on items 4 and 5 only: observed p_o = 0.8.
    # a: 5 x, 5 y; b: 5 x, 5 y -> chance p_e = 0.5 * 0.5 + 0.5 * 0.5 = 0.5
    # kappa = (0.8 - 0.5) / (1 - 0.5) = 0.6
    a = ["x"] * 5 + ["y"] * 5
    b = ["x"] * 4 + ["y", "x"] + ["y"] * 4
    assert kappa(a, b) == pytest.approx(0.6)
    # unbalanced chance: c has 7 x, 3 y and agrees with a on 8 (items 5 and 6 differ)
    # p_e = 0.5 * 0.7 + 0.5 * 0.3 = 0.5 -> kappa 0.6 again; d: 8 x, 2 y, agrees on 7
    # p_o = 0.7, p_e = 0.5 * 0.8 + 0.5 * 0.2 = 0.5 -> kappa 0.4
    c = ["x"] * 7 + ["y"] * 3
    d = ["x"] * 8 + ["y"] * 2
    assert kappa(a, c) == pytest.approx(0.6)
    assert kappa(a, d) == pytest.approx(0.4)


def test_identical_single_class_predictions_agree_perfectly() -> None:
    assert kappa(["x"] * 4, ["x"] * 4) == 1.0


def test_advice_needs_three_successive_kappas_at_threshold() -> None:
    base = ["x"] * 50 + ["y"] * 50
    one_flip = ["y"] + base[1:]  # 99/100 agree
    # kappa(base, one_flip): p_o = 0.99; a: 50/50, b: 49 x / 51 y
    # p_e = 0.5 * 0.49 + 0.5 * 0.51 = 0.5 -> kappa = (0.99 - 0.5) / 0.5 = 0.98 < 0.99
    assert kappa(base, one_flip) == pytest.approx(0.98)
    versions = [1, 2, 3, 4, 5]
    predictions = [base, one_flip, one_flip, one_flip, one_flip]
    advice = stop_advice(versions, predictions)
    assert advice.kappas == pytest.approx([0.98, 1.0, 1.0, 1.0])
    assert advice.stop and advice.sentence.startswith("You can stop")
    assert (advice.threshold, advice.window) == (KAPPA_THRESHOLD, STOP_WINDOW) == (0.99, 3)


def test_advice_resets_when_a_retrain_changes_predictions() -> None:
    base = ["x"] * 50 + ["y"] * 50
    one_flip = ["y"] + base[1:]
    advice = stop_advice([1, 2, 3, 4, 5], [base, base, base, one_flip, one_flip])
    assert advice.kappas == pytest.approx([1.0, 1.0, 0.98, 1.0])
    assert not advice.stop
    assert "latest kappa 1.000" in advice.sentence and "2 more to go" in advice.sentence


def test_advice_before_enough_versions() -> None:
    assert stop_advice([], []).sentence.startswith("No model yet")
    early = stop_advice([1, 2], [["x", "y"], ["x", "y"]])
    assert not early.stop and "needs 4" in early.sentence


def test_threshold_and_window_are_parameters() -> None:
    base = ["x"] * 50 + ["y"] * 50
    one_flip = ["y"] + base[1:]
    advice = stop_advice([1, 2, 3], [base, one_flip, one_flip], threshold=0.95, window=2)
    assert advice.stop


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="2 versions but 1"):
        stop_advice([1, 2], [["x"]])
