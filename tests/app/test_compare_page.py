"""The Compare page: a small simulation runs in the background, then curves and a table show."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

COMPARE_APP = str(Path(__file__).with_name("compare_app.py"))


def test_compare_runs_in_background_and_shows_results(fresh_db: Path) -> None:
    at = AppTest.from_file(COMPARE_APP, default_timeout=120).run()
    assert not at.exception
    at.multiselect[0].set_value(["random", "margin"])
    at.number_input[0].set_value(1)  # seeds
    at.number_input[1].set_value(20)  # budget
    at.number_input[3].set_value(100)  # test size
    at.checkbox[0].check()  # semi-supervised prototypes
    at.button[0].click().run()
    assert not at.exception
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not at.dataframe:
        time.sleep(1)
        at.run()
        assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["strategy"]) == ["random", "margin"]
    assert table["AULC"].between(0, 1).all()
    shown = at.selectbox[-1].format_func(at.selectbox[-1].value)
    assert "demo:digits" in shown and "protonet, semi-supervised" in shown
    assert shown.startswith("#1 ")  # the first comparison of this database, whatever its id
    assert table["p vs random"].tolist()[0] == "—"  # random against itself: does not apply
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert '"#4e79a7"' in spec and '"#f28e2b"' in spec  # Tableau 10: blue, then orange


def test_bad_config_is_refused_at_once(fresh_db: Path) -> None:
    at = AppTest.from_file(COMPARE_APP, default_timeout=120).run()
    at.multiselect[0].set_value([])
    at.button[0].click().run()
    assert at.error and "strateg" in at.error[0].value
    assert not at.dataframe
