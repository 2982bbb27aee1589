"""The label-efficiency suite's split and draws (bench/suite_data.py, issue 14)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_committed_split_is_the_seeded_draw(suite):
    assert suite.committed_split() == suite.draw_split()


def test_halves_are_disjoint_cover_every_set_and_hold_each_kind(suite):
    halves = suite.committed_split()
    tuning, reporting = set(halves["tuning"]), set(halves["reporting"])
    assert not tuning & reporting
    assert tuning | reporting == set(suite.SETS)
    assert len(suite.SETS) >= 13
    for names in (tuning, reporting):
        kinds = [suite.SETS[n].kind for n in names]
        for kind, least in suite.MIN_PER_HALF.items():
            assert kinds.count(kind) >= least


def test_sets_seen_before_are_never_reported(suite):
    assert set(suite.SEEN_BEFORE) <= set(suite.committed_split()["tuning"])


def test_draw_is_stratified_seeded_and_drops_rare_classes(suite):
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 30 + ["rare"] * 5
    table = pd.DataFrame({"label": labels, "x": np.arange(len(labels))})
    first = suite.draw(table, 400, seed=1)
    assert first.equals(suite.draw(table, 400, seed=1))
    assert not first.equals(suite.draw(table, 400, seed=2))
    counts = first["label"].value_counts()
    assert "rare" not in counts  # 2 of 5 in the draw: under MIN_PER_CLASS
    assert abs(counts["a"] - 400 * 600 / 935) <= 1 and abs(counts["b"] - 400 * 300 / 935) <= 1
    assert list(first.index) == sorted(first.index)  # original order, ids = positions
    everything = suite.draw(table, None)
    assert len(everything) == 930 and "rare" not in set(everything["label"])


def test_variants_by_size(suite):
    names = lambda size: [v.name for v in suite.variants("letter", size)]  # noqa: E731
    assert names(20_000) == ["letter@1500", "letter@5500"]
    assert names(4_000) == ["letter@1500", "letter@all"]
    assert names(2_000) == ["letter@1500"]
    assert names(1_200) == ["letter@all"]
