"""Column roles inferred from names and values (annotator.io.roles), and through the readers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from annotator.io import read_input
from annotator.io.roles import Roles, infer_roles, numeric


def _sample(frame: pd.DataFrame) -> dict[str, list]:
    return {c: frame[c].tolist() for c in frame.columns}


def _infer(frame: pd.DataFrame, **kwargs) -> Roles:
    return infer_roles(list(frame.columns), _sample(frame), **kwargs)


EMAILS = pd.DataFrame({
    "id": ["m1", "m2", "m3"],
    "text": ["Please send my invoice", "The app crashes on start", "Refund for May"],
    "label": ["billing", "support", "billing"],
})  # fmt: skip


def test_names_decide_the_roles() -> None:
    assert _infer(EMAILS) == Roles(text="text", label="label", id="id")
    renamed = EMAILS.rename(columns={"id": "Item ID", "text": "Body", "label": "Category"})
    assert _infer(renamed) == Roles(text="Body", label="Category", id="Item ID")


def test_given_roles_win_and_their_columns_are_not_reused() -> None:
    roles = _infer(EMAILS, given=Roles(text="label", label=None, id=None))
    assert roles == Roles(text="label", label=None, id="id")  # 'label' is taken as the text
    assert _infer(EMAILS, given=Roles(id="text")).id == "text"


def test_an_id_column_must_hold_unique_present_values() -> None:
    dupes = EMAILS.assign(id=["a", "a", "b"])
    assert _infer(dupes).id is None
    blank = EMAILS.assign(id=["a", "", "b"])
    assert _infer(blank).id is None


def test_without_a_text_name_the_longest_words_are_the_text_unless_numbers_are_features() -> None:
    frame = pd.DataFrame({"subject": ["hi", "yo", "ok"], "mail": ["a long body"] * 3,
                          "label": ["x", "y", "x"]})  # fmt: skip
    assert _infer(frame) == Roles(text="mail", label="label", id=None)
    features = pd.DataFrame({"a": [1.0, 2.0], "b": ["3", "4"], "note": ["x", "y"],
                             "target": [0, 1]})  # fmt: skip
    assert _infer(features) == Roles(text=None, label="target", id=None)
    assert _infer(EMAILS, features_given=True).text is None


def test_a_text_name_holding_numbers_is_not_the_text() -> None:
    frame = pd.DataFrame({"text": ["1", "2.5", "3"], "x": [1, 2, 3]})
    assert _infer(frame).text is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 2, "x"], True), (["1", "a", "b"], False), ([None, "", "2"], True), ([], False),
     ([True, False], True), ([float("nan"), "a"], False)],
)  # fmt: skip
def test_numeric_is_the_readers_majority_rule(values: list, expected: bool) -> None:
    assert numeric(values) is expected


def test_describe() -> None:
    assert Roles(text="t", label="l", id="i").describe() == (
        "text 't', label 'l' (hidden ground truth), id 'i'"
    )
    assert Roles().describe() == ""


def test_readers_infer_and_report_what_they_inferred(tmp_path: Path) -> None:
    path = tmp_path / "emails.csv"
    EMAILS.to_csv(path, index=False)
    data = read_input(path)
    assert data.kind == "text" and data.ids == ["m1", "m2", "m3"]
    assert data.labels == ["billing", "support", "billing"]
    assert data.extra["inferred"] == {"text": "text", "label": "label", "id": "id"}
    explicit = read_input(path, text_col="text")
    assert explicit.extra["inferred"] == {"label": "label", "id": "id"}
    off = read_input(path, text_col="text", infer=False)
    assert off.labels is None and off.ids == ["0", "1", "2"] and "inferred" not in off.extra


def test_an_id_named_column_with_duplicates_past_the_sample_falls_back_to_row_numbers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dupes.csv"
    ids = [str(i) for i in range(1500)] + ["0"]
    pd.DataFrame({"id": ids, "text": [f"t{i}" for i in range(1501)]}).to_csv(path, index=False)
    data = read_input(path)
    assert data.ids[:3] == ["0", "1", "2"] and data.ids[-1] == "1500"
    assert data.extra["inferred"] == {"text": "text"}
    with pytest.raises(Exception, match="duplicate id"):
        read_input(path, id_col="id")  # given explicitly: the duplicate is an error


def test_feature_columns_given_are_never_inferred_for_another_role() -> None:
    frame = pd.DataFrame({"key": [1, 2, 3], "x": [0.1, 0.2, 0.3], "label": ["a", "b", "a"]})
    roles = _infer(frame, features_given=True, features=["key", "x"])
    assert roles == Roles(text=None, label="label", id=None)


def test_a_measured_target_stays_a_feature_and_class_codes_are_labels() -> None:
    measured = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "target": [0.12, 3.5, 7.25]})
    assert _infer(measured).label is None
    codes = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 4.0], "class": [0, 1, 1, 0]})
    assert _infer(codes).label == "class"
    many = pd.DataFrame({"x1": range(200), "target": range(200)})  # 200 distinct numbers
    assert _infer(many).label is None
