"""A new user's first hour (issue #19), in Chromium at 1280 x 720: a fresh database, a CSV of
support e-mails with columns ``id,text,label`` uploaded on the Projects page with every choice
left at its default, 20 e-mails labelled by keyboard with the buttons in view, the export
downloaded and compared with the database. Screenshots of every page go to ``artifacts/``."""

from __future__ import annotations

import random
import re
import sqlite3

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ARTIFACTS, Server, enter_name

pytestmark = pytest.mark.e2e

PAGES = ("", "label", "labelset", "model", "review", "members", "export", "compare")


def _emails(n: int = 60) -> pd.DataFrame:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        kind = "billing" if i % 2 else "support"
        topic = "my invoice shows a double charge" if kind == "billing" else "the app crashes"
        body = f"Hello,\n\n{topic}. " + "Could you have a look? " * rng.randint(20, 120)
        text = f"From: user{i}@example.com\nSubject: ticket {i}\n\n{body}\nThanks"
        rows.append({"id": f"T-{1000 + i}", "text": text, "label": kind})
    return pd.DataFrame(rows)


def _labels_in_db(db) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT i.external_id, a.label FROM annotations a JOIN items i ON i.id = a.item_id"
            " JOIN projects p ON p.id = a.project_id WHERE p.name = 'support_emails'"
            " AND a.undone_at IS NULL ORDER BY a.id"
        ).fetchall()


def test_first_hour(server: Server, browser_page, tmp_path) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 720})
    missing: list[str] = []  # requests the server answered 404 (none expected)
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    ARTIFACTS.mkdir(exist_ok=True)
    csv = tmp_path / "support_emails.csv"
    _emails().to_csv(csv, index=False)

    # Projects: upload, look at what was inferred, import with the defaults
    page.goto(server.url + "/")
    page.locator("input[type=file]").set_input_files(str(csv))
    expect(page.get_by_text("Inferred from the column names")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Project name", exact=True)).to_have_value("support_emails")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported 60 text items into support_emails").first).to_be_visible(
        timeout=60_000
    )
    expect(page.locator("input[type=file]")).to_have_count(1)  # a fresh, empty form
    page.screenshot(path=str(ARTIFACTS / "first-hour-projects.png"), full_page=True)

    # Label: the new project, 20 e-mails by keyboard, uneven pauses, buttons in view
    page.get_by_role("link", name="Start labelling").click()
    expect(page.locator("h1").first).to_have_text("Label · support_emails", timeout=30_000)
    enter_name(page, "newcomer")
    page.wait_for_selector("[data-testid=pl-item]", timeout=60_000)
    page.locator("h1").first.click()
    keys = {"billing": "1", "support": "2"}
    for name, key in keys.items():
        button = page.locator(".pl-labels button", has_text=name)
        expect(button).to_be_in_viewport()
        expect(button.locator("kbd")).to_have_text(key)
    expect(page.locator(".pl-controls button", has_text="Skip")).to_be_in_viewport()
    expect(page.locator(".pl-controls button", has_text="Skip").locator("kbd")).not_to_have_text(
        "s"
    )  # "s" starts "support"
    rng = random.Random(1)
    expected = []
    frame = _emails().set_index("id")
    for _ in range(20):
        item = page.locator("[data-testid=pl-item]")
        meta = page.locator("[data-testid=pl-meta]").inner_text()
        external = meta.split("·")[0].removeprefix("Item").strip()
        truth = frame.loc[external, "label"]
        before = item.get_attribute("data-item-id")
        page.keyboard.press(keys[truth])
        expected.append((external, truth))
        expect(item).not_to_have_attribute("data-item-id", before, timeout=30_000)
        page.wait_for_timeout(rng.choice([30, 120, 400, 900]))
    expect(page.locator("[data-testid=pl-card]")).to_have_attribute(
        "data-pending", "0", timeout=60_000
    )
    assert _labels_in_db(server.db) == expected
    page.screenshot(path=str(ARTIFACTS / "first-hour-label.png"))

    # Export: the download holds what the database holds
    page.goto(server.url + "/export")
    button = page.get_by_role("button", name="Download support_emails_labelled.csv")
    button.wait_for(timeout=60_000)
    with page.expect_download() as info:
        button.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    table = pd.read_csv(target, dtype=str)
    assert sorted(zip(table["id"], table["label"], strict=True)) == sorted(expected)

    # Every page, as the new user sees it (the tab keeps the project)
    for name in PAGES:
        page.goto(f"{server.url}/{name}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)
        if name not in ("", "compare"):
            expect(page.get_by_role("combobox", name="Project", exact=True)).to_have_value(
                "support_emails", timeout=30_000
            )
        page.screenshot(path=str(ARTIFACTS / f"first-hour-{name or 'projects'}-page.png"))
    # Streamlit's page loader probes /PAGE/_stcore/health and /host-config before the root
    # ones (left alone: Streamlit's, harmless); any other 404 is ours
    ours = [u for u in missing if not re.search(r"/[a-z]+/_stcore/(health|host-config)$", u)]
    assert not ours, ours
