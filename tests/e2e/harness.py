"""Real-browser harness: a protolabel server on 127.0.0.1 and Debian's Chromium via Playwright.

Used by the browser tests (``conftest.py``) and by ``bench/ui_latency.py``.

Chromium comes from the system (``/usr/bin/chromium``; never ``playwright install``). Without it
the tests skip, except under CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("PROTOLABEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    db: Path
    proc: subprocess.Popen


REPO = Path(__file__).resolve().parents[2]


def start_server(db: Path, log: Path, *, launcher: str = "protolabel app") -> Server:
    """Serve the app on a free port: ``protolabel app`` (what ``make run`` runs) or, with
    ``launcher="streamlit run app.py"``, Streamlit on the repository's ``app.py``."""
    port = _free_port()
    env = dict(os.environ, PROTOLABEL_DB=str(db))
    env.pop("PROTOLABEL_DATA_DIR", None)
    if launcher == "protolabel app":
        command = [
            sys.executable,
            "-m",
            "annotator.cli",
            "app",
            "--port",
            str(port),
            "--db",
            str(db),
        ]
    elif launcher == "streamlit run app.py":
        command = [
            sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown launcher {launcher!r}")
    proc = subprocess.Popen(
        command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        cwd=REPO,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return Server(url, db, proc)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def stop_server(server: Server) -> None:
    """Stop the server and everything it started (its process group)."""
    try:
        os.killpg(server.proc.pid, 15)
        server.proc.wait(10)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, 9)


def launch_chromium(playwright, profile: Path):
    """A headless Debian Chromium context (fresh profile, no network chatter)."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS, viewport={"width": 1300, "height": 1000},
    )  # fmt: skip


def enter_name(page, name: str) -> None:
    """Type the annotator's name in the sidebar (or change the remembered one) and press Enter."""
    field = page.get_by_label("Your name")
    change = page.get_by_role("button", name="Change name")
    field.or_(change).first.wait_for(timeout=60_000)
    if change.is_visible():
        if page.get_by_text(f"Labelling as {name}", exact=True).is_visible():
            return
        change.click()
    field.fill(name)
    field.press("Enter")


def open_label_page(
    page, url: str, name: str = "alice", *, click: bool = True, path: str = "/label"
) -> None:
    """Open ``url`` + ``path`` (the Label page), enter the annotator's name, wait for the
    first item; then, unless ``click`` is false, click the page heading (as a careful person
    would before a key)."""
    page.goto(url + path)
    enter_name(page, name)
    page.wait_for_selector("[data-testid=pl-item]", timeout=60_000)
    if click:
        page.locator("h1").first.click()
