"""AppTests of the Projects, Label set, Model and Export pages."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from annotator import cli, loop, services, uploads
from annotator.config import Settings
from annotator.demo import ensure_demo
from annotator.loop import training
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Event
from tests.app.conftest import APP

GOOD_CSV = "text,label\n" + "".join(
    f"{word} item {i},{'pos' if word == 'good' else 'neg'}\n"
    for i in range(12)
    for word in ("good", "bad")
)
BAD_CSV = "text,label\nfine,pos\nbroken,neg,extra\n"


def plain(markdown: str) -> str:
    """A message as the person reads it: the page escapes Markdown in user strings."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _page(name: str) -> None:
    """An AppTest script that runs one page's main() (navigation needs file paths there)."""
    import importlib

    importlib.import_module(f"annotator.ui.pages.{name}").main()


def _app(name: str) -> AppTest:
    return AppTest.from_function(_page, args=(name,), default_timeout=120)


@pytest.fixture
def store(fresh_db: Path) -> Iterator[Store]:
    store = Store.open(Settings.from_env(str(fresh_db)))
    yield store
    store.dispose()


def _events(store: Store, project: str, kind: str) -> list[dict]:
    with store.read() as s:
        pid = queries.get_project(s, project).id
        return [
            e.payload
            for e in s.query(Event).filter(Event.project_id == pid, Event.kind == kind).all()
        ]


# --------------------------------------------------------------------------------------------
# Projects


def _field(widgets, prefix: str):
    """The import form's widget whose key is ``prefix`` (keys carry the form and file)."""
    (found,) = [w for w in widgets if (w.key or "").startswith(prefix + "_")]
    return found


def _upload(at: AppTest, name: str, content: str) -> AppTest:
    at.radio(key="pl_new_source").set_value("Upload a file")
    at.file_uploader(key="pl_upload_0").upload(name, content.encode(), "text/csv")
    return at.run()


def test_create_project_from_uploaded_csv(fresh_db: Path, store: Store) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    _upload(at, "reviews.csv", GOOD_CSV)
    assert not at.exception
    preview = at.dataframe[1].value  # [0] is the projects table
    assert list(preview.columns) == ["text", "label"] and len(preview) == 5
    # the form starts from what the import infers: the defaults import the file as it is
    assert _field(at.text_input, "pl_new_name").value == "reviews"
    assert _field(at.selectbox, "pl_new_text").value == "text"
    assert _field(at.selectbox, "pl_new_label").value == "label"
    assert _field(at.selectbox, "pl_new_id").value == "(none)"
    assert any("Inferred from the column names: text" in plain(c.value) for c in at.caption)
    at.button(key="pl_import").click().run()
    assert not at.exception, at.exception
    assert "Imported 24 text items into reviews" in at.success[0].value
    summary = {p.name: p for p in services.list_projects(store)}["reviews"]
    assert (summary.items, summary.labels, summary.labelled) == (24, ["neg", "pos"], 0)
    # the form is fresh: no file, no preview, nothing left to import twice
    assert at.file_uploader(key="pl_upload_1").value is None
    assert "pl_import" not in [b.key for b in at.button]
    assert len(at.dataframe) == 1  # the projects table only


def test_bad_upload_gets_the_cli_error_and_creates_nothing(
    fresh_db: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    before = [p.name for p in services.list_projects(store)]
    _upload(at, "bad.csv", BAD_CSV)
    _field(at.text_input, "pl_new_name").input("bad")
    _field(at.selectbox, "pl_new_text").select("text")
    at.button(key="pl_import").click().run()
    assert not at.exception
    shown = plain(at.error[0].value)
    # the CLI on the same file, named the same way
    monkeypatch.chdir(tmp_path)
    Path("bad.csv").write_text(BAD_CSV)
    code = cli.main(["import", "bad.csv", "--project", "bad", "--text-col", "text",
                     "--db", str(tmp_path / "cli.db")])  # fmt: skip
    assert code == cli.EXIT_USER_ERROR
    cli_error = capsys.readouterr().err.strip().removeprefix("protolabel: error: ")
    assert shown == cli_error
    assert shown.startswith("bad.csv: line 3")
    assert [p.name for p in services.list_projects(store)] == before


def test_upload_of_unsupported_type_or_size_is_refused(
    fresh_db: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app("projects").run()
    # the browser's filter lets any .gz through; the server checks what is inside the name
    at.file_uploader(key="pl_upload_0").upload("notes.txt.gz", b"hello").run()
    assert not at.exception
    assert "notes.txt.gz: unsupported file type .txt.gz" in plain(at.error[0].value)
    assert "pl_import" not in [b.key for b in at.button]
    monkeypatch.setenv("PROTOLABEL_MAX_UPLOAD_MB", "1")
    from annotator.ui.resources import get_store

    get_store.clear()
    at = _app("projects").run()
    big = GOOD_CSV + "x" * 2**20
    at.file_uploader(key="pl_upload_0").upload("big.csv", big.encode()).run()
    assert "big.csv: the upload is 1.0 MiB, over the upload limit of 1 MiB" in plain(
        at.error[0].value
    )
    assert "pl_import" not in [b.key for b in at.button]


def test_create_project_from_a_server_path_under_the_import_root(
    fresh_db: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "reviews.csv").write_text(GOOD_CSV)
    (tmp_path / "secret.csv").write_text(GOOD_CSV)
    monkeypatch.setenv("PROTOLABEL_IMPORT_ROOT", str(root))
    at = _app("projects").run()
    at.radio(key="pl_new_source").set_value("Server path").run()
    assert at.selectbox(key="pl_server_path_0").options == ["reviews.csv"]  # nothing outside
    at.selectbox(key="pl_server_path_0").select("reviews.csv").run()
    _field(at.text_input, "pl_new_name").input("served")
    _field(at.selectbox, "pl_new_text").select("text")
    _field(at.selectbox, "pl_new_label").select("label")
    at.button(key="pl_import").click().run()
    assert not at.exception
    assert not at.error, at.error[0].value
    assert "Imported 24 text items into served" in at.success[0].value
    assert "served" in [p.name for p in services.list_projects(store)]


def test_rename_archive_and_delete_with_confirmation(fresh_db: Path, store: Store) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.selectbox(key="pl_manage_project").select("digits")
    at.text_input(key="pl_rename_to").input("numbers").run()
    at.button(key="pl_rename").click().run()
    assert not at.exception
    assert [p.name for p in services.list_projects(store)] == ["numbers"]
    at.selectbox(key="pl_manage_project").select("numbers")
    at.button(key="pl_archive").click().run()
    assert services.list_projects(store)[0].archived
    assert at.button(key="pl_delete").disabled  # not confirmed yet
    at.text_input(key="pl_delete_confirm").input("numbers").run()
    at.button(key="pl_delete").click().run()
    assert not at.exception
    assert services.list_projects(store) == []


# --------------------------------------------------------------------------------------------
# Label set


def _tiny_project(store: Store, name: str = "tiny", n: int = 40) -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b"])[np.arange(n) % 2]
    x = rng.normal(size=(n, 3)) + (labels == "b")[:, None] * 3.0
    frame = pd.DataFrame(x, columns=["f1", "f2", "f3"]).assign(label=labels)
    path = Path(store.settings.sqlite_path).with_name(f"{name}.csv")
    frame.to_csv(path, index=False)
    services.import_path(store, path, name, services.ImportOptions(label_col="label"))
    loop.configure(store, name, strategy="random", batch_size=10)


def _label_round(store: Store, project: str, truth: dict[int, str]) -> None:
    items = loop.claim_next(store, project, "tester", n=10)
    for it in items[:10]:
        loop.submit(store, project, it.item_id, truth[it.row], annotator="t", owner="tester")
    assert training.train(store, project) is not None


def _truth(store: Store, project: str) -> dict[int, str]:
    from annotator.store.models import Item

    with store.read() as s:
        pid = queries.get_project(s, project).id
        return {it.row: it.ground_truth for it in s.query(Item).filter(Item.project_id == pid)}


def test_add_and_merge_a_class(fresh_db: Path, store: Store) -> None:
    _tiny_project(store)
    _label_round(store, "tiny", _truth(store, "tiny"))
    at = _app("labelset")
    at.session_state["pl_current_project"] = "tiny"
    at.run()
    assert not at.exception
    at.text_input(key="pl_add_label").input("c").run()
    at.button(key="pl_add").click().run()
    assert not at.exception and "Added c" in at.success[0].value
    with store.read() as s:
        assert queries.get_project(s, "tiny").labels == ["a", "b", "c"]
    labelled_a = services.list_projects(store)[-1].labelled
    at.selectbox(key="pl_merge_source").select("a").run()
    at.selectbox(key="pl_merge_target").select("c").run()
    at.button(key="pl_merge").click().run()
    assert not at.exception
    with store.read() as s:
        project = queries.get_project(s, "tiny")
        assert project.labels == ["b", "c"]
        current = [a.label for a in queries.current_annotations(s, project.id)]
    assert "a" not in current and current.count("c") > 0
    assert len(current) == labelled_a
    [merged] = _events(store, "tiny", "labels_merged")
    assert merged["source"] == "a" and merged["target"] == "c"
    assert f"{merged['annotations']} annotations moved" in at.success[0].value
    # A label with braces is shown as typed (its message was once a format string: KeyError).
    at.text_input(key="pl_add_label").input("{size}").run()
    at.button(key="pl_add").click().run()
    assert not at.exception and "Added {size}" in at.success[0].value.replace("\\", "")
    with store.read() as s:
        assert queries.get_project(s, "tiny").labels == ["b", "c", "{size}"]


def test_guideline_with_examples_shows_on_the_label_page(fresh_db: Path, store: Store) -> None:
    _tiny_project(store)
    at = _app("labelset")
    at.session_state["pl_current_project"] = "tiny"
    at.run()
    at.selectbox(key="pl_guide_label").select("b").run()
    at.text_area(key="pl_guide_text_b").input("Shifted *up* <b>by three</b>")
    at.text_input(key="pl_guide_examples_b").input("1, 3")
    at.button[-1].click().run()  # the form's Save
    assert not at.exception
    label = AppTest.from_file(str(Path(__file__).with_name("label_app.py")), default_timeout=120)
    label.session_state["pl_current_project"] = "tiny"
    label.run()
    assert not label.exception
    texts = [t.value for t in label.text]
    assert "Shifted *up* <b>by three</b>" in texts  # shown as text, never markup


# --------------------------------------------------------------------------------------------
# Model


def test_model_page_after_two_rounds(fresh_db: Path, store: Store) -> None:
    _tiny_project(store)
    truth = _truth(store, "tiny")
    _label_round(store, "tiny", truth)
    _label_round(store, "tiny", truth)
    at = _app("model")
    at.session_state["pl_current_project"] = "tiny"
    at.run()
    assert not at.exception, at.exception
    assert "needs 4" in at.info[0].value  # 2 versions: too early for advice
    metric = at.metric[0]
    assert metric.label == "Cross-validated accuracy (estimate)"
    assert metric.value.endswith("%")
    rounds, models = at.dataframe[0].value, at.dataframe[1].value
    assert list(rounds["round"]) == [1, 2] and list(rounds["labelled"]) == [10, 10]
    assert list(rounds["stale items"]) == [0, 0]  # each round chosen by the newest model
    assert list(models["version"]) == [1, 2] and list(models["labels"]) == [10, 20]
    assert 0.0 <= models["kappa vs previous"][1] <= 1.0
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4  # kappa, counts, confusion, rounds
    assert "kappa" in charts[0].proto.spec
    # the estimate is computed last, into the places that said it was on its way
    assert not [c.value for c in at.caption if "cross-validating" in c.value.lower()]


def test_model_page_without_labels_says_why(fresh_db: Path, store: Store) -> None:
    _tiny_project(store)
    at = _app("model")
    at.session_state["pl_current_project"] = "tiny"
    at.run()
    assert not at.exception
    assert at.info[0].value.startswith("No model yet")
    captions = [c.value for c in at.caption]
    assert any("needs labels in at least 2 classes" in c for c in captions)
    assert any("appears after the second retrain" in c for c in captions)  # what to do next
    assert any(c.startswith("No labels yet: label on the Label page") for c in captions)
    assert not at.get("vega_lite_chart")  # no empty chart with a "0.000000" axis
    assert "Should you keep labelling?" in at.markdown[0].value


# --------------------------------------------------------------------------------------------
# Export


class _KeptFiles(MemoryMediaFileStorage):
    """Keeps what download buttons served (AppTest drops its storage after each run)."""

    served: dict[str, bytes] = {}

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None) -> str:
        if filename is not None and isinstance(path_or_data, bytes):
            _KeptFiles.served[filename] = path_or_data
        return super().load_and_get_id(path_or_data, mimetype, kind, filename)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    _KeptFiles.served = {}
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", _KeptFiles)
    return _KeptFiles.served


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_export_format_downloads_and_parses(
    fmt: str, fresh_db: Path, store: Store, served: dict[str, bytes], tmp_path: Path
) -> None:
    _tiny_project(store)
    _label_round(store, "tiny", _truth(store, "tiny"))
    at = _app("export")
    at.session_state["pl_current_project"] = "tiny"
    at.run()
    at.radio(key="pl_export_format").set_value(fmt).run()
    assert not at.exception, at.exception
    assert at.get("download_button")[0].proto.label == f"Download tiny_labelled.{fmt}"
    data = served[f"tiny_labelled.{fmt}"]
    if fmt == "csv":
        got = pd.read_csv(io.BytesIO(data), dtype={"id": str})
    elif fmt == "jsonl":
        got = pd.DataFrame([json.loads(line) for line in data.decode().splitlines()])
    else:
        got = pd.read_parquet(io.BytesIO(data))
    cli_out = tmp_path / f"cli.{fmt}"
    services.export_project(store, "tiny", fmt, cli_out)
    if fmt == "parquet":
        pd.testing.assert_frame_equal(got, pd.read_parquet(cli_out))
    else:
        assert data == cli_out.read_bytes()
    assert len(got) == 10 and set(got["label"]) <= {"a", "b"}
    assert list(got.columns)[:4] == ["id", "f1", "f2", "f3"]
    # all items, with predictions
    at.radio(key="pl_export_scope").set_value("All items, with predictions").run()
    every = served[f"tiny_all.{fmt}"]
    assert len(every) > len(data)


def test_image_project_exports_csv_as_zip_with_images(
    fresh_db: Path, store: Store, served: dict[str, bytes]
) -> None:
    ensure_demo(store)
    queue = loop.claim_next(store, "digits", "o", n=3)
    for it in queue:
        loop.submit(store, "digits", it.item_id, "3", annotator="t", owner="o")
    at = _app("export")
    at.session_state["pl_current_project"] = "digits"
    at.run()
    assert not at.exception
    archive = zipfile.ZipFile(io.BytesIO(served["digits_labelled.csv.zip"]))
    names = archive.namelist()
    table = pd.read_csv(archive.open("digits_labelled.csv"), dtype=str)
    assert len(table) == 3
    assert sorted(names[1:]) == sorted(table["file_name"])


def test_import_errors_in_the_browser_name_the_forms_fields(fresh_db: Path, store: Store) -> None:
    at = _app("projects").run()
    _upload(at, "nums.csv", "a,b,notes\n1,2,x\n3,4,y\n")
    assert _field(at.selectbox, "pl_new_text").value == "(none)"  # numbers: a feature table
    _field(at.text_input, "pl_new_features_cols").input("a,zz")
    at.button(key="pl_import").click().run()
    assert not at.exception
    message = plain(at.error[0].value)
    assert "column 'zz' (the \"Feature columns\" field) not found" in message
    assert "--" not in message  # no command-line flag in the browser
    assert "nums" not in [p.name for p in services.list_projects(store)]


def test_every_page_opens_on_the_tabs_project_or_the_one_in_the_url(
    fresh_db: Path, store: Store
) -> None:
    csv = "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(6))
    for name in ("alpha", "zulu"):
        uploads.import_upload(store, f"{name}.csv", csv.encode(), name,
                                    services.ImportOptions())  # fmt: skip
    (item,) = loop.claim_next(store, "zulu", "me", n=1)
    loop.submit(store, "zulu", item.item_id, "a", annotator="me", owner="me")
    for page in ("labelset", "model", "review", "export", "members"):  # a new tab: most recent
        at = _app(page).run()
        assert not at.exception
        assert at.sidebar.selectbox(key="pl_project").value == "zulu", page
        assert at.query_params["project"] in ("zulu", ["zulu"])
    at = _app("labelset")
    at.query_params["project"] = "alpha"  # a link to a project
    at.run()
    assert at.sidebar.selectbox(key="pl_project").value == "alpha"
    at.sidebar.selectbox(key="pl_project").select("digits").run()  # the person's own choice
    assert at.session_state["pl_current_project"] == "digits"
    assert at.query_params["project"] in ("digits", ["digits"])
