"""Image folders and NPZ/NPY arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.errors import ImportFormatError
from annotator.io.readers import content_hash, read_input

from .helpers import image_bytes, write_images

# ---------------------------------------------------------------------------------------------
# Image folders


def test_image_folder_with_labels_from_folders(tmp_path: Path) -> None:
    files = {
        "cat/a.png": image_bytes((8, 6), "RGB"),
        "cat/sub/b.jpg": image_bytes((20, 10), "L", "JPEG"),
        "dog/c.JPEG": image_bytes((5, 5), "RGBA"),
        "loose.png": image_bytes((3, 4), "P"),
        "notes.txt": b"not an image, ignored",
        ".hidden/x.png": b"skipped",
    }
    root = write_images(tmp_path / "pets", files)
    data = read_input(root, label_from_folder=True)
    assert data.kind == "image"
    assert data.ids == ["cat/a", "cat/sub/b", "dog/c", "loose"]
    assert data.image_paths == ["cat/a.png", "cat/sub/b.jpg", "dog/c.JPEG", "loose.png"]
    assert data.labels == ["cat", "sub", "dog", None]
    assert data.images == [files[p] for p in data.image_paths]
    assert data.extra["ignored_files"] == ["notes.txt"]
    assert content_hash(data, 0) == content_hash(data, 0) != content_hash(data, 1)


def test_image_folder_without_labels(tmp_path: Path) -> None:
    root = write_images(tmp_path / "imgs", {"a.png": image_bytes(), "b.png": image_bytes(seed=1)})
    data = read_input(root)
    assert data.labels is None and data.ids == ["a", "b"]


BAD_FOLDERS = {
    "truncated png": (
        {"cat/ok.png": image_bytes(), "cat/broken.png": image_bytes()[:40]},
        "broken.png",
    ),
    "truncated jpeg": (
        {"x/broken.jpg": image_bytes((64, 64), fmt="JPEG")[:300]},
        "broken.jpg: not a readable image, or a truncated one",
    ),
    "not an image": (
        {"a.png": image_bytes(), "fake.png": b"hello, world"},
        "fake.png: not a readable image",
    ),
    "empty image file": ({"empty.jpg": b""}, "empty.jpg: empty file"),
    "gif named png": (
        {"g.png": image_bytes(fmt="GIF")},
        "g.png: is a GIF image; only PNG and JPEG",
    ),
    "other image format": (
        {"a.png": image_bytes(), "b.bmp": image_bytes(fmt="BMP")},
        "b.bmp: .bmp images are not supported",
    ),
    "same id twice": (
        {"a.png": image_bytes(), "a.jpg": image_bytes(fmt="JPEG")},
        "a.jpg and a.png have the same id 'a'",
    ),
    "no images": ({"readme.txt": b"hi"}, "no PNG or JPEG images"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_bad_image_folder(tmp_path: Path, case: str) -> None:
    files, fragment = BAD_FOLDERS[case]
    root = write_images(tmp_path / "imgs", files)
    with pytest.raises(ImportFormatError) as info:
        read_input(root, label_from_folder=True)
    assert str(tmp_path / "imgs") in str(info.value)
    assert fragment in str(info.value)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportFormatError, match="empty: no PNG or JPEG images"):
        read_input(tmp_path / "empty")


def test_image_folder_size_limit(tmp_path: Path) -> None:
    root = write_images(tmp_path / "imgs", {"a.png": image_bytes((32, 32))})
    with pytest.raises(
        ImportFormatError, match="imgs: the images' total is .* over the import size limit"
    ):
        read_input(root, max_bytes=100)


@pytest.mark.parametrize("option", ["text_col", "id_col", "label_col", "feature_cols"])
def test_table_options_refused_for_folders(tmp_path: Path, option: str) -> None:
    root = write_images(tmp_path / "imgs", {"a.png": image_bytes()})
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ImportFormatError, match=f"imgs: {flag} does not apply to an image folder"):
        read_input(root, **{option: "x"})


# ---------------------------------------------------------------------------------------------
# NPZ / NPY


def test_npz_round_trip(tmp_path: Path) -> None:
    X = np.arange(12, dtype=np.int32).reshape(4, 3)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.array([0, 1, 1, 0]), ids=np.array(["a", "b", "c", "d"]))
    data = read_input(path)
    assert data.kind == "features" and data.features.dtype == np.float64
    np.testing.assert_array_equal(data.features, X)
    assert data.labels == ["0", "1", "1", "0"]
    assert data.ids == ["a", "b", "c", "d"]
    assert data.feature_names == ["x0", "x1", "x2"]


def test_npz_float_labels_and_other_names(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.eye(3), target=np.array([1.0, np.nan, 2.0]), keys=np.array([10, 11, 12]))
    data = read_input(path, label_col="target", id_col="keys")
    assert data.labels == ["1", None, "2"] and data.ids == ["10", "11", "12"]
    plain = read_input(path)
    assert plain.labels is None and plain.ids == ["0", "1", "2"]


def test_npy_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.array([[1.5, 2.0], [3.0, 4.0]], dtype=np.float32))
    data = read_input(path)
    np.testing.assert_array_equal(data.features, [[1.5, 2.0], [3.0, 4.0]])
    assert data.labels is None and data.ids == ["0", "1"]


def test_float32_features_stay_float32_and_hash_as_their_float64_values(tmp_path: Path) -> None:
    import pandas as pd

    from annotator.io.readers import content_hashes, iter_content_hashes

    X = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    pd.DataFrame(X, columns=["a", "b", "c"]).to_parquet(tmp_path / "x.parquet", index=False)
    for name in ("x.npy", "x.parquet"):
        data = read_input(tmp_path / name)
        assert data.features.dtype == np.float32, name
        np.testing.assert_array_equal(data.features, X)
        wide = read_input(tmp_path / name)
        wide.features = X.astype(np.float64)
        assert (
            content_hashes(data)
            == content_hashes(wide)
            == [content_hash(wide, i) for i in range(7)]
        )
        assert [h for part in iter_content_hashes(data, rows=3) for h in part] == (
            content_hashes(wide)
        )
    mixed = pd.DataFrame({"a": X[:, 0], "b": X[:, 1].astype(np.float64)})
    mixed.to_parquet(tmp_path / "m.parquet", index=False)
    assert read_input(tmp_path / "m.parquet").features.dtype == np.float64


BAD_ARRAYS = {
    "no X": ({"x": np.eye(2)}, {}, "no array named 'X' (did you mean 'x'?); arrays: x"),
    "X 1-D": ({"X": np.arange(3)}, {}, "array 'X' has shape (3,); expected 2-D"),
    "X 3-D": ({"X": np.zeros((2, 2, 2))}, {}, "expected 2-D (rows, features)"),
    "X strings": ({"X": np.array([["a"]])}, {}, "array 'X' has dtype <U1; expected numbers"),
    "X nan": (
        {"X": np.array([[1.0, 2.0], [3.0, np.nan]])},
        {},
        "array 'X', row 1, column 1: nan is not finite",
    ),
    "X empty": ({"X": np.zeros((0, 3))}, {}, "array 'X' has no rows"),
    "y wrong length": (
        {"X": np.eye(3), "y": np.arange(2)},
        {},
        "array 'y' has shape (2,); expected (3,)",
    ),
    "y objects": (
        {"X": np.eye(2), "y": np.array([{"a": 1}, None], dtype=object)},
        {},
        "array 'y' cannot be read without pickle",
    ),
    "duplicate ids": (
        {"X": np.eye(2), "ids": np.array(["a", "a"])},
        {},
        "array 'ids', row 1: duplicate id 'a' (also in row 0)",
    ),
    "missing label array": ({"X": np.eye(2)}, {"label_col": "labels"}, "no array named 'labels'"),
    "text option": (
        {"X": np.eye(2)},
        {"text_col": "t"},
        "--text-col does not apply to an .npz file",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_npz(tmp_path: Path, case: str) -> None:
    arrays, options, fragment = BAD_ARRAYS[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ImportFormatError) as info:
        read_input(path, **options)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_bad_npy(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros((2, 2, 2)))
    with pytest.raises(ImportFormatError, match=r"bad\.npy: array 'X' has shape \(2, 2, 2\)"):
        read_input(path)
    np.save(path, np.eye(2))
    with pytest.raises(ImportFormatError, match=r"bad\.npy: --label-col does not apply"):
        read_input(path, label_col="y")
    path.write_bytes(b"garbage")
    with pytest.raises(ImportFormatError, match=r"bad\.npy: "):
        read_input(path)
    npz = tmp_path / "bad.npz"
    npz.write_bytes(b"garbage")
    with pytest.raises(ImportFormatError, match=r"bad\.npz: not a readable \.npz file"):
        read_input(npz)
