"""Agreement statistics against hand-computed examples, and the final label of an item."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.agreement import (
    SOURCE_ADJUDICATED,
    SOURCE_MAJORITY,
    SOURCE_SINGLE,
    Vote,
    agreement_report,
    agreement_with_majority,
    cohen_pairs,
    final_label,
    fleiss,
    krippendorff_alpha,
)


def _pairs(a: list[str], b: list[str]) -> list[tuple[int, str, str]]:
    return [(i, "a", x) for i, x in enumerate(a)] + [(i, "b", y) for i, y in enumerate(b)]


# --------------------------------------------------------------------------------------------
# Cohen


def test_cohen_two_by_two_by_hand() -> None:
    # Wikipedia's worked example, 50 items:      b yes  b no
    #                                     a yes   20     5     (a: 25 yes, 25 no)
    #                                     a no    10    15     (b: 30 yes, 20 no)
    # p_o = (20 + 15) / 50 = 0.7
    # p_e = (25/50)(30/50) + (25/50)(20/50) = 0.3 + 0.2 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    (pair,) = cohen_pairs(_pairs(a, b))
    assert (pair.annotator_a, pair.annotator_b, pair.n_items) == ("a", "b", 50)
    assert pair.observed == pytest.approx(0.7)
    assert pair.kappa == pytest.approx(0.4)


def test_cohen_uses_only_items_both_labelled() -> None:
    # a labels items 0-3, b labels 2-5: shared items 2 and 3, where a = (x, y), b = (x, x)
    # p_o = 1/2; a: 1 x 1 y, b: 2 x -> p_e = (1/2)(1) + (1/2)(0) = 1/2 -> kappa 0
    triples = [(0, "a", "x"), (1, "a", "x"), (2, "a", "x"), (3, "a", "y")]
    triples += [(2, "b", "x"), (3, "b", "x"), (4, "b", "y"), (5, "b", "y")]
    (pair,) = cohen_pairs(triples)
    assert pair.n_items == 2
    assert pair.kappa == pytest.approx(0.0)


def test_cohen_degenerate_cases_are_none_with_a_reason() -> None:
    no_overlap = cohen_pairs([(0, "a", "x"), (1, "b", "y")])
    assert no_overlap[0].kappa is None and "both" in no_overlap[0].reason
    single = cohen_pairs(_pairs(["x"] * 3, ["x"] * 3))
    assert single[0].kappa is None and single[0].observed == 1.0
    assert "single category" in single[0].reason
    assert cohen_pairs([(0, "a", "x"), (1, "a", "y")]) == []  # one annotator: no pair


# --------------------------------------------------------------------------------------------
# Fleiss

# Wikipedia's worked example ("Fleiss' kappa"): 10 subjects, 14 raters each, 5 categories;
# each row: how many raters put the subject in each category.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _fleiss_triples(table: list[list[int]]) -> list[tuple[int, str, str]]:
    triples = []
    for item, counts in enumerate(table):
        rater = 0
        for category, count in enumerate(counts):
            for _ in range(count):
                triples.append((item, f"r{rater}", f"c{category}"))
                rater += 1
    return triples


def test_fleiss_wikipedia_example_by_hand() -> None:
    n, m = 10, 14
    # P_i = (sum_j n_ij^2 - m) / (m (m - 1)); P_bar = mean P_i
    p_i = [(sum(c * c for c in row) - m) / (m * (m - 1)) for row in FLEISS_TABLE]
    p_bar = sum(p_i) / n
    # p_j = column total / (n m); P_e = sum_j p_j^2
    p_j = [sum(row[j] for row in FLEISS_TABLE) / (n * m) for j in range(5)]
    p_e = sum(p * p for p in p_j)
    assert p_bar == pytest.approx(0.378, abs=5e-4)  # the values Wikipedia prints
    assert p_e == pytest.approx(0.213, abs=5e-4)
    stat, raters = fleiss(_fleiss_triples(FLEISS_TABLE))
    assert raters == m and stat.n_items == n
    assert stat.value == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert stat.value == pytest.approx(0.210, abs=5e-4)


def test_fleiss_uses_the_most_common_number_of_labels() -> None:
    # three items with 2 labels, one with 3 and one with 1: Fleiss uses the three with 2.
    # items: (x, x), (x, y), (y, y): P_i = 1, 0, 1 -> P_bar = 2/3; p_x = p_y = 1/2 -> P_e = 1/2
    # kappa = (2/3 - 1/2) / (1/2) = 1/3
    triples = [(0, "a", "x"), (0, "b", "x"), (1, "a", "x"), (1, "b", "y")]
    triples += [(2, "a", "y"), (2, "c", "y"), (3, "a", "x"), (3, "b", "y"), (3, "c", "y")]
    triples += [(4, "a", "x")]
    stat, raters = fleiss(triples)
    assert raters == 2 and stat.n_items == 3
    assert stat.value == pytest.approx(1 / 3)


def test_fleiss_degenerate_cases() -> None:
    stat, raters = fleiss([(0, "a", "x"), (1, "a", "y")])
    assert stat.value is None and raters is None and "two annotators" in stat.reason
    stat, _ = fleiss([(0, "a", "x"), (0, "b", "x"), (1, "a", "x"), (1, "b", "x")])
    assert stat.value is None and stat.n_items == 2 and "single category" in stat.reason


# --------------------------------------------------------------------------------------------
# Krippendorff


def test_krippendorff_nominal_by_hand() -> None:
    # two coders, four pairable units: a = (x, x, y, y), b = (x, x, y, x); unit 4 has only a's
    # label and is not pairable. Coincidence matrix (each pairable unit adds its m_u (m_u - 1)
    # ordered pairs with weight 1 / (m_u - 1) = 1):
    #   o_xx = 2 + 2 = 4, o_yy = 2, o_xy = o_yx = 1 -> n_x = 5, n_y = 3, n = 8
    # alpha = 1 - (n - 1) * (o_xy + o_yx) / (n_x n_y + n_y n_x) = 1 - 7 * 2 / 30 = 8/15
    triples = [(0, "a", "x"), (1, "a", "x"), (2, "a", "y"), (3, "a", "y"), (4, "a", "y")]
    triples += [(0, "b", "x"), (1, "b", "x"), (2, "b", "y"), (3, "b", "x")]
    stat = krippendorff_alpha(triples)
    assert stat.n_items == 4
    assert stat.value == pytest.approx(8 / 15)


def test_krippendorff_package_example_with_missing_values() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal data with
    # missing values (the example in the krippendorff package docs): alpha = 0.691358
    rows = {
        "A": [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
        "B": [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
        "C": [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
    }
    triples = [
        (unit, coder, str(value))
        for coder, values in rows.items()
        for unit, value in enumerate(values)
        if value is not None
    ]
    assert krippendorff_alpha(triples).value == pytest.approx(0.691358, abs=1e-6)


def test_krippendorff_degenerate_cases() -> None:
    assert krippendorff_alpha([(0, "a", "x")]).value is None
    stat = krippendorff_alpha([(0, "a", "x"), (0, "b", "x")])
    assert stat.value is None and "single category" in stat.reason


# --------------------------------------------------------------------------------------------
# Agreement with the majority of the others


def test_leave_self_out_majority() -> None:
    # item 0: a x, b x, c y -> a vs {x, y}: tie, not compared; b vs {x, y}: tie; c vs {x, x}: no
    # item 1: a x, b x, c x, d y -> a, b, c vs majority x: yes; d vs x: no
    # item 2: a y only -> nobody to compare with
    triples = [(0, "a", "x"), (0, "b", "x"), (0, "c", "y")]
    triples += [(1, "a", "x"), (1, "b", "x"), (1, "c", "x"), (1, "d", "y"), (2, "a", "y")]
    got = {r.annotator: r for r in agreement_with_majority(triples)}
    assert (got["a"].n_labels, got["a"].n_compared, got["a"].agreement) == (3, 1, 1.0)
    assert (got["c"].n_compared, got["c"].agreement) == (2, 0.5)
    assert (got["d"].n_compared, got["d"].agreement) == (1, 0.0)
    alone = agreement_with_majority([(0, "a", "x")])
    assert alone[0].agreement is None and alone[0].reason


def test_report_counts_and_single_annotator() -> None:
    report = agreement_report([(0, "a", "x"), (1, "a", "y"), (1, "a", None)])
    assert (report.n_items, report.n_overlap, report.n_annotators) == (2, 0, 1)
    assert report.pairs == [] and report.fleiss.value is None and report.alpha.value is None
    empty = agreement_report([])
    assert empty.n_items == 0 and empty.fleiss.value is None


# --------------------------------------------------------------------------------------------
# Properties

labels = st.sampled_from(["x", "y", "z"])


@settings(max_examples=40, deadline=None)
@given(
    truth=st.lists(labels, min_size=2, max_size=30).filter(lambda t: len(set(t)) > 1),
    n_raters=st.integers(2, 5),
)
def test_perfect_agreement_is_one(truth: list[str], n_raters: int) -> None:
    triples = [(i, f"r{r}", lab) for r in range(n_raters) for i, lab in enumerate(truth)]
    report = agreement_report(triples)
    assert all(p.kappa == pytest.approx(1.0) for p in report.pairs)
    assert report.fleiss.value == pytest.approx(1.0)
    assert report.alpha.value == pytest.approx(1.0)
    assert all(a.agreement == 1.0 for a in report.annotators if a.n_compared)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 8), st.sampled_from(["a", "b", "c"]), labels), max_size=40)
)
def test_never_nan_and_in_range(triples: list[tuple[int, str, str]]) -> None:
    report = agreement_report(triples)
    values = [p.kappa for p in report.pairs] + [report.fleiss.value, report.alpha.value]
    values += [a.agreement for a in report.annotators]
    for value in values:
        if value is not None:
            assert math.isfinite(value) and -1.0 - 1e-9 <= value <= 1.0 + 1e-9
    undefined = [p for p in report.pairs if p.kappa is None]
    assert all(p.reason for p in undefined)


# --------------------------------------------------------------------------------------------
# Final label


def test_final_label_single_majority_tie_and_adjudication() -> None:
    single = final_label([Vote("a", "x", 1)])
    assert (single.label, single.source, single.n_annotators, single.agreement) == (
        "x", SOURCE_SINGLE, 1, 1.0,
    )  # fmt: skip
    assert not single.disagreement
    majority = final_label([Vote("a", "x", 1), Vote("b", "y", 2), Vote("c", "x", 3)])
    assert (majority.label, majority.source, majority.disagreement) == ("x", SOURCE_MAJORITY, True)
    assert majority.agreement == pytest.approx(2 / 3)
    tie = final_label([Vote("a", "y", 5), Vote("b", "x", 9)])
    assert (tie.label, tie.source) == (None, "split")  # labelling last does not win a tie
    assert tie.disagreement and tie.n_annotators == 2
    judged = final_label([Vote("a", "x", 1), Vote("b", "y", 2)], adjudicated="z")
    assert (judged.label, judged.source, judged.agreement) == ("z", SOURCE_ADJUDICATED, 0.0)
    assert judged.votes == {"a": "x", "b": "y"}


def test_final_label_skips_abstain() -> None:
    skipped = final_label([Vote("a", None, 1)])
    assert skipped.label is None and skipped.source is None and skipped.n_annotators == 0
    mixed = final_label([Vote("a", "x", 1), Vote("b", None, 2)])
    assert (mixed.label, mixed.source, mixed.n_annotators) == ("x", SOURCE_SINGLE, 1)
    assert final_label([Vote("a", None, 1)], adjudicated="y").label == "y"
