"""The labelling app in a real browser: keyboard only, retraining behind, nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ARTIFACTS, Server, open_label_page, start_server, stop_server
from tests.polling import wait_for

pytestmark = pytest.mark.e2e


def _shown(page) -> int:
    return int(page.locator("[data-testid=pl-item]").get_attribute("data-item-id"))


def _wait_shown(page, item: int, *, changed: bool = False) -> None:
    """Wait until the card shows ``item`` (or, with ``changed``, any other item)."""
    card = expect(page.locator("[data-testid=pl-item]"))
    if changed:
        card.not_to_have_attribute("data-item-id", str(item), timeout=30_000)
    else:
        card.to_have_attribute("data-item-id", str(item), timeout=30_000)


def _decisions(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT a.item_id, a.label, a.annotator, a.undone_at IS NOT NULL FROM annotations a ORDER BY a.id"
        ).fetchall()


def _models(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]


def test_label_with_keyboard_retrain_and_undo(server: Server, browser_page) -> None:
    page = browser_page
    open_label_page(page, server.url)
    pressed = []
    for i in range(12):
        item = _shown(page)
        key = str(i % 10)
        page.keyboard.press(key)
        pressed.append((item, key))
        _wait_shown(page, item, changed=True)
        if i == 9:  # round 1 is complete: the next items were chosen before the retrain
            expect(page.get_by_test_id("pl-stale")).to_be_visible(timeout=30_000)
    wait_for(lambda: len(_decisions(server.db)) == 12, what="12 labels in the database")
    assert [(d[0], d[1]) for d in _decisions(server.db)] == pressed
    # batch size 10: round 1 is complete, the model retrains in the background...
    wait_for(lambda: _models(server.db) >= 1, timeout=120, what="a retrain")
    # ...while labelling went on: the 2 labels after the round came before the model existed
    undone_item = _shown(page)
    page.keyboard.press("5")
    _wait_shown(page, undone_item, changed=True)
    page.keyboard.press("z")
    _wait_shown(page, undone_item)
    wait_for(lambda: _decisions(server.db)[-1][3], what="the undo in the database")
    decisions = _decisions(server.db)
    assert decisions[-1][:2] == (undone_item, "5") and decisions[-1][3]
    assert all(d[2] == "alice" for d in decisions)
    page.wait_for_selector("text=Model suggests", timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "label_page.png"), full_page=True)


@pytest.mark.parametrize("launcher", ["protolabel app", "streamlit run app.py"])
def test_fast_typing_loses_nothing(launcher: str, tmp_path: Path, browser_page) -> None:
    """The first review's script: a name, Enter, then 1 2 3 4 5 1 2 3 4 5 each as soon as the
    page changes, then 6 7 8 9 0 6 7 8 9 0 at 50 ms: all 20 stored, in order, on the items
    that were on screen. A hurried person: no click on the page before the first key. The
    same whether the app is started by ``protolabel app`` (``make run``) or Streamlit."""
    server = start_server(tmp_path / "fast.db", tmp_path / "fast.log", launcher=launcher)
    try:
        _fast_typing(server, browser_page)
    finally:
        stop_server(server)


def _fast_typing(server: Server, page) -> None:
    open_label_page(page, server.url, click=False)
    pressed = []
    for key in "1234512345":
        item = _shown(page)
        page.keyboard.press(key)
        pressed.append((item, key))
        _wait_shown(page, item, changed=True)
    for key in "6789067890":
        pressed.append((_shown(page), key))
        page.keyboard.press(key)
        page.wait_for_timeout(50)
    wait_for(lambda: len(_decisions(server.db)) == 20, what="20 labels")
    assert [(d[0], d[1]) for d in _decisions(server.db)] == pressed
    # the counters follow the card at once (before the server has answered)
    expect(page.get_by_test_id("pl-labelled")).to_have_text("20")


def test_counters_follow_an_undo_at_once(server: Server, browser_page) -> None:
    page = browser_page
    open_label_page(page, server.url, click=False)
    remaining = int(page.get_by_test_id("pl-remaining").inner_text())
    for key in "12":
        item = _shown(page)
        page.keyboard.press(key)
        _wait_shown(page, item, changed=True)
    expect(page.get_by_test_id("pl-labelled")).to_have_text("2")
    page.keyboard.press("z")
    labelled = page.get_by_test_id("pl-labelled").inner_text()  # read in the same moment
    assert labelled == "1"
    assert int(page.get_by_test_id("pl-remaining").inner_text()) == remaining - 1
    wait_for(lambda: sum(1 for d in _decisions(server.db) if not d[3]) == 1, what="the undo")


def test_the_name_is_remembered_and_keys_go_to_the_card(server: Server, browser_page) -> None:
    page = browser_page
    open_label_page(page, server.url, name="dana", click=False)
    item = _shown(page)
    page.keyboard.press("7")  # focus left the name field when it was entered
    _wait_shown(page, item, changed=True)
    page.reload()
    expect(page.get_by_text("Labelling as dana")).to_be_visible(timeout=60_000)
    page.wait_for_selector("[data-testid=pl-item]", timeout=60_000)
    item = _shown(page)
    page.keyboard.press("8")
    _wait_shown(page, item, changed=True)
    wait_for(lambda: len(_decisions(server.db)) == 2, what="2 labels")
    assert {d[2] for d in _decisions(server.db)} == {"dana"}


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_killed_server_loses_nothing_and_resumes(server: Server, browser_page, tmp_path) -> None:
    page = browser_page
    open_label_page(page, server.url)
    for key in "0123456789":  # one full round: a retrain becomes due
        item = _shown(page)
        page.keyboard.press(key)
        _wait_shown(page, item, changed=True)
    expect(page.locator("[data-testid=pl-saved]")).to_have_text(" · all saved", timeout=30_000)
    workers = _children(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    assert len(_decisions(server.db)) == 10
    wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), timeout=15,
              what="the worker to end with its server")  # fmt: skip
    again = start_server(server.db, tmp_path / "again.log")
    try:
        open_label_page(page, again.url)  # the restarted app resumes the pending retrain
        wait_for(lambda: _models(server.db) >= 1, timeout=120, what="the pending retrain")
        item = _shown(page)
        page.keyboard.press("3")
        _wait_shown(page, item, changed=True)
        wait_for(lambda: len(_decisions(server.db)) == 11, what="labelling to resume")
    finally:
        stop_server(again)


def test_item_text_and_names_render_as_text(tmp_path, browser_page) -> None:
    """Data never becomes markup: HTML in an item, a label or a project name shows as typed."""
    import pandas as pd

    from annotator import services
    from annotator.config import Settings
    from annotator.store.db import Store

    db = tmp_path / "xss.db"
    csv = tmp_path / "x.csv"
    html = "<b>bold</b><img src=x onerror=alert(1)> *stars* :smile:"
    pd.DataFrame({"text": [html, "plain"], "label": ["<i>a</i>", "b"]}).to_csv(csv, index=False)
    store = Store.open(Settings.from_env(str(db)))
    opts = services.ImportOptions(text_col="text", label_col="label")
    services.import_path(store, csv, "**<u>x</u>**", opts)
    store.dispose()
    srv = start_server(db, tmp_path / "xss.log")
    try:
        page = browser_page
        page.goto(srv.url + "/label")
        page.get_by_label("Project").click()
        page.get_by_role("option", name="**<u>x</u>**").click()
        open_label_page(page, srv.url)
        card = page.locator("[data-testid=pl-card]")
        texts = [card.inner_text()]
        for _ in range(2):
            if html in texts[-1]:
                break
            item = _shown(page)
            page.keyboard.press("s")
            _wait_shown(page, item, changed=True)
            texts.append(card.inner_text())
        assert any(html in t for t in texts)
        buttons = page.locator(".pl-labels")  # beside the card, outside its re-rendered part
        assert card.locator("b, img, i").count() == 0 and buttons.locator("b, img, i").count() == 0
        assert "<i>a</i>" in buttons.inner_text()
        assert page.locator("h1").first.inner_text().startswith("Label · **<u>x</u>**")
    finally:
        stop_server(srv)


def test_export_page_downloads_what_the_database_holds(
    server: Server, browser_page, tmp_path
) -> None:
    """Label three digits with the keyboard, then download the CSV export from the Export page."""
    import zipfile

    import pandas as pd

    page = browser_page
    open_label_page(page, server.url)
    for key in "371":
        item = _shown(page)
        page.keyboard.press(key)
        _wait_shown(page, item, changed=True)
    wait_for(lambda: len(_decisions(server.db)) == 3, what="3 labels in the database")
    page.goto(server.url + "/export")  # CSV and labelled items only are the defaults
    button = page.get_by_role("button", name="Download digits_labelled.csv.zip")
    button.wait_for(timeout=60_000)
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "digits_labelled.csv.zip"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    with zipfile.ZipFile(target) as archive:
        table = pd.read_csv(archive.open("digits_labelled.csv"), dtype=str)
        images = {n for n in archive.namelist() if n.startswith("digits_labelled_images/")}
    with sqlite3.connect(server.db) as conn:
        expected = conn.execute(
            "SELECT i.external_id, a.label, a.annotator, a.strategy FROM annotations a"
            " JOIN items i ON i.id = a.item_id WHERE a.undone_at IS NULL ORDER BY i.row"
        ).fetchall()
    got = list(table[["id", "label", "annotator", "strategy"]].itertuples(index=False, name=None))
    assert got == [tuple(row) for row in expected]
    assert sorted(table["label"]) == ["1", "3", "7"]
    assert set(table["file_name"]) == images and len(images) == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export_page.png"), full_page=True)


def test_new_user_creates_a_project_from_their_csv(server: Server, browser_page, tmp_path) -> None:
    """Upload a CSV on the Projects page, import it, open it on the Label page."""
    csv = tmp_path / "reviews.csv"
    csv.write_text(
        "text,label\n" + "".join(f"review {i} was {'great' if i % 2 else 'awful'},"
                                 f"{'pos' if i % 2 else 'neg'}\n" for i in range(30))
    )  # fmt: skip
    page = browser_page
    page.goto(server.url + "/")
    page.locator("input[type=file]").set_input_files(str(csv))
    expect(page.get_by_text("review 0 was awful")).to_be_attached(timeout=30_000)  # preview grid
    page.get_by_label("Project name", exact=True).fill("reviews")
    page.get_by_label("Project name", exact=True).press("Enter")
    for field, column in (("Text column", "text"), ("Label column", "label")):
        box = page.get_by_role("combobox", name=field)
        box.click()
        page.keyboard.type(column)  # a selectbox filters its options as one types
        page.keyboard.press("Enter")
        expect(box).to_have_value(column)
    page.get_by_role("button", name="Import").click()
    done = page.get_by_test_id("stAlertContentSuccess")  # the toast says it too, for a moment
    expect(done.get_by_text("Imported 30 text items into reviews")).to_be_visible(timeout=60_000)
    with sqlite3.connect(server.db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM items i JOIN projects p ON p.id = i.project_id"
            " WHERE p.name = 'reviews'"
        ).fetchone() == (30,)
    box = page.get_by_role("combobox", name="Project", exact=True)
    box.click()
    page.keyboard.type("reviews")
    page.keyboard.press("Enter")
    expect(box).to_have_value("reviews")
    # the server has the choice: the delete panel (open or not) counts the new project's items
    expect(page.get_by_text("Deletes 30 items")).to_be_attached(timeout=30_000)
    page.get_by_role("button", name="Open in Label").click()
    expect(page.locator("h1").first).to_have_text("Label · reviews", timeout=30_000)


def test_presses_made_offline_are_kept_per_annotator_and_saved_after_a_reload(
    server: Server, browser_page
) -> None:
    page = browser_page
    open_label_page(page, server.url, name="erin", click=False)
    page.context.set_offline(True)  # the server cannot hear the card
    pressed = []
    for key in "456":
        item = _shown(page)
        page.keyboard.press(key)
        pressed.append((item, key))
        _wait_shown(page, item, changed=True)  # the card goes on from its reserved items
    kept = page.evaluate("JSON.parse(localStorage.getItem('protolabel:pending:digits:erin'))")
    assert [(e["item"], e["label"]) for e in kept] == pressed
    assert page.evaluate("localStorage.getItem('protolabel:pending:digits:frank')") is None
    page.context.set_offline(False)
    page.reload()
    wait_for(lambda: len(_decisions(server.db)) == 3, what="the offline presses")
    assert [(d[0], d[1], d[2]) for d in _decisions(server.db)] == [
        (item, key, "erin") for item, key in pressed
    ]


def _many_labels_db(tmp_path: Path) -> Path:
    """Two text projects of long e-mails: 80 classes and 1,000 classes."""
    import pandas as pd

    from annotator import services
    from annotator.config import Settings
    from annotator.store.db import Store

    db = tmp_path / "many.db"
    body = "Hello team,\n\n" + "The invoice for last month is missing a line. " * 110  # ~5 KB
    mail = "From: ann@example.com\nTo: help@example.com\nSubject: invoice {i}\n\n" + body
    store = Store.open(Settings.from_env(str(db)))
    for name, n in (("eighty", 80), ("thousand", 1000)):
        path = tmp_path / f"{name}.csv"
        labels = [f"class {k:04d}" for k in range(n)]
        pd.DataFrame(
            {"id": [f"m{i}" for i in range(30)], "text": [mail.format(i=i) for i in range(30)]}
        ).to_csv(path, index=False)
        services.import_path(store, path, name, services.ImportOptions(labels=labels))
    store.dispose()
    return db


def test_long_texts_and_more_labels_than_keys_at_1280_by_720(tmp_path, browser_page) -> None:
    """A 5 KB e-mail leaves the buttons in view; labels beyond the keys are found by typing
    their name (80 and 1,000 classes); what is picked is what the database holds."""
    db = _many_labels_db(tmp_path)
    srv = start_server(db, tmp_path / "many.log")
    try:
        page = browser_page
        page.set_viewport_size({"width": 1280, "height": 720})
        for project, wanted in (("eighty", "class 0071"), ("thousand", "class 0777")):
            open_label_page(page, f"{srv.url}/label?project={project}", path="")
            expect(page.locator("h1").first).to_contain_text(f"Label · {project}")
            expect(page.locator(".pl-headers")).to_contain_text("Subject: invoice")
            skip = page.locator("[data-testid=pl-card] .pl-buttons button", has_text="Skip")
            expect(skip).to_be_in_viewport()  # the text scrolls in its box, the keys stay
            expect(page.locator(".pl-labels button").first).to_be_in_viewport()
            item = _shown(page)
            page.keyboard.press("/")  # to the search, then type and press Enter
            page.keyboard.type(wanted.split()[-1])
            expect(page.locator(".pl-matches button").first).to_have_text(wanted)
            page.keyboard.press("Enter")
            _wait_shown(page, item, changed=True)
            wait_for(lambda item=item, wanted=wanted: (item, wanted, "alice", 0)
                      in _decisions(db), what=f"{wanted} in the database")  # fmt: skip
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"label-{project}-1280x720.png"))
    finally:
        stop_server(srv)


def _named_text_db(tmp_path: Path) -> Path:
    """A text project whose class names are words each text holds (tf-idf features)."""
    import pandas as pd

    from annotator import services
    from annotator.config import Settings
    from annotator.store.db import Store

    db = tmp_path / "named.db"
    topics = {"billing": "invoice charged twice", "shipping": "parcel arrived late",
              "password": "cannot log in"}  # fmt: skip
    rows = [
        {"id": f"t{i}", "text": f"Ticket {i}: {words}, a {name} question", "label": name}
        for name, words in topics.items()
        for i in range(12)
    ]
    path = tmp_path / "tickets.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    store = Store.open(Settings.from_env(str(db)))
    options = services.ImportOptions(text_col="text", label_col="label", features="tfidf")
    services.import_path(store, path, "tickets", options)
    store.dispose()
    return db


def test_a_suggestion_from_the_class_names_before_the_first_label(tmp_path, browser_page) -> None:
    """Issue 18: a new text project whose classes are words suggests labels before anyone has
    labelled (its first model comes from the names); the suggested key is what gets stored."""
    db = _named_text_db(tmp_path)
    srv = start_server(db, tmp_path / "named.log")
    try:
        page = browser_page
        open_label_page(page, f"{srv.url}/label?project=tickets", path="")
        wait_for(lambda: _models(db) >= 1, timeout=120, what="the model from the names")
        page.wait_for_selector("text=Model suggests", timeout=60_000)
        item = _shown(page)
        with sqlite3.connect(db) as conn:
            truth, n_labels = conn.execute(
                "SELECT i.ground_truth, (SELECT n_labels FROM model_versions LIMIT 1) "
                "FROM items i WHERE i.id = ?", (item,),
            ).fetchone()  # fmt: skip
        assert n_labels == 0
        card = page.locator("[data-testid=pl-card]")
        expect(card).to_contain_text(f"Model suggests: {truth}")
        button = page.locator(".pl-labels button.pl-suggested")
        expect(button).to_contain_text(truth)
        page.keyboard.press(button.inner_text().strip()[-1])  # its key, as a person would
        wait_for(lambda: _decisions(db)[:1] == [(item, truth, "alice", 0)], what="the label")
    finally:
        stop_server(srv)
