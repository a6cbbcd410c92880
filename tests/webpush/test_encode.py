"""Pure encoder: golden Declarative Web Push JSON, the json/raw formats, Topic derivation and headers."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from unipush import DEFAULT_TTL_SECONDS, Action, Notification, ValidationError
from unipush._payload.web import derive_topic, encode_headers
from unipush.webpush import WebPushOptions
from unipush.webpush._crypto import b64url_encode
from unipush.webpush._encode import declarative_payload, encode_payload, json_payload

FULL = Notification(
    title="Order shipped",
    subtitle="ignored on the web",
    body="#1234 is on its way",
    deep_link="https://shop.example/o/1234",
    image="https://cdn.example/box.png",
    icon="https://cdn.example/icon.png",
    badge=3,
    sound="default",
    collapse_key="order-1234",
    ttl=3600,
    priority="high",
    data={"order": "1234"},
    actions=[
        Action("track", "Track", icon="https://cdn.example/track.png", deep_link="https://shop.example/t/1234"),
        Action("help", "Help"),
    ],
    webpush=WebPushOptions(
        lang="en-GB",
        dir="ltr",
        badge="https://cdn.example/badge.png",
        vibrate=[200, 100, 200],
        timestamp=datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc),
        renotify=True,
        silent=False,
        require_interaction=True,
        mutable=True,
    ),
)

FULL_DECLARATIVE = {
    "web_push": 8030,
    "notification": {
        "title": "Order shipped",
        "body": "#1234 is on its way",
        "navigate": "https://shop.example/o/1234",
        "lang": "en-GB",
        "dir": "ltr",
        "tag": "order-1234",
        "image": "https://cdn.example/box.png",
        "icon": "https://cdn.example/icon.png",
        "badge": "https://cdn.example/badge.png",
        "vibrate": [200, 100, 200],
        "timestamp": 1768478400000,
        "renotify": True,
        "silent": False,
        "requireInteraction": True,
        "data": {"order": "1234"},
        "actions": [
            {
                "action": "track",
                "title": "Track",
                "navigate": "https://shop.example/t/1234",
                "icon": "https://cdn.example/track.png",
            },
            {"action": "help", "title": "Help", "navigate": "https://shop.example/o/1234"},
        ],
        "mutable": True,
    },
    "app_badge": 3,
    "mutable": True,
}


class TestDeclarative:
    def test_golden_full(self):
        assert declarative_payload(FULL) == FULL_DECLARATIVE

    def test_golden_bytes_are_compact_utf8(self):
        n = Notification(title="Café ☕", body="prêt", deep_link="https://cafe.example/")
        payload, plaintext = encode_payload(n)
        assert (
            plaintext
            == (
                '{"web_push":8030,"notification":{"title":"Café ☕","body":"prêt","navigate":"https://cafe.example/"}}'
            ).encode()
        )
        assert payload == {
            "web_push": 8030,
            "notification": {"title": "Café ☕", "body": "prêt", "navigate": "https://cafe.example/"},
        }

    def test_minimal(self):
        n = Notification(title="Hi", deep_link="https://a.example/")
        assert declarative_payload(n) == {
            "web_push": 8030,
            "notification": {"title": "Hi", "navigate": "https://a.example/"},
        }

    def test_default_navigate_is_the_fallback(self):
        n = Notification(title="Hi", actions=[Action("open", "Open")])
        assert declarative_payload(n, default_navigate="https://site.example/") == {
            "web_push": 8030,
            "notification": {
                "title": "Hi",
                "navigate": "https://site.example/",
                "actions": [{"action": "open", "title": "Open", "navigate": "https://site.example/"}],
            },
        }

    def test_deep_link_wins_over_default(self):
        n = Notification(title="Hi", deep_link="https://a.example/x")
        payload = declarative_payload(n, default_navigate="https://site.example/")
        assert payload["notification"]["navigate"] == "https://a.example/x"

    def test_badge_zero_clears(self):
        n = Notification(title="Hi", deep_link="https://a.example/", badge=0)
        assert declarative_payload(n)["app_badge"] == 0

    def test_mutable_false_is_written(self):
        n = Notification(title="Hi", deep_link="https://a.example/", webpush=WebPushOptions(mutable=False))
        payload = declarative_payload(n)
        assert payload["mutable"] is False
        assert payload["notification"]["mutable"] is False

    def test_no_navigate_is_an_error(self):
        with pytest.raises(ValidationError, match="default_navigate") as info:
            declarative_payload(Notification(title="Hi"))
        assert info.value.field == "deep_link"

    def test_no_title_is_an_error(self):
        with pytest.raises(ValidationError, match="required by Declarative Web Push") as info:
            declarative_payload(Notification(body="only a body", deep_link="https://a.example/"))
        assert info.value.field == "title"

    @pytest.mark.parametrize(
        ("notification", "field"),
        [
            (Notification(content_available=True, data={"k": "v"}), "content_available"),
            (Notification(data={"k": "v"}), "title"),
        ],
    )
    def test_silent_push_is_refused(self, notification, field):
        with pytest.raises(ValidationError, match="cannot send a silent push") as info:
            declarative_payload(notification, default_navigate="https://a.example/")
        assert info.value.field == field

    def test_renotify_needs_a_tag(self):
        n = Notification(title="Hi", deep_link="https://a.example/", webpush=WebPushOptions(renotify=True))
        with pytest.raises(ValidationError, match="collapse_key") as info:
            declarative_payload(n)
        assert info.value.field == "webpush.renotify"

    def test_renotify_false_without_tag_is_fine(self):
        n = Notification(title="Hi", deep_link="https://a.example/", webpush=WebPushOptions(renotify=False))
        assert declarative_payload(n)["notification"]["renotify"] is False


class TestJsonAndRaw:
    def test_json_format_golden(self):
        n = Notification(
            title="Hi",
            body="there",
            badge=2,
            collapse_key="k1",
            data={"a": "b"},
            webpush=WebPushOptions(payload_format="json", mutable=True),
        )
        payload, plaintext = encode_payload(n, default_navigate="https://site.example/")
        assert payload == {
            "notification": {
                "title": "Hi",
                "body": "there",
                "navigate": "https://site.example/",
                "tag": "k1",
                "data": {"a": "b"},
                "mutable": True,
            },
            "app_badge": 2,
            "mutable": True,
        }
        assert b"web_push" not in plaintext

    def test_json_format_allows_data_only(self):
        n = Notification(data={"sync": "1"}, content_available=True, webpush=WebPushOptions(payload_format="json"))
        assert json_payload(n) == {"notification": {"data": {"sync": "1"}}}
        action_only = Notification(body="b", actions=[Action("x", "X")], webpush=WebPushOptions(payload_format="json"))
        assert json_payload(action_only) == {"notification": {"body": "b", "actions": [{"action": "x", "title": "X"}]}}

    def test_raw(self):
        n = Notification(webpush=WebPushOptions(payload_format="raw", raw_payload=b"\x00\x01bytes"))
        assert encode_payload(n) == (None, b"\x00\x01bytes")


class TestTopic:
    @pytest.mark.parametrize("key", ["ab", "order-1234", "A_b-c9", "x" * 32, "x" * 30, "abcd"])
    def test_valid_keys_used_as_is(self, key):
        assert derive_topic(key) == key

    @pytest.mark.parametrize("key", ["x" * 33, "order 1234", "ordér", "a.b", "a", "abcde", "x" * 29, "ünïcode"])
    def test_others_hashed_to_32_chars(self, key):
        topic = derive_topic(key)
        assert topic == b64url_encode(hashlib.sha256(key.encode()).digest()[:24])
        assert len(topic) == 32
        assert derive_topic(key) == topic  # stable

    def test_known_hash(self):
        # Pinned so a change of the derivation (which would stop replacing queued messages) is noticed.
        assert derive_topic("order 1234") == "aoHowXwqLbS0fcC_5_ltYkNR2fa96sij"

    def test_header_from_collapse_key(self):
        assert encode_headers(Notification(title="t", collapse_key="x" * 40))["topic"] == derive_topic("x" * 40)

    def test_explicit_topic_wins(self):
        n = Notification(title="t", collapse_key="order-1234", webpush=WebPushOptions(topic="explicit"))
        assert encode_headers(n)["topic"] == "explicit"

    def test_no_topic_without_collapse_key(self):
        assert "topic" not in encode_headers(Notification(title="t"))


class TestHeaders:
    def test_golden(self):
        assert encode_headers(FULL) == {
            "ttl": "3600",
            "urgency": "high",
            "topic": "order-1234",
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
        }

    @pytest.mark.parametrize(
        ("ttl", "header"),
        [(None, str(DEFAULT_TTL_SECONDS)), (0, "0"), (1, "1"), (timedelta(days=1), "86400"), (2419200, "2419200")],
    )
    def test_ttl_always_present(self, ttl, header):
        assert encode_headers(Notification(title="t", ttl=ttl))["ttl"] == header
        assert DEFAULT_TTL_SECONDS == 2419200

    @pytest.mark.parametrize(
        ("priority", "urgency", "expected"),
        [
            (None, None, None),
            ("high", None, "high"),
            ("normal", None, "normal"),
            ("high", "very-low", "very-low"),
            (None, "low", "low"),
        ],
    )
    def test_urgency(self, priority, urgency, expected):
        n = Notification(title="t", priority=priority, webpush=WebPushOptions(urgency=urgency))
        assert encode_headers(n).get("urgency") == expected

    def test_extra_headers_added(self):
        n = Notification(title="t", webpush=WebPushOptions(extra_headers={"X-WNS-Type": "wns/raw"}))
        headers = encode_headers(n)
        assert headers["x-wns-type"] == "wns/raw"
        assert headers["content-type"] == "application/octet-stream"
