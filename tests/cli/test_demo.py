"""``unipush demo``: one rich notification to each provider through an in-process sandbox."""

from __future__ import annotations

import io

import pytest

from unipush.cli import main
from unipush.sandbox._demo import run_demo


def test_demo_sends_to_each_provider_and_reports_the_dead_token() -> None:
    out = io.StringIO()
    assert run_demo(out)
    text = out.getvalue()
    assert "3 sent, 1 failed" in text
    assert "Unregistered → token invalid, callback ran" in text
    for provider in ("apns", "fcm", "webpush"):
        assert f"{provider} device" in text


def test_demo_command_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    assert "3 sent, 1 failed" in capsys.readouterr().out
