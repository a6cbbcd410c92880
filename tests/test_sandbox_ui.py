"""The sandbox inbox page without a browser: its data endpoint, event stream, files and CLI switches.

Every push goes through the real sandbox (TLS, HTTP/2, the providers' encoders); the page's
endpoints are read over a real socket with ``http.client``.
"""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from unipush import Action, FcmOptions, Notification
from unipush.cli.demo import run_demo_page
from unipush.sandbox import Sandbox
from unipush.sandbox.ui import MAX_ENTRIES, Feed
from unipush.sandbox.ui._feed import is_expired


@pytest.fixture(scope="module")
def ui_sandbox() -> Iterator[Sandbox]:
    with Sandbox(ui=True) as sandbox:
        yield sandbox


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _clear(sandbox: Sandbox) -> None:
    parts = urlsplit(sandbox.ui_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("POST", "/api/clear")
        assert connection.getresponse().status == 204
    finally:
        connection.close()


def _entries(sandbox: Sandbox, query: str = "") -> list[dict[str, Any]]:
    status, headers, body = _get(sandbox.ui_url, "/api/deliveries" + query)
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    entries: list[dict[str, Any]] = json.loads(body)["deliveries"]
    return entries


RICH = Notification(
    title="Order shipped",
    body="#1234 is on its way",
    image="https://cdn.shop.example/box.png",
    actions=[Action("track", "Track", deep_link="https://shop.example/track")],
    badge=2,
    collapse_key="order-1234",
    deep_link="https://shop.example/orders/1234",
    fcm=FcmOptions(channel_id="orders", notification_count=2),
)


def test_data_endpoint_lists_every_push_newest_first_with_request_payload_and_result(ui_sandbox: Sandbox) -> None:
    sandbox = ui_sandbox
    _clear(sandbox)
    dead = sandbox.apns_device()
    sandbox.invalidate(dead, provider="apns")
    devices = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
    with sandbox.client() as client:
        for target in [*devices, dead]:
            client.send(RICH, target)
    entries = _entries(sandbox)
    assert [e["provider"] for e in entries] == ["apns", "webpush", "fcm", "apns"]  # newest first
    assert [e["target"] for e in entries] == [dead.key, *(d.key for d in reversed(devices))]
    refused, webpush, fcm, apns = entries

    # The request as received, credentials redacted; the payload as the device got it.
    assert apns["request"]["path"] == f"/3/device/{devices[0].key}"
    assert apns["request"]["headers"]["authorization"] == "<redacted>"
    assert apns["payload"]["aps"]["alert"] == {"title": "Order shipped", "body": "#1234 is on its way"}
    assert fcm["request"]["headers"]["authorization"] == "<redacted>"
    assert fcm["payload"]["android"]["notification"]["channel_id"] == "orders"
    # Web Push: the body on the wire is ciphertext; the payload is the decrypted JSON.
    assert webpush["request"]["encrypted"] is True
    assert webpush["payload"]["notification"]["title"] == "Order shipped"
    assert webpush["payload"]["app_badge"] == 2
    assert all(e["delivered"] for e in (apns, fcm, webpush))

    # The SendResult fields the client got, from the providers' own decoders.
    deliveries = {d.provider: d for d in sandbox.inbox.all()[-3:]}
    for entry in (apns, fcm, webpush):
        assert entry["result"]["ok"] is True
        assert entry["result"]["message_id"] == deliveries[entry["provider"]].message_id
    assert apns["collapse_key"] == fcm["collapse_key"] == webpush["collapse_key"] == "order-1234"

    # The dead token: refused, with APNs's own error body and the decoded verdict.
    assert refused["delivered"] is False
    assert refused["response"]["status"] == 410
    assert json.loads(refused["response"]["body"])["reason"] == "Unregistered"
    assert refused["result"]["token_invalid"] is True
    assert refused["result"]["reason"] == "Unregistered"
    assert refused["result"]["error"].startswith("InvalidTokenError")
    assert refused["payload"]["aps"]["alert"]["title"] == "Order shipped"  # what was attempted


def test_data_endpoint_filters_by_provider_and_device(ui_sandbox: Sandbox) -> None:
    sandbox = ui_sandbox
    _clear(sandbox)
    first, second = sandbox.fcm_device(), sandbox.fcm_device()
    with sandbox.client() as client:
        client.send_many(Notification(title="Hi", body="there"), [first, second, sandbox.apns_device()])
    assert {e["provider"] for e in _entries(sandbox, "?provider=fcm")} == {"fcm"}
    assert len(_entries(sandbox, "?provider=fcm")) == 2
    assert [e["target"] for e in _entries(sandbox, f"?device={second.key}")] == [second.key]
    assert _entries(sandbox, "?provider=webpush") == []


def test_same_collapse_key_replaces_the_earlier_notification_on_that_device(ui_sandbox: Sandbox) -> None:
    sandbox = ui_sandbox
    _clear(sandbox)
    device, other = sandbox.apns_device(), sandbox.apns_device()
    with sandbox.client() as client:
        client.send(Notification(title="Order shipped", collapse_key="order-9"), device)
        client.send(Notification(title="Order shipped", collapse_key="order-9"), other)
        client.send(Notification(title="Order delivered", collapse_key="order-9"), device)
    newest, on_other, oldest = _entries(sandbox)
    assert newest["replaces"] == [oldest["id"]]
    assert oldest["replaced_by"] == newest["id"]
    assert on_other["replaces"] == []
    assert on_other["replaced_by"] is None


def test_expired_notifications_are_marked(ui_sandbox: Sandbox) -> None:
    sandbox = ui_sandbox
    _clear(sandbox)
    with sandbox.client() as client:
        # TTL 0: "now or never" (APNs apns-expiration 0, FCM "0s", Web Push TTL 0): past due once delivered.
        client.send_many(Notification(title="Now or never", ttl=0), [sandbox.apns_device(), sandbox.fcm_device()])
        client.send(Notification(title="Keeps an hour", ttl=3600), sandbox.subscribe())
    entries = {e["provider"]: e for e in _entries(sandbox)}
    assert entries["apns"]["expired"] is True
    assert entries["fcm"]["expired"] is True
    assert entries["webpush"]["expired"] is False
    # An hour later it has expired too.
    assert is_expired(entries["webpush"], time.time() + 3601) is True


def test_refused_requests_appear_with_the_providers_error_body(ui_sandbox: Sandbox) -> None:
    sandbox = ui_sandbox
    _clear(sandbox)
    device = sandbox.fcm_device()
    sandbox.fail(400, provider="fcm", reason="INVALID_ARGUMENT")
    with sandbox.client() as client:
        result = client.send(Notification(title="Hi"), device)
    assert not result.ok
    [entry] = _entries(sandbox)
    assert entry["delivered"] is False
    assert entry["response"]["status"] == 400
    assert json.loads(entry["response"]["body"])["error"]["status"] == "INVALID_ARGUMENT"
    assert entry["result"]["ok"] is False
    assert entry["result"]["status_code"] == result.status_code
    assert entry["result"]["reason"] == str(getattr(result.reason, "value", result.reason))


def test_event_stream_sends_existing_then_new_entries(ui_sandbox: Sandbox) -> None:
    sandbox = ui_sandbox
    _clear(sandbox)
    with sandbox.client() as client:
        client.send(Notification(title="Before"), sandbox.apns_device())
        parts = urlsplit(sandbox.ui_url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            connection.request("GET", "/api/events")
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("content-type", "").startswith("text/event-stream")

            def event() -> dict[str, Any]:
                lines: list[bytes] = []
                while not lines or lines[-1] != b"\n":
                    lines.append(response.fp.readline())
                data = [line[6:] for line in lines if line.startswith(b"data: ")]
                if not data:
                    return event()  # the retry: line
                document: dict[str, Any] = json.loads(b"".join(data))
                return document

            assert event()["payload"]["aps"]["alert"] == {"title": "Before"}
            client.send(Notification(title="After"), sandbox.fcm_device())
            after = event()
            assert after["provider"] == "fcm"
            assert after["payload"]["notification"] == {"title": "After"}
        finally:
            connection.close()


def test_page_and_static_files_are_self_contained(ui_sandbox: Sandbox) -> None:
    status, headers, page = _get(ui_sandbox.ui_url, "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    # Nothing from elsewhere: the policy allows scripts, styles and connections to the page itself only.
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "connect-src 'self'" in headers["content-security-policy"]
    total = len(page)
    for path in ("/static/inbox.css", "/static/inbox.js"):
        status, _, body = _get(ui_sandbox.ui_url, path)
        assert status == 200
        assert body
        total += len(body)
        assert b"http://" not in body
        assert b"https://" not in body
        assert b"@import" not in body
    assert b"https://" not in page
    assert b"http://" not in page
    assert total < 40_000  # small: plain files, no framework
    assert _get(ui_sandbox.ui_url, "/nope")[0] == 404


def test_page_refuses_a_foreign_host_header(ui_sandbox: Sandbox) -> None:
    # A page elsewhere that rebinds its DNS name to 127.0.0.1 must not read the payloads.
    assert _get(ui_sandbox.ui_url, "/api/deliveries", {"Host": "evil.example"})[0] == 403


def test_feed_keeps_the_newest_entries_only() -> None:
    from unipush.sandbox._interface import SandboxRequest, SandboxResponse

    feed = Feed(max_entries=3)
    request = SandboxRequest(method="POST", path="/push/x", headers={"ttl": "60"}, body=b"")
    for _ in range(5):
        feed.exchange("webpush", request, SandboxResponse(status=410), "https://h/push/x")
    assert [e["id"] for e in feed.snapshot()] == [5, 4, 3]
    assert MAX_ENTRIES >= 100


def test_no_ui_by_default() -> None:
    with Sandbox() as sandbox:
        assert "ui_url" not in sandbox.info()
        with pytest.raises(RuntimeError, match="Sandbox\\(ui=True\\)"):
            _ = sandbox.ui_url
        for server in sandbox.servers.values():
            assert server.on_exchange is None  # nothing recorded, nothing spent, when the page is off


def test_the_page_survives_a_restart_on_the_same_port() -> None:
    sandbox = Sandbox(ui=True)
    with sandbox:
        port = urlsplit(sandbox.ui_url).port
        with sandbox.client() as client:
            client.send(Notification(title="One"), sandbox.apns_device())
    with Sandbox(ui=True, ui_port=port or 0) as again:
        assert urlsplit(again.ui_url).port == port
    with sandbox:
        assert len(_entries(sandbox)) == 1  # kept across stop/start, like the inbox


def test_cli_sandbox_prints_the_page_url_and_no_ui_turns_it_off() -> None:
    for extra, expected in (([], True), (["--no-ui"], False)):
        with subprocess.Popen(
            [sys.executable, "-m", "unipush", "sandbox", "--json", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as process:
            try:
                assert process.stdout is not None
                info = json.loads(process.stdout.readline())
                assert ("ui_url" in info) is expected
                if expected:
                    assert _get(info["ui_url"], "/")[0] == 200
            finally:
                process.terminate()
                process.wait(10)


def test_demo_ui_prints_the_url_and_serves_until_stopped() -> None:
    out = io.StringIO()
    stop = threading.Event()
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(run_demo_page(out, stop=stop)))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while "serving the inbox page" not in out.getvalue() and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = out.getvalue().splitlines()[0].removeprefix("inbox page: ")
        # The demo's four pushes (three delivered, one dead token) are on the page while it serves.
        status, _, body = _get(url, "/api/deliveries")
        entries = json.loads(body)["deliveries"]
        assert status == 200
        assert len(entries) == 4
        assert sum(e["delivered"] for e in entries) == 3
    finally:
        stop.set()
        worker.join(30)
    assert results == [True]


def test_cli_demo_ui_serves_for_the_given_seconds() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "unipush", "demo", "--ui", "--seconds", "0.2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("inbox page: http://127.0.0.1:")
    assert "3 sent, 1 failed" in completed.stdout
    assert "serving the inbox page at http://127.0.0.1:" in completed.stdout
    assert "for 0.2 s (Ctrl-C stops it sooner)" in completed.stdout
