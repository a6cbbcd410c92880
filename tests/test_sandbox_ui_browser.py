"""The sandbox inbox page in a real browser: each push drawn as its platform shows it, live.

``tests/browser/inbox_test.mjs`` (playwright-core, Debian's Chromium) opens the page of a
``Sandbox(ui=True)`` once; the test then sends through ``PushClient`` (real TLS, HTTP/2, encryption)
and asks the script, between sends, for what the page's DOM shows. The page is never reloaded, so
everything after the first step arrived over its event stream. Notification images are served by a
local HTTP site and must load. Screenshots (1280 px and phone width) are written to the test's tmp
path; their location is printed (``pytest -s`` shows it). Skips without Chromium, node or
playwright-core, unless ``UNIPUSH_REQUIRE_BROWSER=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.test_service_worker_browser import BROWSER_DIR, CHROMIUM, _missing, _png
from unipush import Action, FcmOptions, Notification, WebPushOptions
from unipush.sandbox import Sandbox

SCRIPT = BROWSER_DIR / "inbox_test.mjs"


class _Page:
    """The node process driving the page: one JSON command per line in, one JSON answer per line out."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "UNIPUSH_CHROMIUM": CHROMIUM},
        )
        assert self._read() == {"ready": True}

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            pytest.fail(f"inbox_test.mjs ended (exit {self.process.wait(10)}): {self.process.stderr.read()[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        assert answer["problems"] == [], answer["problems"]
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"quit": True}) + "\n")
            self.process.stdin.close()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr, self.process.stdin):
            if stream is not None and not stream.closed:
                stream.close()


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """A local site serving the notifications' images (the device loads them from the sender's URLs)."""
    files = {
        f"/{name}.png": _png(rgb)
        for name, rgb in (("image", (40, 120, 200)), ("icon", (240, 120, 0)), ("badge", (0, 0, 0)))
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _rich(origin: str, title: str) -> Notification:
    return Notification(
        title=title,
        subtitle="Box 1 of 2",
        body="#1234 is on its way",
        image=f"{origin}/image.png",
        icon=f"{origin}/icon.png",
        deep_link="https://shop.example/orders/1234",
        actions=[Action("track", "Track", deep_link="https://shop.example/track"), Action("later", "Later")],
        category="ORDER",
        badge=3,
        collapse_key="order-1234",
        fcm=FcmOptions(channel_id="orders", notification_count=3, color="#ff5722"),
        webpush=WebPushOptions(badge=f"{origin}/badge.png"),
    )


def _one(entries: list[dict[str, Any]], provider: str) -> dict[str, Any]:
    matches = [e for e in entries if e["provider"] == provider and "refused" not in e["classes"]]
    assert len(matches) == 1, [(e["provider"], e["classes"]) for e in entries]
    return matches[0]


def _text(entry: dict[str, Any], field: str) -> list[str]:
    return [value if isinstance(value, str) else value["text"] for value in entry["fields"].get(field, [])]


@pytest.fixture(scope="module")
def browser_run(images: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("UNIPUSH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"UNIPUSH_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    shots = tmp_path_factory.mktemp("inbox-page")
    run: dict[str, Any] = {"shots": shots}
    with Sandbox(ui=True) as sandbox:
        page = _Page(sandbox.ui_url)
        try:
            run["empty"] = page.ask()
            devices = {"apns": sandbox.apns_device(), "fcm": sandbox.fcm_device(), "webpush": sandbox.subscribe()}
            dead_apns, dead_web = sandbox.apns_device(), sandbox.subscribe()
            sandbox.invalidate(dead_apns)
            sandbox.invalidate(dead_web)
            run["devices"] = {name: target.key for name, target in devices.items()}
            with sandbox.client() as client:
                first = client.send_many(_rich(images, "Order shipped"), [*devices.values(), dead_apns, dead_web])
                run["first_results"] = list(first)
                run["first"] = page.ask(wait={"count": 5, "text": "Order shipped"})
                run["expanded"] = page.ask(click=".entry.provider-apns .ios")
                client.send_many(_rich(images, "Order delivered"), list(devices.values()))
                run["collapsed"] = page.ask(
                    wait={"count": 5, "text": "Order delivered"}, screenshot=str(shots / "inbox-1280.png")
                )
                client.send(Notification(title="Flash sale", body="Today only", ttl=0), devices["fcm"])
                run["expired"] = page.ask(wait={"count": 6, "text": "Flash sale"})
            run["filtered"] = page.ask(select=["#provider", "fcm"])
            run["all_again"] = page.ask(select=["#provider", ""])
            run["phone"] = page.ask(viewport=[390, 844], screenshot=str(shots / "inbox-phone.png"))
        finally:
            page.close()
    print(f"\ninbox page screenshots: {shots / 'inbox-1280.png'} and {shots / 'inbox-phone.png'}")
    return run


def test_page_starts_empty_and_live(browser_run: dict[str, Any]) -> None:
    empty = browser_run["empty"]
    assert empty["entries"] == []
    assert empty["page"]["live"]
    assert empty["page"]["empty_hint_shown"]


def test_ios_banner_shows_app_title_subtitle_body_thumbnail_badge_and_actions(
    browser_run: dict[str, Any], images: str
) -> None:
    ios = _one(browser_run["first"]["entries"], "apns")
    fields = ios["fields"]
    assert _text(ios, "app") == ["sandbox"]  # the bundle ID dev.unipush.sandbox
    assert (_text(ios, "title"), _text(ios, "subtitle"), _text(ios, "body")) == (
        ["Order shipped"],
        ["Box 1 of 2"],
        ["#1234 is on its way"],
    )
    assert _text(ios, "badge") == ["3"]
    [thumbnail] = fields["image"]
    assert thumbnail == {"src": f"{images}/image.png", "loaded": True, "visible": True}
    # The actions are there, but only on long-press, as on iOS.
    # APNs carries the ids of actions with a link (the app registers the titles with its category).
    assert [(a["text"], a["visible"]) for a in fields["action"]] == [("track", False)]
    expanded = _one(browser_run["expanded"]["entries"], "apns")
    assert [(a["text"], a["visible"]) for a in expanded["fields"]["action"]] == [("track", True)]


def test_android_notification_shows_icon_channel_title_body_picture_actions_and_count(
    browser_run: dict[str, Any], images: str
) -> None:
    android = _one(browser_run["first"]["entries"], "fcm")
    assert _text(android, "app") == ["unipush-sandbox"]  # the Firebase project
    assert _text(android, "channel") == ["orders"]
    assert (_text(android, "title"), _text(android, "body")) == (["Order shipped"], ["#1234 is on its way"])
    assert android["fields"]["image"] == [{"src": f"{images}/image.png", "loaded": True, "visible": True}]
    assert [(a["text"], a["visible"]) for a in android["fields"]["action"]] == [("Track", True), ("Later", True)]
    assert _text(android, "badge") == ["3"]
    assert _text(android, "click") == ["https://shop.example/orders/1234"]


def test_browser_notification_shows_icon_image_actions_badge_and_click_url(
    browser_run: dict[str, Any], images: str
) -> None:
    web = _one(browser_run["first"]["entries"], "webpush")
    fields = web["fields"]
    assert _text(web, "app") == ["shop.example"]
    assert (_text(web, "title"), _text(web, "body")) == (["Order shipped"], ["#1234 is on its way"])
    assert fields["icon"] == [{"src": f"{images}/icon.png", "loaded": True, "visible": True}]
    assert fields["image"] == [{"src": f"{images}/image.png", "loaded": True, "visible": True}]
    assert fields["badge-icon"] == [{"src": f"{images}/badge.png", "loaded": True, "visible": True}]
    assert [(a["text"], a["visible"]) for a in fields["action"]] == [("Track", True), ("Later", True)]
    assert _text(web, "badge") == ["3"]  # navigator.setAppBadge(3) from app_badge
    assert _text(web, "click") == ["https://shop.example/orders/1234"]
    # Beside it: the decrypted payload and the SendResult the client got.
    payload = json.loads(_text(web, "payload")[0])
    assert payload["notification"]["title"] == "Order shipped"
    result = json.loads(_text(web, "result")[0])
    assert result["ok"] is True
    assert result["message_id"] == next(r.message_id for r in browser_run["first_results"] if r.provider == "webpush")


def test_dead_tokens_appear_with_the_providers_error_body(browser_run: dict[str, Any]) -> None:
    refused = [e for e in browser_run["first"]["entries"] if "refused" in e["classes"]]
    assert sorted(e["provider"] for e in refused) == ["apns", "webpush"]
    apns = next(e for e in refused if e["provider"] == "apns")
    assert _text(apns, "status") == ["410 Unregistered"]
    assert json.loads(_text(apns, "error-body")[0])["reason"] == "Unregistered"
    assert "Dead token" in _text(apns, "verdict")[0]
    assert json.loads(_text(apns, "result")[0])["token_invalid"] is True
    web = next(e for e in refused if e["provider"] == "webpush")
    assert _text(web, "status")[0].startswith("410")


def test_same_collapse_key_replaces_the_shown_notification(browser_run: dict[str, Any]) -> None:
    entries = browser_run["collapsed"]["entries"]
    for provider in ("apns", "fcm", "webpush"):
        shown = _one(entries, provider)
        assert _text(shown, "title") == ["Order delivered"]
        assert _text(shown, "replaces") == ["replaced 1 earlier"]
        assert shown["collapse"] == "order-1234"
    assert all(_text(e, "title") != ["Order shipped"] for e in entries)  # the first ones are gone
    # Newest first: the three replacements on top, the two refusals below.
    assert ["refused" in e["classes"] for e in entries] == [False, False, False, True, True]


def test_expired_notifications_are_marked(browser_run: dict[str, Any]) -> None:
    entries = browser_run["expired"]["entries"]
    flash = next(e for e in entries if _text(e, "title") == ["Flash sale"])
    assert flash["expired"] == "1"
    assert "expired" in flash["classes"]
    assert all(e["expired"] == "0" for e in entries if e is not flash)


def test_filter_by_provider_and_device_list(browser_run: dict[str, Any]) -> None:
    filtered = browser_run["filtered"]["entries"]
    assert {e["provider"] for e in filtered if e["shown"]} == {"fcm"}
    assert {e["provider"] for e in filtered if not e["shown"]} == {"apns", "webpush"}
    assert all(e["shown"] for e in browser_run["all_again"]["entries"])
    devices = browser_run["all_again"]["page"]["devices"]
    assert set(browser_run["devices"].values()) <= set(devices)


def test_readable_at_phone_width_and_screenshots_taken(browser_run: dict[str, Any]) -> None:
    phone = browser_run["phone"]["page"]
    assert phone["scroll_width"] <= phone["client_width"] == 390  # no sideways scrolling
    for name in ("inbox-1280.png", "inbox-phone.png"):
        shot: Path = browser_run["shots"] / name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
