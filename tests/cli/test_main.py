"""The ``unipush`` command: ``demo`` and ``sandbox`` (in a real subprocess), and the pytest plugin."""

from __future__ import annotations

import io
import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from unipush import Notification, PushClient
from unipush.apns import APNs, ApnsDevice
from unipush.cli import main
from unipush.sandbox._demo import run_demo
from unipush.webpush import WebPush, WebPushSubscription

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


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


def test_sandbox_command_prints_its_config_and_deliveries() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "unipush", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert {"apns_url", "fcm_url", "webpush_url", "ca_path"} <= set(info)
        assert Path(info["ca_path"]).is_file()
        # Any program can use it from the printed line alone: here, unipush itself.
        apns = APNs(
            key=Path(info["apns_key_path"]),
            key_id=info["apns_key_id"],
            team_id=info["apns_team_id"],
            topic="dev.unipush.sandbox",
            base_url=info["apns_url"],
        )
        with PushClient(apns=apns, verify=info["ca_path"]) as client:
            result = client.send(Notification(title="from outside"), ApnsDevice("ab" * 32))
        assert result.ok, result
        delivery = json.loads(process.stdout.readline())
        assert delivery["provider"] == "apns"
        assert delivery["payload"]["aps"]["alert"]["title"] == "from outside"
        # A browser-like Web Push subscription, over plain HTTP/2, as a program in another language would.
        with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=info["ca_path"])) as http:
            answer = http.post(info["webpush_subscribe_url"])
        assert answer.status_code == 201
        subscription = WebPushSubscription.from_dict(answer.json())
        webpush = WebPush(
            vapid_private_key=Path(info["webpush_vapid_private_key_path"]),
            subject="mailto:ops@example.com",
            base_url=None,
            allow_local_endpoints=True,  # the sandbox's subscriptions are on 127.0.0.1
        )
        with PushClient(webpush=webpush, verify=info["ca_path"]) as client:
            assert client.send(Notification(title="web", deep_link="https://example.com/"), subscription).ok
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert not Path(info["ca_path"]).exists()  # the sandbox removed its files on exit


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
    result.assert_outcomes(passed=3)
