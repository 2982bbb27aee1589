"""`protolabel app`: when to warn that an open server runs without a login."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.cli import is_loopback, login_configured_in


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_login_is_configured_by_an_auth_section(tmp_path: Path) -> None:
    folder = tmp_path / ".streamlit"
    folder.mkdir()
    secrets = folder / "secrets.toml"
    assert not login_configured_in(tmp_path)  # no file
    secrets.write_text('[other]\nkey = "v"\n')
    assert not login_configured_in(tmp_path)
    secrets.write_text("[auth\nbroken")
    assert not login_configured_in(tmp_path)  # unreadable: not configured
    secrets.write_text('[auth]\nredirect_uri = "http://x/oauth2callback"\n')
    assert login_configured_in(tmp_path / "nowhere", tmp_path)


def test_the_launcher_passes_the_upload_limit_and_hides_tracebacks() -> None:
    from annotator.cli import streamlit_command

    command = streamlit_command("127.0.0.1", 8501, upload_mb=750)
    assert command[command.index("--server.maxUploadSize") + 1] == "750"
    assert command[command.index("--client.showErrorDetails") + 1] == "none"
