"""The bench scripts are not a package: load them by path for their tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


def load_bench(name: str):
    """``bench/NAME.py`` as module ``NAME`` (registered, so its own imports find it)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite():
    return load_bench("suite_data")


@pytest.fixture(scope="module")
def le():
    return load_bench("label_efficiency")
