"""Browser-test fixtures (see ``harness.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CHROMIUM, Server, launch_chromium, start_server, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "e2e.db", tmp_path / "server.log")
    yield srv
    stop_server(srv)


def require_chromium() -> None:
    """Skip without Chromium, except under CI, where a missing browser is a failure."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")


@pytest.fixture
def browser_page(tmp_path: Path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = launch_chromium(p, tmp_path / "profile")
        try:
            yield ctx.new_page()
        finally:
            ctx.close()
