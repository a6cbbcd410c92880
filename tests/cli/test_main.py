"""The ``unipush`` command as a whole (``python -m unipush``, usage errors), and the pytest plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unipush.cli import main

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def test_python_dash_m_help() -> None:
    done = subprocess.run([sys.executable, "-m", "unipush", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "sandbox" in done.stdout
    assert "demo" in done.stdout


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["nope"])
    assert info.value.code == 2


def test_pytest_plugin_fixtures_run_the_documented_example(pytester: pytest.Pytester) -> None:
    example = (ROOT / "examples" / "testing" / "test_order_notifications.py").read_text()
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
