"""``unipush-sw.js`` in a real browser: headless Chromium shows what unipush sends and opens its links.

A local HTTP server serves a page and the shipped worker (``service_worker_source()``);
``tests/browser/sw_test.mjs`` (playwright-core) registers the worker, delivers unipush's payloads as
real push messages through the DevTools ``ServiceWorker.deliverPushMessage`` command, reads
``registration.getNotifications()`` and dispatches ``notificationclick`` inside the worker with
``clients.openWindow`` replaced by a recorder (no DevTools command clicks an OS notification).

The payloads are rendered by ``WebPush.prepare`` and decrypted from the request body, so the browser
gets exactly the bytes a push service would deliver. Needs ``/usr/bin/chromium`` (Debian ``chromium``,
or ``UNIPUSH_CHROMIUM``), ``node`` and ``npm ci`` in ``tests/browser``; without them the test skips,
unless ``UNIPUSH_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import b64url
from unipush import Action, Notification
from unipush.webpush import (
    WebPush,
    WebPushOptions,
    WebPushSubscription,
    decrypt,
    generate_vapid_keys,
    service_worker_path,
    service_worker_source,
)

BROWSER_DIR = Path(__file__).parent / "browser"
SCRIPT = BROWSER_DIR / "sw_test.mjs"
CHROMIUM = os.environ.get("UNIPUSH_CHROMIUM", "/usr/bin/chromium")
RUN_TIMEOUT_S = 60


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set UNIPUSH_CHROMIUM)"
    if shutil.which("node") is None:
        return "node not found on PATH (apt-get install -y nodejs npm)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        return "playwright-core is not installed (npm ci --prefix tests/browser)"
    return None


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A 1x1 PNG of one colour (PNG spec: signature, IHDR, IDAT, IEND; each chunk CRC-32'd)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" + bytes(rgb)))
        + chunk(b"IEND", b"")
    )


HAND_WRITTEN = json.dumps(
    {"web_push": 8030, "notification": {"title": "Hand-written", "navigate": "/", "renotify": True}}
)
PAGE = b"<!doctype html><meta charset=utf-8><title>unipush service worker test</title><p>unipush</p>"


class _Site:
    """The test origin: a page, the shipped worker and a few images, with a log of requested paths."""

    def __init__(self) -> None:
        image = _png((200, 40, 40))
        self.routes: dict[str, tuple[str, bytes]] = {
            "/": ("text/html; charset=utf-8", PAGE),
            "/unipush-sw.js": ("text/javascript; charset=utf-8", service_worker_source().encode()),
            **{f"/{name}.png": ("image/png", image) for name in ("icon", "image", "badge", "track")},
        }
        self.requested: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.requested.append(path)
                kind, body = site.routes.get(path, ("text/plain", b""))
                self.send_response(200 if path in site.routes else 404)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
                pass

        # 127.0.0.1 is a secure context (Secure Contexts §3.1), so service workers run on plain HTTP.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def site() -> Iterator[_Site]:
    site = _Site()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()
        thread.join(5)


def _delivered(notification: Notification, provider: WebPush) -> tuple[str, dict[str, Any]]:
    """What the browser receives for ``notification``: the decrypted request body, and the payload dict."""
    browser_key = ec.generate_private_key(ec.SECP256R1())
    point = browser_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    subscription = WebPushSubscription(endpoint="https://push.example.net/s/1", p256dh=b64url(point), auth=b64url(auth))
    request = provider.prepare(notification, subscription, now=datetime.now(timezone.utc))
    assert request.payload is not None
    plaintext = decrypt(request.body, browser_key, auth).decode("utf-8")
    assert json.loads(plaintext) == request.payload
    return plaintext, dict(request.payload)


def _notifications(origin: str) -> dict[str, Notification]:
    return {
        "declarative": Notification(
            title="Order shipped",
            body="#1234 is on its way",
            deep_link=f"{origin}/orders/1234",
            image=f"{origin}/image.png",
            icon=f"{origin}/icon.png",
            badge=3,
            collapse_key="order-1234",
            actions=[
                Action("track", "Track", icon=f"{origin}/track.png", deep_link=f"{origin}/track/1234"),
                Action("later", "Later"),
            ],
            data={"order_id": "1234"},
            webpush=WebPushOptions(
                badge=f"{origin}/badge.png",
                lang="en-GB",
                dir="ltr",
                vibrate=(100, 50, 100),
                timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                renotify=True,
                require_interaction=True,
            ),
        ),
        # unipush's "json" format (no web_push marker), linking to the page that is already open.
        "json": Notification(
            title="2 new messages",
            body="From Ada",
            deep_link=f"{origin}/",
            collapse_key="inbox",
            badge=0,
            webpush=WebPushOptions(payload_format="json", silent=True),
        ),
        "data_only": Notification(data={"sync": "inbox"}, webpush=WebPushOptions(payload_format="json")),
        # No URL anywhere (no deep_link, no default_navigate): sent without the declarative marker.
        "no_url": Notification(title="Hi", body="Nothing to open", collapse_key="plain"),
    }


@pytest.fixture(scope="module")
def run(site: _Site) -> dict[str, Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("UNIPUSH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"UNIPUSH_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    provider = WebPush(vapid_private_key=generate_vapid_keys().private_key_pem, subject="mailto:ops@example.com")
    delivered = {name: _delivered(n, provider) for name, n in _notifications(site.origin).items()}
    plan = {
        "pushes": [
            {"data": delivered["declarative"][0], "tag": "order-1234"},
            {"data": delivered["json"][0], "tag": "inbox"},
            {"data": delivered["no_url"][0], "tag": "plain"},
        ],
        "clicks": [
            {"tag": "order-1234", "action": ""},
            {"tag": "order-1234", "action": "track"},
            {"tag": "order-1234", "action": "later"},
            {"tag": "inbox", "action": ""},
            {"tag": "plain", "action": ""},
        ],
        "synthetic": [
            {"name": "native", "data": delivered["declarative"][0], "native": True},
            {"name": "text", "data": "hello", "native": False},
            {"name": "other_json", "data": '{"type":"sync","notification":"x"}', "native": False},
            {"name": "foreign_marker", "data": '{"web_push":1,"notification":{"title":"x"}}', "native": False},
            {"name": "data_only", "data": delivered["data_only"][0], "native": False},
            {"name": "control", "data": delivered["declarative"][0], "native": False},
            # Hand-written (unipush refuses it): renotify without a tag is a TypeError in showNotification().
            {"name": "renotify_without_tag", "data": HAND_WRITTEN, "native": False},
        ],
    }
    completed = subprocess.run(
        ["node", str(SCRIPT), f"{site.origin}/", json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "UNIPUSH_CHROMIUM": CHROMIUM},
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, f"sw_test.mjs printed nothing (exit {completed.returncode}): {completed.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert "error" not in result, f"{result['error']}\nworker state: {result.get('state')}"
    assert completed.returncode == 0, completed.stderr[-2000:]
    result["payloads"] = {name: payload for name, (_, payload) in delivered.items()}
    return result


def _by_tag(run: dict[str, Any], tag: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [n for n in run["notifications"] if n["tag"] == tag]
    assert len(matches) == 1, run["notifications"]
    return matches[0]


def test_declarative_payload_is_shown_with_every_member(run: dict[str, Any], site: _Site) -> None:
    origin = site.origin
    assert run["payloads"]["declarative"]["web_push"] == 8030
    shown = _by_tag(run, "order-1234")
    assert {k: shown[k] for k in ("title", "body", "icon", "image", "badge", "lang", "dir")} == {
        "title": "Order shipped",
        "body": "#1234 is on its way",
        "icon": f"{origin}/icon.png",
        "image": f"{origin}/image.png",
        "badge": f"{origin}/badge.png",
        "lang": "en-GB",
        "dir": "ltr",
    }
    assert (shown["renotify"], shown["requireInteraction"], shown["silent"]) == (True, True, False)
    assert shown["vibrate"] == [100, 50, 100]
    assert shown["timestamp"] == int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp() * 1000)
    assert shown["actions"] == [
        {"action": "track", "title": "Track", "icon": f"{origin}/track.png"},
        {"action": "later", "title": "Later", "icon": ""},
    ]
    # The message's own data is kept as is; the click targets sit under the reserved "unipush" key.
    assert shown["data"] == {
        "order_id": "1234",
        "unipush": {
            "navigate": f"{origin}/orders/1234",
            "actions": {"track": f"{origin}/track/1234", "later": f"{origin}/orders/1234"},
        },
    }


def test_json_format_is_shown_too(run: dict[str, Any], site: _Site) -> None:
    assert "web_push" not in run["payloads"]["json"]
    shown = _by_tag(run, "inbox")
    assert (shown["title"], shown["body"], shown["silent"]) == ("2 new messages", "From Ada", True)
    assert shown["actions"] == []
    assert shown["data"] == {"unipush": {"navigate": f"{site.origin}/", "actions": {}}}


def test_a_notification_without_a_url_is_shown_in_the_service_worker_form(run: dict[str, Any]) -> None:
    assert run["payloads"]["no_url"] == {"notification": {"title": "Hi", "body": "Nothing to open", "tag": "plain"}}
    shown = _by_tag(run, "plain")
    assert (shown["title"], shown["body"]) == ("Hi", "Nothing to open")
    assert shown["data"] == {"unipush": {"navigate": None, "actions": {}}}


def test_app_badge_is_set(run: dict[str, Any]) -> None:
    assert run["badgeCalls"] == [["setAppBadge", 3], ["setAppBadge", 0]]


def test_notification_images_are_loaded_from_the_site(run: dict[str, Any], site: _Site) -> None:
    assert {"/unipush-sw.js", "/icon.png", "/image.png", "/badge.png", "/track.png"} <= set(site.requested)


def test_clicks_open_the_notification_or_action_url(run: dict[str, Any], site: _Site) -> None:
    origin = site.origin
    assert [(c["tag"], c["action"], c["calls"]) for c in run["clicks"]] == [
        ("order-1234", "", [["openWindow", f"{origin}/orders/1234"]]),
        ("order-1234", "track", [["openWindow", f"{origin}/track/1234"]]),
        # An action without its own link goes where the notification goes (the encoder's fallback).
        ("order-1234", "later", [["openWindow", f"{origin}/orders/1234"]]),
        # The page at that URL is open already: it is focused, not opened a second time.
        ("inbox", "", [["focus", f"{origin}/"]]),
        # No URL: the click closes the notification and opens nothing.
        ("plain", "", []),
    ]
    assert run["remaining"] == [], "a clicked notification must be closed"


def test_pushes_it_does_not_own_are_left_alone(run: dict[str, Any]) -> None:
    synthetic = run["synthetic"]
    # Declarative Web Push in the browser (event.notification set): the browser shows it, not the worker.
    assert synthetic["native"] == {"waitUntil": 0, "shown": 0, "calls": [], "attempts": []}
    for name in ("text", "other_json", "foreign_marker", "data_only"):
        assert synthetic[name] == {"waitUntil": 0, "shown": 0, "calls": [], "attempts": []}, name
    # The same payload without the native marker is shown: the harness does see what the worker does.
    assert synthetic["control"] == {"waitUntil": 1, "shown": 1, "calls": [["setAppBadge", 3]], "attempts": ["shown"]}


def test_a_notification_the_browser_refuses_is_shown_without_the_bad_options(run: dict[str, Any]) -> None:
    assert run["synthetic"]["renotify_without_tag"] == {
        "waitUntil": 1,
        "shown": 1,
        "calls": [],
        "attempts": ["rejected: TypeError", "shown"],
    }


def test_shipped_file_is_the_served_source() -> None:
    path = service_worker_path()
    assert path.name == "unipush-sw.js"
    assert path.read_text(encoding="utf-8") == service_worker_source()
    assert "notificationclick" in service_worker_source()
