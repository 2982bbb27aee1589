"""Label sets: explicit wins, else natural-sorted ground truth; every invalid set is refused."""

from __future__ import annotations

import pytest

from annotator.errors import LabelError
from annotator.io.labels import (
    check_label_name,
    check_labels_in_set,
    natural_key,
    parse_labels,
    resolve_label_set,
)


def test_explicit_wins_in_its_order() -> None:
    assert resolve_label_set(["b", None, "a"], "c, b,a") == ["c", "b", "a"]
    assert resolve_label_set(None, ["x", "y"]) == ["x", "y"]


def test_ground_truth_in_natural_order() -> None:
    assert resolve_label_set(["10", "2", None, "1", "2"], None) == ["1", "2", "10"]
    assert resolve_label_set(["b", "A", "a10", "a9"], None) == ["A", "a9", "a10", "b"]


def test_empty_explicit_string_means_not_given() -> None:
    assert resolve_label_set(["neg", "pos"], "") == ["neg", "pos"]


def test_natural_key_is_total() -> None:
    labels = ["x1", "1x", "1", "01", "a", "A", "", "10", "x01"]
    assert sorted(labels, key=natural_key) == sorted(
        sorted(labels, key=natural_key), key=natural_key
    )
    assert sorted(["01", "1"], key=natural_key) == ["01", "1"]


BAD = {
    "duplicate explicit": (None, "a,b,a", "duplicate label 'a'"),
    "one explicit": (None, "a", "at least 2 labels, got 1"),
    "empty explicit name": (None, "a,,b", "label 2 is empty"),
    "outside the set": (
        ["a", None, "c", "c"],
        "a,b",
        "label 'c' in row 2 and 1 more rows is not in the label set a, b",
    ),
    "no labels at all": (None, None, "no labels: pass --labels a,b,... or --label-col COLUMN"),
    "only missing labels": ([None, None], None, "no labels"),
    "one distinct label": (["a", "a"], None, "only 1 distinct label ('a')"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_label_sets(case: str) -> None:
    labels, explicit, fragment = BAD[case]
    with pytest.raises(LabelError) as info:
        resolve_label_set(labels, explicit)
    assert fragment in str(info.value)


def test_errors_name_source_and_id() -> None:
    with pytest.raises(LabelError, match=r"^x\.csv: label 'z' in row 1 \(id 'r1'\) is not in"):
        resolve_label_set(["a", "z"], "a,b", source="x.csv", ids=["r0", "r1"])
    with pytest.raises(LabelError, match=r"^x\.csv: no labels"):
        resolve_label_set(None, None, source="x.csv")
    check_labels_in_set(["a", None], ["a", "b"])  # inside: no error


@pytest.mark.parametrize(
    ("name", "why"),
    [("a\nb", "control character"), ("tab\there", "control character"), ("nul\x00", "control"),
     ("x" * 101, "at most 100"), ("   ", "empty")],
)  # fmt: skip
def test_label_names_are_one_short_line(name: str, why: str) -> None:
    with pytest.raises(LabelError, match=why):
        check_label_name(name)
    with pytest.raises(LabelError, match=why):
        resolve_label_set([name, "ok"], None, source="f.csv") if name.strip() else parse_labels(
            [name, "ok"]
        )


def test_a_label_of_100_characters_and_unicode_is_fine() -> None:
    assert check_label_name(" caf\u00e9 \U0001f600 ") == "caf\u00e9 \U0001f600"
    assert check_label_name("y" * 100) == "y" * 100
