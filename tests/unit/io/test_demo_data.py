"""The shipped text demo: present, small, about 5,000 rows of two labels, importable as is."""

from __future__ import annotations

import pytest

from annotator.io.labels import resolve_label_set
from annotator.io.readers import read_input
from protolabel_data import demo_path


def test_fine_foods_demo() -> None:
    path = demo_path("fine_foods")
    assert path == demo_path("fine_foods.csv.gz") and path.name == "fine_foods.csv.gz"
    assert path.stat().st_size <= 2 * 1024 * 1024
    data = read_input(path, text_col="text", id_col="id", label_col="label")
    assert data.kind == "text" and len(data) == 5000
    assert resolve_label_set(data.labels, None) == ["great", "other"]
    assert None not in data.labels
    assert data.ids[0] == "train-0001" and data.ids[-1] == "test-1000"
    assert (path.parent / "README.md").is_file()


def test_unknown_demo() -> None:
    with pytest.raises(FileNotFoundError, match="available: fine_foods"):
        demo_path("digits")
