"""Project administration on SQLite and PostgreSQL: uploads and server paths through the CLI's
importer, rename/archive, label-set edits with annotations following, guidelines, the model
report's stop set and exports as downloads."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from annotator import downloads, loop, model_report, project_admin, services, uploads
from annotator.errors import ImportFormatError, LabelError, ProjectExistsError
from annotator.loop import training
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Event, Item
from tests.integration.helpers import snapshot

CSV = "text,label\n" + "".join(f"item {i},{'ab'[i % 2]}\n" for i in range(20))


def _opts(**kw) -> services.ImportOptions:
    return services.ImportOptions(text_col="text", label_col="label", **kw)


def _events(store: Store, kind: str) -> list[dict]:
    with store.read() as s:
        return [e.payload for e in s.query(Event).filter(Event.kind == kind).order_by(Event.id)]


def _labelled(store: Store, project: str, n: int, label_for) -> None:
    items = loop.claim_next(store, project, "o", n=n)
    for i, it in enumerate(items[:n]):
        label = label_for(i, it)
        loop.submit(store, project, it.item_id, label, annotator="t", owner="o")


# --------------------------------------------------------------------------------------------
# Imports


def test_upload_imports_like_the_cli_and_records_no_temp_path(store: Store) -> None:
    summary = uploads.import_upload(store, "reviews.csv", CSV.encode(), "r", _opts())
    assert (summary.added, summary.labels) == (20, ["a", "b"])
    [event] = _events(store, "import")
    assert (event["added"], event["source"]) == (20, "reviews.csv")
    with store.read() as s:
        assert queries.get_project(s, "r").source_info["source"] == "reviews.csv"


def test_bad_upload_names_the_file_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    before = snapshot(store)
    bad = "text,label\nfine,a\nbroken,b,extra\n"
    with pytest.raises(ImportFormatError) as upload_error:
        uploads.import_upload(store, "bad.csv", bad.encode(), "bad", _opts())
    path = tmp_path / "bad.csv"
    path.write_text(bad)
    with pytest.raises(ImportFormatError) as cli_error:
        services.import_path(store, path, "bad", _opts())
    assert str(upload_error.value) == str(cli_error.value).replace(str(path), "bad.csv")
    assert str(upload_error.value).startswith("bad.csv: line 3")
    assert snapshot(store) == before


def test_upload_label_error_names_the_uploaded_file(store: Store) -> None:
    data = (CSV + "item x,c\n").encode()
    with pytest.raises(LabelError, match=r"^up\.csv: label 'c' in row 20"):
        uploads.import_upload(store, "up.csv", data, "p", _opts(labels="a,b"))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.txt", b"x", "notes.txt: unsupported file type .txt"),
        ("a.parquet.gz", b"x", "a.parquet.gz: unsupported file type .parquet.gz"),
        ("empty.csv", b"", "empty.csv: the upload is empty"),
        ("photos.zip", b"not a zip", "photos.zip: not a valid zip file"),
    ],
)
def test_upload_checks_type_and_content(store: Store, name, data, message) -> None:
    before = snapshot(store)
    with pytest.raises(ImportFormatError, match=message.replace(".", r"\.")):
        uploads.import_upload(store, name, data, "p", _opts())
    assert snapshot(store) == before


def test_upload_size_limit(store: Store) -> None:
    small = dataclasses.replace(store.settings, max_upload_bytes=100)
    with pytest.raises(ImportFormatError, match="over the upload limit"):
        uploads.check_upload(small, "big.csv", 101)
    assert uploads.check_upload(small, "ok.csv", 100) == "csv"


def _png(value: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_zip_of_images_imports_as_an_image_folder(store: Store) -> None:
    data = _zip({f"{c}/{i}.png": _png(40 * i + (100 if c == "cat" else 0))
                 for c in ("cat", "dog") for i in range(3)})  # fmt: skip
    preview = uploads.preview_upload(store.settings, "pets.zip", data)
    assert preview.kind == "images" and len(preview.images) == 6
    opts = services.ImportOptions(label_from_folder=True)
    summary = uploads.import_upload(store, "pets.zip", data, "pets", opts)
    assert (summary.data_kind, summary.labels, summary.added) == ("image", ["cat", "dog"], 6)


def test_zip_with_a_path_leaving_the_folder_is_refused(store: Store) -> None:
    data = _zip({"../evil.png": _png(1)})
    with pytest.raises(ImportFormatError, match="unsafe path '../evil.png'"):
        uploads.import_upload(store, "x.zip", data, "x", services.ImportOptions())


def test_server_paths_only_under_the_import_root(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "r.csv").write_text(CSV)
    (tmp_path / "outside.csv").write_text(CSV)
    off = store.settings
    with pytest.raises(ImportFormatError, match="set PROTOLABEL_IMPORT_ROOT"):
        uploads.server_path(off, "sub/r.csv")
    store.settings = dataclasses.replace(off, import_root=root.resolve())
    assert uploads.list_server_paths(store.settings) == ["sub/r.csv"]
    for bad in ("../outside.csv", str(tmp_path / "outside.csv"), "sub/../../outside.csv"):
        with pytest.raises(ImportFormatError, match="outside the import root"):
            uploads.import_server_path(store, bad, "p", _opts())
    (root / "link.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(ImportFormatError, match="outside the import root"):
        uploads.server_path(store.settings, "link.csv")
    with pytest.raises(ImportFormatError, match="no such file"):
        uploads.server_path(store.settings, "sub/missing.csv")
    preview = uploads.preview_server_path(store.settings, "sub/r.csv")
    assert preview.columns == ["text", "label"] and len(preview.rows) == 5
    summary = uploads.import_server_path(store, "sub/r.csv", "r", _opts())
    assert summary.added == 20


def test_a_link_inside_an_image_folder_cannot_reach_outside_the_root(
    store: Store, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    images = root / "imgs"
    images.mkdir(parents=True)
    for i in range(3):
        (images / f"{i}.png").write_bytes(_png(40 * i))
    (tmp_path / "secret.png").write_bytes(_png(200))
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    store.settings = dataclasses.replace(store.settings, import_root=root.resolve())
    (images / "inside.png").symlink_to(images / "0.png")  # a link within the root is fine
    assert len(uploads.preview_server_path(store.settings, "imgs").images) == 4
    for name, target in (("leak.png", "secret.png"), ("passwd.png", "passwd")):
        link = images / name
        link.symlink_to(tmp_path / target)
        before = snapshot(store)
        with pytest.raises(ImportFormatError, match=f"{name} links to a file outside"):
            uploads.import_server_path(store, "imgs", "i", _opts())
        with pytest.raises(ImportFormatError, match="outside the import root"):
            uploads.preview_server_path(store.settings, "imgs")
        assert snapshot(store) == before
        link.unlink()
    (images / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ImportFormatError, match="elsewhere links to a file outside"):
        uploads.preview_server_path(store.settings, "imgs")


# --------------------------------------------------------------------------------------------
# Projects


def test_rename_and_archive(store: Store) -> None:
    uploads.import_upload(store, "r.csv", CSV.encode(), "r", _opts())
    uploads.import_upload(store, "s.csv", CSV.encode(), "s", _opts())
    with pytest.raises(ProjectExistsError, match="'s' already exists"):
        project_admin.rename_project(store, "r", "s")
    assert project_admin.rename_project(store, "r", "  renamed ") == "renamed"
    project_admin.set_archived(store, "renamed", True)
    assert [p.name for p in services.list_projects(store, include_archived=False)] == ["s"]
    project_admin.set_archived(store, "renamed", False)
    assert {p.name for p in services.list_projects(store, include_archived=False)} == {
        "renamed",
        "s",
    }
    assert _events(store, "rename") == [{"old": "r", "new": "renamed"}]
    assert len(_events(store, "archive")) == len(_events(store, "unarchive")) == 1


# --------------------------------------------------------------------------------------------
# Label set


def _project_with_labels(store: Store) -> None:
    uploads.import_upload(store, "r.csv", CSV.encode(), "r", _opts())
    _labelled(store, "r", 6, lambda i, _it: "ab"[i % 2])


def _current(store: Store) -> list[str | None]:
    with store.read() as s:
        project = queries.get_project(s, "r")
        return sorted(a.label for a in queries.current_annotations(s, project.id))


def test_add_rename_merge_with_annotations_following(store: Store) -> None:
    _project_with_labels(store)
    assert project_admin.add_label(store, "r", " c ") == ["a", "b", "c"]
    with pytest.raises(LabelError, match="'c' is already"):
        project_admin.add_label(store, "r", "c")
    moved = project_admin.rename_label(store, "r", "a", "alpha")
    assert moved == 3 and _current(store) == ["alpha"] * 3 + ["b"] * 3
    with store.read() as s:
        project = queries.get_project(s, "r")
        assert project.labels == ["alpha", "b", "c"]
        truth = {it.ground_truth for it in s.query(Item).filter(Item.project_id == project.id)}
    assert truth == {"alpha", "b"}  # hidden ground truth follows too
    moved = project_admin.merge_labels(store, "r", "b", "c")
    assert moved == 3 and _current(store) == ["alpha"] * 3 + ["c"] * 3
    assert _events(store, "labels_merged") == [{"source": "b", "target": "c", "annotations": 3}]
    assert _events(store, "label_renamed")[0]["annotations"] == 3
    # labelling goes on with the new set: "b" is gone, "c" is accepted
    items = loop.claim_next(store, "r", "o", n=1)
    with pytest.raises(LabelError, match="'b' is not in"):
        loop.submit(store, "r", items[0].item_id, "b", annotator="t", owner="o")
    loop.submit(store, "r", items[0].item_id, "c", annotator="t", owner="o")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda s: project_admin.add_label(s, "r", "  "), "the label name is empty"),
        (lambda s: project_admin.add_label(s, "r", "x" * 101), "at most 100"),
        (lambda s: project_admin.add_label(s, "r", "a\nb"), "control character"),
        (lambda s: project_admin.rename_label(s, "r", "zz", "y"), "'zz' is not in"),
        (lambda s: project_admin.rename_label(s, "r", "a", "b"), "merge the two"),
        (lambda s: project_admin.merge_labels(s, "r", "a", "a"), "into itself"),
        (lambda s: project_admin.merge_labels(s, "r", "a", "b"), "at least 2"),
        (lambda s: project_admin.set_guideline(s, "r", "a", "t", "0, nope"), "'nope'"),
        (lambda s: project_admin.set_guideline(s, "r", "q", "t", ""), "'q' is not in"),
    ],
)
def test_bad_label_set_edits_write_nothing(store: Store, action, message) -> None:
    _project_with_labels(store)
    before = snapshot(store)
    with pytest.raises(LabelError, match=message):
        action(store)
    assert snapshot(store) == before


def test_guidelines_with_examples_follow_renames_and_merges(store: Store) -> None:
    _project_with_labels(store)
    project_admin.add_label(store, "r", "c")
    project_admin.set_guideline(store, "r", "a", "even rows", "0, 2, 2")
    project_admin.set_guideline(store, "r", "c", "new ones", ["4"])
    guides = {g.label: g for g in project_admin.class_guides(store, "r")}
    assert [e.external_id for e in guides["a"].examples] == ["0", "2"]
    assert guides["a"].examples[0].text == "item 0" and guides["a"].labelled == 3
    project_admin.rename_label(store, "r", "a", "even")
    project_admin.merge_labels(store, "r", "c", "even")
    [even, b] = project_admin.class_guides(store, "r")
    assert (even.label, b.label) == ("even", "b")
    assert even.text == "even rows\n\nnew ones"
    assert [e.external_id for e in even.examples] == ["0", "2", "4"]


# --------------------------------------------------------------------------------------------
# Model report and downloads


def _features_project(store: Store, n: int = 60) -> dict[int, str]:
    rng = np.random.default_rng(1)
    labels = np.array(["a", "b", "c"])[np.arange(n) % 3]
    x = rng.normal(size=(n, 4)) + np.array([{"a": 0, "b": 4, "c": 8}[v] for v in labels])[:, None]
    frame = pd.DataFrame(x, columns=["f1", "f2", "f3", "f4"]).assign(label=labels)
    data = frame.to_csv(index=False).encode()
    uploads.import_upload(store, "f.csv", data, "f", services.ImportOptions(label_col="label"))
    loop.configure(store, "f", strategy="random", batch_size=12)
    return dict(enumerate(labels.tolist()))


def test_model_report_estimates_from_labels_only(store: Store) -> None:
    truth = _features_project(store)
    report = model_report.build_report(store, "f")
    assert report.estimate.accuracy is None and report.advice.versions == []
    assert report.stop_set_size == 60
    stop_set = model_report.ensure_stop_set(store, "f")
    for _round in range(2):
        _labelled(store, "f", 12, lambda _i, it: truth[it.row])
        training.train(store, "f")
    # hide the ground truth entirely: the estimate must not change
    with store.write() as s:
        s.query(Item).update({Item.ground_truth: None})
    report = model_report.build_report(store, "f")
    assert model_report.ensure_stop_set(store, "f") == stop_set  # chosen once
    est = report.estimate
    counts = report.class_counts["labelled"].tolist()
    assert sum(counts) == est.n_labels == 24 and est.labels == ["a", "b", "c"]
    assert est.folds == min(5, *counts) and 0.0 <= est.accuracy <= 1.0
    assert est.confusion.sum(axis=1).tolist() == counts  # rows: the labels given
    assert list(report.rounds["labelled"]) == [12, 12]
    assert list(report.models["labels"]) == [12, 24]
    assert report.advice.versions == [1, 2] and len(report.advice.kappas) == 1
    assert len(_events(store, "stop_set")) == 1


@pytest.mark.parametrize("labelled", [12, 60])  # 60: every item, the pool falls back to all
def test_stop_set_is_the_sample_the_row_by_row_pool_gave(
    store: Store, monkeypatch: pytest.MonkeyPatch, labelled: int
) -> None:
    """The stop set's pool is built with a boolean mask (a 1M pool row by row in Python took
    seconds): the same rows, so the same seeded sample, as before."""
    monkeypatch.setattr(model_report, "STOP_SET_SIZE", 10)  # a sample, not the whole pool
    truth = _features_project(store)
    _labelled(store, "f", labelled, lambda _i, it: truth[it.row])
    with store.read() as s:
        project = queries.get_project(s, "f")
        n = s.query(Item).filter(Item.project_id == project.id).count()
        decided = set(training.labelled_rows(s, project.id)[0].tolist())
        seed = [store.settings.seed, project.id]
    assert len(decided) == labelled
    pool = np.array([r for r in range(n) if r not in decided] or range(n), dtype=int)
    expected = np.random.default_rng(seed).choice(pool, size=10, replace=False)
    assert model_report.ensure_stop_set(store, "f") == sorted(expected.tolist())


def test_semi_supervised_projects_are_estimated_with_their_unlabelled_items(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = _features_project(store)
    _labelled(store, "f", 12, lambda _i, it: truth[it.row])
    seen = []
    real = model_report.cross_validated

    def spy(*args, **kwargs):
        seen.append(kwargs.get("unlabelled"))
        return real(*args, **kwargs)

    monkeypatch.setattr(model_report, "cross_validated", spy)
    model_report.build_report(store, "f")
    loop.configure(store, "f", semi_supervised=True)
    report = model_report.build_report(store, "f")
    assert seen[0] is None and seen[1].shape == (60 - 12, 4)  # the items without a label
    assert 0.0 <= report.estimate.accuracy <= 1.0


def test_estimate_is_none_with_a_class_of_one_label(store: Store) -> None:
    features = np.arange(10, dtype=float).reshape(5, 2)
    est = model_report.cross_validated(features, np.array(["a", "a", "b", "b", "c"]))
    assert est.accuracy is None and "'c' has only 1 label" in est.reason
    assert est.reason.endswith("1 more 'c' label gives an estimate")
    est = model_report.cross_validated(features, np.array(["a", "a", "b", "c", "d"]))
    assert "3 classes have only 1 label ('b', 'c', 'd')" in est.reason
    assert est.reason.endswith("3 more labels, one for each, give an estimate")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_download_is_the_cli_export(store: Store, tmp_path: Path, fmt: str) -> None:
    truth = _features_project(store)
    _labelled(store, "f", 12, lambda _i, it: truth[it.row])
    download = downloads.export_download(store, "f", fmt)
    out = tmp_path / f"cli.{fmt}"
    n = services.export_project(store, "f", fmt, out)
    assert download.rows == n == 12 and download.file_name == f"f_labelled.{fmt}"
    if fmt == "parquet":
        pd.testing.assert_frame_equal(
            pd.read_parquet(io.BytesIO(download.data)), pd.read_parquet(out)
        )
    else:
        assert download.data == out.read_bytes()


# --------------------------------------------------------------------------------------------
# The label card's keys


def test_owner_keys_reach_the_card_follow_renames_and_bad_keys_write_nothing(
    store: Store,
) -> None:
    from annotator.loop import card

    data = CSV.replace(",a\n", ",billing\n").replace(",b\n", ",support\n").encode()
    uploads.import_upload(store, "k.csv", data, "k", _opts())
    payload = card.card_payload(store, "k", [], acked=[])
    assert payload["labels"] == [{"label": "billing", "key": "1"}, {"label": "support", "key": "2"}]
    assert payload["skip_key"] == "x"  # "s" starts "support"
    assert project_admin.set_keys(store, "k", {"billing": "B", "support": "s"}) == {
        "billing": "b", "support": "s"}  # fmt: skip
    payload = card.card_payload(store, "k", [], acked=[])
    assert [x["key"] for x in payload["labels"]] == ["b", "s"] and payload["skip_key"] == "x"
    before = snapshot(store)
    with pytest.raises(Exception, match="given to both"):
        project_admin.set_keys(store, "k", {"billing": "q", "support": "Q"})
    assert snapshot(store) == before and project_admin.custom_keys(store, "k")["billing"] == "b"
    project_admin.rename_label(store, "k", "billing", "invoices")
    assert project_admin.custom_keys(store, "k") == {"invoices": "b", "support": "s"}
    project_admin.add_label(store, "k", "other")
    project_admin.merge_labels(store, "k", "support", "other")
    assert project_admin.custom_keys(store, "k") == {"invoices": "b"}
    assert _events(store, "keys")[0]["keys"] == {"billing": "b", "support": "s"}
