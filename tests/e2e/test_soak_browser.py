"""A person at the Label page for a few minutes, pressing fast and unevenly, while retrains
land, across a reload and a second tab: every accepted press is stored once, on the item that
was on screen, and nothing else is written (see ``soak.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import soak
from tests.e2e.harness import Server, launch_chromium

pytestmark = pytest.mark.e2e


def test_soak_every_press_lands_on_the_item_on_screen(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import require_chromium

    require_chromium()
    with sync_playwright() as p:
        context = launch_chromium(p, tmp_path / "profile")
        try:
            run = soak.run(context, server.url, presses=160, seed=12)
        finally:
            context.close()
    result = soak.audit(server.db, run)
    assert result.presses >= 150
    assert result.mismatches == [], result.mismatches[:10]
    assert result.swaps == 0
    assert result.stored == result.accepted - result.undone
    assert result.ignored <= result.presses // 20, result  # the card ran dry rarely, visibly
    assert result.models >= 2 and result.stale > 0  # retrains landed while typing
    assert result.rounds and set(result.rounds) == {10}, result.rounds
    assert max(run.first_press_ms) < 400  # pressing as soon as the item shows
