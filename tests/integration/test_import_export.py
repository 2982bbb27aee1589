"""Import -> annotate -> export round trips, and bad inputs that must write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from annotator import loop, services
from annotator.errors import (
    DatabaseError,
    ExportError,
    ImportFormatError,
    LabelError,
    ProjectExistsError,
    ProjectNotFoundError,
    ProtolabelError,
)
from annotator.loop import training
from annotator.services import ImportOptions
from annotator.store.db import Store
from tests.deciding import decide, decide_one
from tests.integration.helpers import snapshot


def _texts_csv(path: Path, n: int = 12) -> Path:
    words = ["great taste", "awful smell", "lovely", "stale and bland", "fresh", "bitter"]
    rows = [
        {
            "uid": f"r{i}",
            "review": f"{words[i % len(words)]} number {i}",
            "label": "pos" if i % 2 == 0 else "neg",
        }
        for i in range(n)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for cls, mode in (("cat", "L"), ("dog", "RGB")):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            size = (8 + i, 10) if mode == "L" else (12, 12)
            shape = size[::-1] + ((3,) if mode == "RGB" else ())
            arr = rng.integers(0, 255, shape, dtype=np.uint8)
            Image.fromarray(arr, mode=mode).save(root / cls / f"{cls}{i}.png")
    return root


def _import_texts(
    store: Store, tmp_path: Path, name: str = "reviews", **kw
) -> services.ImportSummary:
    opts = ImportOptions(text_col="review", id_col="uid", label_col="label", **kw)
    return services.import_path(store, _texts_csv(tmp_path / "reviews.csv"), name, opts)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_text_round_trip(store: Store, tmp_path: Path, fmt: str) -> None:
    summary = _import_texts(store, tmp_path)
    assert (summary.added, summary.data_kind, summary.featurizer) == (12, "text", "minilm+tfidf")
    assert summary.featurizer_note.startswith("auto: minilm+tfidf (about ")
    assert summary.labels == ["neg", "pos"]
    loop.configure(store, "reviews", strategy="margin")
    # a skip is not exported
    decide(store, "reviews", "ann", {"r0": "pos", "r1": "neg", "r2": None})
    out = tmp_path / f"export.{fmt}"
    assert services.export_project(store, "reviews", fmt, out) == 2
    frame = {
        "csv": pd.read_csv,
        "jsonl": lambda p: pd.read_json(p, lines=True),
        "parquet": pd.read_parquet,
    }[fmt](out)
    assert list(frame["id"]) == ["r0", "r1"]
    assert list(frame["label"]) == ["pos", "neg"]
    # where the item came from: the round the test's set-up planned (tests/deciding.py)
    assert frame.loc[0, "strategy"] == "random" and frame.loc[0, "round"] == 1
    assert frame.loc[0, "text"].startswith("great taste")
    for column in ("annotator", "created_at", "score", "model_version"):
        assert column in frame.columns


def test_export_all_has_status_for_every_item(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    decide(store, "reviews", "ann", {"r0": "pos", "r1": None})
    out = tmp_path / "all.csv"
    assert services.export_project(store, "reviews", "csv", out, include_all=True) == 12
    frame = pd.read_csv(out)
    assert frame["status"].value_counts().to_dict() == {
        "unlabelled": 10,
        "labelled": 1,
        "skipped": 1,
    }


def test_ground_truth_is_hidden_unless_as_annotations(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path, "hidden")
    (p,) = services.list_projects(store)
    assert (p.items, p.labelled) == (12, 0)
    _import_texts(store, tmp_path, "given", as_annotations=True)
    given = {s.name: s for s in services.list_projects(store)}["given"]
    assert given.labelled == 12


def test_an_undone_decision_leaves_the_export(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    ids = decide(store, "reviews", "ann", {"r0": "pos", "r1": "neg"})
    changed = loop.relabel(store, "reviews", ids["r0"], "neg", annotator="ann")
    frame, _ = services.export_frame(store, "reviews")
    assert list(frame["label"]) == ["neg", "neg"]
    loop.undo(store, "reviews", ids["r1"], annotator="ann")
    loop.undo(store, "reviews", changed, annotator="ann")
    frame, _ = services.export_frame(store, "reviews")
    assert list(frame["id"]) == []


def test_features_cached_and_rebuilt_when_missing(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    first = np.array(services.load_features(store, "reviews"))
    assert first.shape[0] == 12 and first.dtype == np.float32
    folder = store.features_dir()
    if folder is not None:
        for f in folder.glob("*.npy"):
            f.unlink()
    again = np.array(services.load_features(store, "reviews"))
    np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-6)


def test_a_killed_imports_temporary_features_go_with_the_next_import(
    store: Store, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    import time

    from annotator.io import tempfiles

    folder = store.features_dir()
    if folder is None:
        pytest.skip("PostgreSQL keeps the features in the database")
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = tempfiles.temp_path(folder, "x").name.split(".")[2].rsplit("-", 2)[0]
    left = folder / f".features.{host}-{dead.pid}-0123456789ab.npy"
    left.write_bytes(b"half")
    old = folder / ".tmp-abc123.npy"  # the naming before owners were recorded
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    _import_texts(store, tmp_path)
    assert not left.exists() and not old.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_append_uses_the_stored_featurizer(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    before = np.array(services.load_features(store, "reviews"))
    more = tmp_path / "more.csv"
    pd.DataFrame(
        {"uid": ["n1", "n2"], "review": ["great taste again", "awful"], "label": ["pos", "neg"]}
    ).to_csv(more, index=False)
    opts = ImportOptions(text_col="review", id_col="uid", label_col="label", append=True)
    summary = services.import_path(store, more, "reviews", opts)
    assert (summary.added, summary.total) == (2, 14)
    after = np.array(services.load_features(store, "reviews"))
    assert after.shape == (14, before.shape[1])
    np.testing.assert_array_equal(after[:12], before)


def test_append_rejects_clashing_ids_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    before = snapshot(store)
    opts = ImportOptions(text_col="review", id_col="uid", label_col="label", append=True)
    with pytest.raises(ImportFormatError, match="'r0' is already in project"):
        services.import_path(store, _texts_csv(tmp_path / "again.csv"), "reviews", opts)
    assert snapshot(store) == before


def test_image_folder_round_trip_with_hf_datasets(store: Store, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "pets")
    opts = ImportOptions(label_from_folder=True)
    summary = services.import_path(store, folder, "pets", opts)
    assert (summary.added, summary.data_kind, summary.featurizer) == (6, "image", "pixels")
    assert "px, under 16 px: efficientnet does worse" in summary.featurizer_note  # 8-12 px
    decide_one(store, "pets", "ann", summary_first_id(store, "pets"), "cat")
    out = tmp_path / "pets.parquet"
    services.export_project(store, "pets", "parquet", out)
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    image = ds[0]["image"]
    assert isinstance(image, Image.Image)
    assert ds[0]["label"] == "cat"
    csv_out = tmp_path / "pets.csv"
    services.export_project(store, "pets", "csv", csv_out)
    frame = pd.read_csv(csv_out)
    assert (tmp_path / frame.loc[0, "file_name"]).exists()


def summary_first_id(store: Store, project: str) -> str:
    frame, _ = services.export_frame(store, project, include_all=True)
    return str(frame.loc[0, "id"])


def test_feature_matrix_npz_round_trip(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "x.npz"
    np.savez(path, X=rng.normal(size=(20, 5)), y=np.array(["a", "b"] * 10))
    summary = services.import_path(store, path, "rows", ImportOptions())
    assert (summary.data_kind, summary.featurizer, summary.feature_dim) == ("features", "raw", 5)
    decide_one(store, "rows", "ann", "3", "b")
    out = tmp_path / "rows.jsonl"
    services.export_project(store, "rows", "jsonl", out)
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["id"] == "3" and record["label"] == "b"


def test_feature_values_are_stored_once_and_come_back_at_float32_precision(
    store: Store, tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from annotator.store.models import Item

    X = np.random.default_rng(2).normal(loc=5.0, size=(30, 4)).astype(np.float32)
    path = tmp_path / "e.npz"
    np.savez(path, X=X, y=np.array(["a", "b", "c"] * 10))
    services.import_path(store, path, "emb", ImportOptions())
    with store.read() as s:
        assert s.scalar(select(func.count()).where(Item.features.is_not(None))) == 0
    decide_one(store, "emb", "ann", "7", "b")
    out = tmp_path / "emb.csv"
    services.export_project(store, "emb", "csv", out, include_all=True)
    back = pd.read_csv(out).set_index("id").loc[:, [f"x{j}" for j in range(4)]]
    np.testing.assert_allclose(back.to_numpy(), X, rtol=2e-7, atol=1e-6)
    (card,) = loop.claim_next(store, "emb", "tab", n=1)
    np.testing.assert_allclose(card.features, X[int(card.external_id)], rtol=2e-7, atol=1e-6)
    folder = store.features_dir()
    if folder is None:
        return  # PostgreSQL: the matrix is in the database itself
    for f in folder.glob("*.npy"):
        f.unlink()
    with pytest.raises(DatabaseError, match="stored only in its feature matrix.*backup"):
        services.load_features(store, "emb")


def test_an_import_and_an_append_written_in_small_blocks_store_every_row(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from annotator.io import featurizers
    from annotator.io.dataset import ImportedData
    from annotator.store import features as feature_cache
    from annotator.store.models import Item

    monkeypatch.setattr(featurizers.Raw, "block_rows", 7)
    monkeypatch.setattr(feature_cache, "CHUNK_ROWS", 5)
    monkeypatch.setattr(services, "INSERT_ROWS", 6)
    X = np.random.default_rng(4).normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "a.npz", X=X[:23], ids=np.array([f"i{k}" for k in range(23)]))
    np.savez(tmp_path / "b.npz", X=X[23:], ids=np.array([f"i{k}" for k in range(23, 40)]))
    services.import_path(store, tmp_path / "a.npz", "blocks", ImportOptions(labels=["p", "q"]))
    raw = featurizers.make_featurizer("raw").fit(
        ImportedData(kind="features", source="a", ids=["i"] * 23, features=X[:23])
    )
    expected = ((X.astype(np.float64) - raw.mean_) / raw.scale_).astype(np.float32)
    np.testing.assert_array_equal(services.load_features(store, "blocks"), expected[:23])
    services.import_path(store, tmp_path / "b.npz", "blocks", ImportOptions(append=True))
    np.testing.assert_array_equal(services.load_features(store, "blocks"), expected)
    with store.read() as s:
        rows = s.execute(select(Item.external_id, Item.row).order_by(Item.row)).all()
    assert rows == [(f"i{k}", k) for k in range(40)]
    folder = store.features_dir()
    if folder is not None:  # one matrix file, no spool left behind
        assert [p.name for p in folder.iterdir()] == ["project-1-v2.npy"]


def test_an_export_streamed_in_small_chunks_is_the_same_file(
    store: Store, tmp_path: Path, monkeypatch
) -> None:
    X = np.random.default_rng(3).normal(size=(30, 3))
    path = tmp_path / "c.npz"
    np.savez(path, X=X, y=np.array(["a", "b"] * 15))
    services.import_path(store, path, "chunks", ImportOptions())
    decide(store, "chunks", "ann", {str(i): "ab"[i % 2] for i in range(6)})
    training.train(store, "chunks")
    outs = {}
    for size in (7, 10_000):
        monkeypatch.setattr(services, "EXPORT_CHUNK_ROWS", size)
        for fmt in ("csv", "jsonl"):
            outs[size, fmt] = tmp_path / f"{size}.{fmt}"
            n = services.export_project(store, "chunks", fmt, outs[size, fmt], include_all=True)
            assert n == 30
    for fmt in ("csv", "jsonl"):
        assert outs[7, fmt].read_bytes() == outs[10_000, fmt].read_bytes()
    frame = pd.read_csv(outs[7, "csv"])
    assert frame["prediction"].notna().all() and frame["label"].notna().sum() == 6
    # The predictions are the stored model's on each row's features, whatever the chunking.
    from annotator.store import queries
    from meta import ProtoNetClassifier

    with store.read() as s:
        latest = queries.latest_model(s, queries.get_project(s, "chunks").id)
        model, version = ProtoNetClassifier.from_bytes(latest.state), latest.version
    features = np.asarray(services.load_features(store, "chunks"))
    proba = model.predict_proba(features)
    assert frame["id"].astype(str).tolist() == [str(i) for i in range(30)]
    assert frame["prediction"].astype(str).tolist() == model.predict(features).astype(str).tolist()
    np.testing.assert_allclose(frame["confidence"], proba.max(axis=1), rtol=1e-5)
    assert (frame["prediction_model_version"] == version).all()


BAD_CSVS = {
    "missing column": ("uid,review,label\nr1,good,pos\nr2,bad,neg\n", {"text_col": "reveiw"}),
    "empty file": ("", {"text_col": "review"}),
    "header only": ("uid,review,label\n", {"text_col": "review"}),
    "duplicate ids": ("uid,review,label\nr1,good,pos\nr1,bad,neg\n", {"text_col": "review"}),
    "ragged row": ("uid,review,label\nr1,good,pos\nr2,bad\n", {"text_col": "review"}),
    "unterminated quote": ('uid,review,label\nr1,"good,pos\nr2,bad,neg\n', {"text_col": "review"}),
    "non-numeric feature": ("uid,a,b,label\nr1,1,2,x\nr2,3,oops,y\n", {"feature_cols": "a,b"}),
    "nan feature": ("uid,a,b,label\nr1,1,2,x\nr2,3,nan,y\n", {"feature_cols": "a,b"}),
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_writes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    content, kw = BAD_CSVS[case]
    path = tmp_path / "bad.csv"
    path.write_text(content)
    _import_texts(store, tmp_path, "existing")
    before = snapshot(store)
    with pytest.raises(ProtolabelError) as info:
        services.import_path(
            store, path, "new", ImportOptions(id_col="uid", label_col="label", **kw)
        )
    assert "bad.csv" in str(info.value)
    assert snapshot(store) == before


def test_undecodable_bytes_write_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("uid,review,label\nr1,caf\xe9,pos\nr2,ok,neg\n".encode("latin-1"))
    before = snapshot(store)
    with pytest.raises(ImportFormatError, match="latin.csv"):
        services.import_path(
            store, path, "new", ImportOptions(text_col="review", label_col="label")
        )
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        ("pos", LabelError, "2"),
        ("pos,pos,neg", LabelError, "duplicate"),
        ("pos,other", LabelError, "neg"),
    ],
)
def test_bad_label_sets_write_nothing(store: Store, tmp_path: Path, labels, error, match) -> None:
    before = snapshot(store)
    with pytest.raises(error, match=match):
        _import_texts(store, tmp_path, labels=labels)
    assert snapshot(store) == before


def test_existing_project_needs_append(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    before = snapshot(store)
    with pytest.raises(ProjectExistsError, match="--append"):
        _import_texts(store, tmp_path)
    assert snapshot(store) == before


def test_append_to_missing_project(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match="no project named 'nope'"):
        _import_texts(store, tmp_path, "nope", append=True)


def test_broken_image_in_folder_writes_nothing(store: Store, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "pets")
    good = (folder / "cat" / "cat0.png").read_bytes()
    (folder / "cat" / "broken.png").write_bytes(good[: len(good) // 2])
    before = snapshot(store)
    with pytest.raises(ImportFormatError, match="broken.png"):
        services.import_path(store, folder, "pets", ImportOptions(label_from_folder=True))
    assert snapshot(store) == before


def test_folder_where_a_file_is_expected(store: Store, tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()
    with pytest.raises(ImportFormatError, match="data.csv"):
        services.import_path(
            store, tmp_path / "data.csv", "p", ImportOptions(text_col="t", labels="a,b")
        )


def test_file_over_size_limit(settings, tmp_path: Path) -> None:
    from dataclasses import replace

    store = Store.open(replace(settings, max_import_bytes=100))
    try:
        path = _texts_csv(tmp_path / "big.csv", n=50)
        with pytest.raises(ImportFormatError, match="big.csv"):
            services.import_path(
                store, path, "p", ImportOptions(text_col="review", label_col="label")
            )
        assert services.list_projects(store) == []
    finally:
        store.dispose()


def test_unknown_label_and_export_format(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    with pytest.raises(LabelError, match="'maybe' is not in"):
        decide_one(store, "reviews", "ann", "r0", "maybe")
    with pytest.raises(ExportError, match="xlsx"):
        services.export_project(store, "reviews", "xlsx", tmp_path / "x.xlsx")


def test_delete_removes_project_and_features(store: Store, tmp_path: Path) -> None:
    _import_texts(store, tmp_path)
    decide_one(store, "reviews", "ann", "r0", "pos")
    assert services.delete_project(store, "reviews") == 12
    assert services.list_projects(store) == []
    folder = store.features_dir()
    if folder is not None:
        assert list(folder.glob("*.npy")) == []


def test_a_postgres_projects_local_feature_copy_is_private_and_checked(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import stat

    from annotator.store import features as feature_cache

    if store.features_dir() is not None:
        pytest.skip("SQLite keeps the features in files beside the database")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _import_texts(store, tmp_path)
    first = np.array(services.load_features(store, "reviews"))
    base = feature_cache.private_cache_dir()
    (copy,) = base.glob("*/project-*.npy")
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    record = json.loads(copy.with_suffix(".json").read_text())
    assert record["size"] == copy.stat().st_size and len(record["sha256"]) == 64
    # a planted or truncated file is not used: the copy is rebuilt from the database
    copy.write_bytes(copy.read_bytes()[:-16])
    np.testing.assert_array_equal(np.array(services.load_features(store, "reviews")), first)
    # the same URL, a new database (dropped and recreated): its own copy, never the old one's
    url = store.settings.db_url
    store.dispose()
    from tests.conftest import _reset_postgres

    _reset_postgres(url)
    again = Store.open(store.settings)
    try:
        frame = pd.DataFrame({"text": [f"other words {i}" for i in range(12)],
                              "label": ["x", "y"] * 6})  # fmt: skip
        frame.to_csv(tmp_path / "other.csv", index=False)
        opts = services.ImportOptions(text_col="text", label_col="label")
        services.import_path(again, tmp_path / "other.csv", "reviews", opts)
        fresh = np.array(services.load_features(again, "reviews"))
        assert len(list(base.glob("*/project-*.npy"))) == 2
        assert not np.array_equal(fresh, first)
    finally:
        again.dispose()
