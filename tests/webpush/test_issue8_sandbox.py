"""Issue 8, items 4 and 10, over the sandbox's real sockets.

Item 4: a loopback endpoint is refused unless ``WebPush(allow_local_endpoints=True)``, which the
sandbox and ``unipush.testing`` turn on for themselves. Item 10: a notification without any URL reaches
the browser, in the form ``unipush-sw.js`` shows (no ``web_push`` marker); declarative whenever a URL is
known; the sandbox client has a ``default_navigate``; the CLI's hints name flags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cli.support import assert_one_line_error, cli_sandbox, flags, isolate, run
from tests.webpush.conftest import make_subscriber
from unipush import Notification, PushClient, ValidationError
from unipush.sandbox import DEFAULT_NAVIGATE, Sandbox
from unipush.webpush import WebPush, decrypt

PLAIN = Notification(title="Hi", body="Your order shipped")
LINKED = Notification(title="Hi", body="Your order shipped", deep_link="https://shop.example/o/1")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with cli_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _clean(sandbox: Sandbox) -> None:
    sandbox.inbox.clear()
    sandbox.faults.clear()


# -- item 4: loopback needs the opt-in -------------------------------------------------------------


def test_a_default_config_refuses_a_loopback_subscription(sandbox: Sandbox) -> None:
    browser = sandbox.subscribe()  # https://127.0.0.1:<port>/push/...
    assert browser.is_loopback
    production = sandbox.webpush_config(allow_local_endpoints=False)
    with sandbox.client(webpush=production) as client:
        with pytest.raises(ValidationError, match=r"allow_local_endpoints=True") as rendered:
            client.render(LINKED, browser)
        assert rendered.value.field == "endpoint"
        with pytest.raises(ValidationError) as sent:
            client.send(LINKED, browser)
        assert sent.value.field == "endpoint"
        # In a batch, that target's result carries the refusal; the others are sent.
        phone = sandbox.apns_device()
        results = {result.target.key: result for result in client.send_many(LINKED, [browser, phone])}
    refused, delivered = results[browser.endpoint], results[phone.token]
    assert isinstance(refused.error, ValidationError)
    assert refused.error.field == "endpoint"
    assert delivered.ok
    assert [d.provider for d in sandbox.inbox.all()] == ["apns"]  # nothing went to the loopback endpoint


def test_the_sandbox_turns_the_opt_in_on(sandbox: Sandbox) -> None:
    assert sandbox.webpush_config().allow_local_endpoints
    browser = sandbox.subscribe()
    with sandbox.client() as client:
        assert client.send(LINKED, browser).ok
    [delivery] = sandbox.inbox.wait_for(1)
    assert delivery.target == browser.endpoint


def test_unipush_testing_fixtures_send_to_local_subscriptions(push_sandbox: Sandbox, push_client: PushClient) -> None:
    browser = push_sandbox.subscribe()
    result = push_client.send(PLAIN, browser)
    assert result.ok, result
    [delivery] = push_sandbox.inbox.for_target(browser.endpoint)
    assert delivery.payload is not None
    assert delivery.payload["notification"]["title"] == "Hi"


def test_the_cli_sandbox_turns_the_opt_in_on_and_explicit_flags_need_it(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate(monkeypatch, tmp_path)
    browser = json.dumps(sandbox.subscribe().to_dict())
    info = sandbox.info()
    without = [f for f in flags(info) if f != "--webpush-allow-local-endpoints"]
    message = ["--title", "Hi", "--link", "https://shop.example/", "--webpush", browser]
    code, out, err = run(capsys, "render", *message, *without)
    assert code == 2, out
    assert_one_line_error(err, "--webpush: points at this machine", "--webpush-allow-local-endpoints")
    assert "WebPush(" not in err
    code, out, err = run(capsys, "send", *message, *flags(info))
    assert code == 0, out + err


# -- item 10: a notification without a URL ---------------------------------------------------------


def _render(notification: Notification, provider: WebPush) -> tuple[dict[str, Any], bytes]:
    browser_key, auth, subscription = make_subscriber()
    prepared = provider.prepare(notification, subscription, now=datetime(2026, 1, 15, tzinfo=timezone.utc))
    assert prepared.payload is not None
    return dict(prepared.payload), decrypt(prepared.body, browser_key, auth)


def test_render_golden_both_forms() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    provider = WebPush(vapid_private_key=key, subject="mailto:ops@example.com")
    payload, plaintext = _render(PLAIN, provider)
    assert payload == {"notification": {"title": "Hi", "body": "Your order shipped"}}
    assert plaintext == b'{"notification":{"title":"Hi","body":"Your order shipped"}}'
    payload, plaintext = _render(LINKED, provider)
    assert payload == {
        "web_push": 8030,
        "notification": {"title": "Hi", "body": "Your order shipped", "navigate": "https://shop.example/o/1"},
    }
    assert plaintext == (
        b'{"web_push":8030,"notification":{"title":"Hi","body":"Your order shipped",'
        b'"navigate":"https://shop.example/o/1"}}'
    )
    # default_navigate makes a URL known: declarative again.
    home = WebPush(vapid_private_key=key, subject="mailto:ops@example.com", default_navigate="https://shop.example/")
    payload, _ = _render(PLAIN, home)
    assert payload["web_push"] == 8030
    assert payload["notification"]["navigate"] == "https://shop.example/"


def test_the_service_worker_form_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    provider = WebPush(vapid_private_key=ec.generate_private_key(ec.SECP256R1()), subject="mailto:ops@example.com")
    with caplog.at_level(logging.DEBUG, logger="unipush"):
        _render(PLAIN, provider)
        _render(LINKED, provider)
    lines = [r.getMessage() for r in caplog.records if "declarative marker" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "no deep_link and no default_navigate" in lines[0]


def test_a_url_less_notification_reaches_the_browser(sandbox: Sandbox) -> None:
    browser = sandbox.subscribe()
    with sandbox.client(webpush=sandbox.webpush_config()) as client:  # no default_navigate
        result = client.send(PLAIN, browser)
    assert result.ok, result
    assert result.status_code == 201
    [delivery] = sandbox.inbox.for_target(browser.endpoint)
    assert delivery.payload == {"notification": {"title": "Hi", "body": "Your order shipped"}}


def test_the_sandbox_client_has_a_default_navigate(sandbox: Sandbox) -> None:
    browser = sandbox.subscribe()
    with sandbox.client() as client:
        assert client.send(PLAIN, browser).ok
    [delivery] = sandbox.inbox.for_target(browser.endpoint)
    assert delivery.payload is not None
    assert delivery.payload["web_push"] == 8030
    assert delivery.payload["notification"]["navigate"] == DEFAULT_NAVIGATE


def test_the_readme_script_with_a_plain_notification_reaches_all_three(sandbox: Sandbox) -> None:
    with sandbox.client() as client:
        batch = client.send_many(PLAIN, [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()])
    assert len(batch.succeeded) == 3, batch.failed


def test_the_cli_sends_a_url_less_notification_and_its_hints_name_flags(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate(monkeypatch, tmp_path)
    browser = json.dumps(sandbox.subscribe().to_dict())
    code, out, err = run(capsys, "send", "--title", "Hi", "--body", "x", "--webpush", browser, *flags(sandbox.info()))
    assert code == 0, out + err
    [delivery] = sandbox.inbox.wait_for(1)
    assert delivery.payload == {"notification": {"title": "Hi", "body": "x"}}
    # What the library says to a Python caller, the CLI says in flags.
    for argv, fragment in (
        (["--body", "x"], "--title: is required"),
        (["--silent", "--data", "a=b"], "--silent: Web Push cannot send a silent push"),
    ):
        code, out, err = run(capsys, "render", *argv, "--webpush", browser, *flags(sandbox.info()))
        assert code == 2, out
        assert_one_line_error(err, fragment)
        assert "WebPush" not in err, err
        assert "Notification." not in err, err
