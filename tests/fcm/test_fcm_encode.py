"""Golden FCM v1 messages: exact request bodies for representative notifications."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from unipush._errors import PayloadTooLargeError, ValidationError
from unipush._model import Action, Notification
from unipush._validate import DEFAULT_TTL_SECONDS
from unipush.fcm import FcmCondition, FcmDevice, FcmOptions, FcmTopic
from unipush.fcm._encode import MAX_PAYLOAD_BYTES, MAX_TOPIC_PAYLOAD_BYTES, encode, payload_size

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)  # UNIX 1735689600
EPOCH_NOW = 1_735_689_600
TOKEN = "cXl6OkFQQTkxYkV4YW1wbGVUb2tlbl8xMjM0NTY3ODkw"
DEVICE = FcmDevice(TOKEN)


def message(n: Notification, target: FcmDevice | FcmTopic | FcmCondition = DEVICE) -> dict[str, Any]:
    body = encode(n, target, now=NOW)
    assert set(body) <= {"message", "validate_only"}
    result: dict[str, Any] = body["message"]
    return result


def test_rich_notification_to_a_token() -> None:
    n = Notification(
        title="Order shipped",
        subtitle="Good news",
        body="#1234 is on its way",
        image="https://cdn.example/box.png",
        icon="https://cdn.example/icon.png",
        deep_link="https://shop.example/o/1234",
        actions=[Action("track", "Track", deep_link="https://shop.example/t/1234"), Action("later", "Later")],
        category="ORDER",
        thread_id="orders",
        badge=3,
        sound="default",
        collapse_key="order-1234",
        ttl=3600,
        priority="high",
        data={"order": "1234"},
        fcm=FcmOptions(
            channel_id="orders",
            icon="ic_box",
            color="#1a2B3c",
            click_action="OPEN_ORDER",
            notification_priority="high",
            visibility="private",
            notification_count=2,
            sticky=False,
            local_only=True,
            ticker="Order shipped",
            event_time=datetime(2025, 1, 1, 1, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1))),
            vibrate_timings=[0.5, timedelta(milliseconds=250), 1],
            default_sound=False,
            direct_boot_ok=True,
            restricted_package_name="com.example.shop",
            analytics_label="order_shipped",
        ),
    )
    assert encode(n, DEVICE, now=NOW) == {
        "message": {
            "token": TOKEN,
            "notification": {
                "title": "Order shipped",
                "body": "#1234 is on its way",
                "image": "https://cdn.example/box.png",
            },
            "data": {
                "order": "1234",
                "unipush.deep_link": "https://shop.example/o/1234",
                "unipush.image": "https://cdn.example/box.png",
                "unipush.actions": (
                    '[{"id":"track","title":"Track","deep_link":"https://shop.example/t/1234"},'
                    '{"id":"later","title":"Later"}]'
                ),
            },
            "fcm_options": {"analytics_label": "order_shipped"},
            "android": {
                "collapse_key": "order-1234",
                "priority": "HIGH",
                "ttl": "3600s",
                "restricted_package_name": "com.example.shop",
                "direct_boot_ok": True,
                "notification": {
                    "channel_id": "orders",
                    "icon": "ic_box",
                    "color": "#1a2B3c",
                    "tag": "order-1234",
                    "click_action": "OPEN_ORDER",
                    "sound": "default",
                    "default_sound": False,
                    "notification_priority": "PRIORITY_HIGH",
                    "visibility": "PRIVATE",
                    "notification_count": 2,
                    "sticky": False,
                    "local_only": True,
                    "ticker": "Order shipped",
                    "event_time": "2025-01-01T00:00:00.250Z",
                    "vibrate_timings": ["0.5s", "0.25s", "1s"],
                },
            },
            "apns": {
                "headers": {
                    "apns-priority": "10",
                    "apns-expiration": str(EPOCH_NOW + 3600),
                    "apns-collapse-id": "order-1234",
                    "apns-push-type": "alert",
                },
                "payload": {
                    "aps": {
                        "alert": {"title": "Order shipped", "subtitle": "Good news", "body": "#1234 is on its way"},
                        "badge": 3,
                        "sound": "default",
                        "category": "ORDER",
                        "thread-id": "orders",
                        "mutable-content": 1,
                    },
                    # One place for the iOS app, as in a direct APNs push.
                    "unipush": {
                        "image": "https://cdn.example/box.png",
                        "deep_link": "https://shop.example/o/1234",
                        "actions": {"track": "https://shop.example/t/1234"},
                    },
                },
                "fcm_options": {"image": "https://cdn.example/box.png"},
            },
            "webpush": {
                "headers": {"TTL": "3600", "Urgency": "high", "Topic": "order-1234"},
                "notification": {
                    "icon": "https://cdn.example/icon.png",
                    "tag": "order-1234",
                    "actions": [{"action": "track", "title": "Track"}, {"action": "later", "title": "Later"}],
                },
                "fcm_options": {"link": "https://shop.example/o/1234"},
            },
        }
    }


def test_minimal_alert_uses_the_default_ttl_and_no_priority() -> None:
    assert message(Notification(title="Hi")) == {
        "token": TOKEN,
        "notification": {"title": "Hi"},
        "android": {"ttl": f"{DEFAULT_TTL_SECONDS}s"},
        "apns": {
            "headers": {"apns-expiration": str(EPOCH_NOW + DEFAULT_TTL_SECONDS), "apns-push-type": "alert"},
        },
        "webpush": {"headers": {"TTL": str(DEFAULT_TTL_SECONDS)}},
    }


def test_topic_message() -> None:
    n = Notification(title="Breaking", body="News", priority="normal", ttl=600)
    assert message(n, FcmTopic("/topics/news")) == {
        "topic": "news",
        "notification": {"title": "Breaking", "body": "News"},
        "android": {"priority": "NORMAL", "ttl": "600s"},
        "apns": {
            "headers": {
                "apns-priority": "5",
                "apns-expiration": str(EPOCH_NOW + 600),
                "apns-push-type": "alert",
            }
        },
        "webpush": {"headers": {"TTL": "600", "Urgency": "normal"}},
    }


def test_condition_message() -> None:
    condition = "'stock-GOOG' in topics && ('eu' in topics || 'us' in topics)"
    body = encode(Notification(body="GOOG +2%", ttl=0), FcmCondition(condition), now=NOW)
    assert body == {
        "message": {
            "condition": condition,
            "notification": {"body": "GOOG +2%"},
            "android": {"ttl": "0s"},
            # TTL 0: "deliver now or drop"; APNs says it with an expiration of 0.
            "apns": {"headers": {"apns-expiration": "0", "apns-push-type": "alert"}},
            "webpush": {"headers": {"TTL": "0"}},
        }
    }


def test_silent_push_is_data_only_with_background_apns_headers() -> None:
    n = Notification(content_available=True, data={"sync": "inbox"}, priority="high", ttl=60)
    assert message(n) == {
        "token": TOKEN,
        "data": {"sync": "inbox"},
        "android": {"priority": "HIGH", "ttl": "60s"},
        "apns": {
            # Background pushes must be priority 5 even when priority="high" (Apple rejects 10).
            "headers": {
                "apns-priority": "5",
                "apns-expiration": str(EPOCH_NOW + 60),
                "apns-push-type": "background",
            },
            "payload": {"aps": {"content-available": 1}},
        },
        "webpush": {"headers": {"TTL": "60", "Urgency": "high"}},
    }


def test_data_only_message_without_content_available_still_uses_apns_priority_5() -> None:
    msg = message(Notification(data={"k": "v"}))
    assert "notification" not in msg
    assert msg["apns"]["headers"]["apns-priority"] == "5"
    assert msg["apns"]["headers"]["apns-push-type"] == "background"
    # Apple delivers a background push to the app only with content-available: 1.
    assert msg["apns"]["payload"] == {"aps": {"content-available": 1}}


def test_silent_push_drops_display_only_fields() -> None:
    n = Notification(
        content_available=True,
        image="https://cdn.example/i.png",
        deep_link="https://shop.example/x",
        collapse_key="sync",
        fcm=FcmOptions(channel_id="c", tag="t"),
    )
    msg = message(n)
    assert "notification" not in msg
    assert "notification" not in msg["android"]
    assert "notification" not in msg["webpush"]
    assert "fcm_options" not in msg["webpush"]
    assert "fcm_options" not in msg["apns"]
    assert msg["apns"]["payload"] == {
        "aps": {"content-available": 1},
        "unipush": {"image": "https://cdn.example/i.png", "deep_link": "https://shop.example/x"},
    }
    # What the app needs still travels in data.
    assert msg["data"] == {"unipush.deep_link": "https://shop.example/x", "unipush.image": "https://cdn.example/i.png"}


def test_collapse_key_maps_to_every_platform() -> None:
    msg = message(Notification(title="Score", collapse_key="match-42"))
    assert msg["android"]["collapse_key"] == "match-42"
    assert msg["android"]["notification"] == {"tag": "match-42"}
    assert msg["apns"]["headers"]["apns-collapse-id"] == "match-42"
    assert msg["webpush"]["headers"]["Topic"] == "match-42"
    assert msg["webpush"]["notification"] == {"tag": "match-42"}


def test_fcm_tag_overrides_the_collapse_key_tag() -> None:
    msg = message(Notification(title="Score", collapse_key="match-42", fcm=FcmOptions(tag="scores")))
    assert msg["android"]["notification"]["tag"] == "scores"
    assert msg["android"]["collapse_key"] == "match-42"


@pytest.mark.parametrize(
    "collapse_key",
    [
        "a" * 33,  # longer than RFC 8030's 32 characters
        "order 1234",  # a space is outside the base64url alphabet
        "abcde",  # length 1 (mod 4) is refused by Apple's push service
    ],
)
def test_webpush_topic_is_hashed_when_the_key_does_not_fit(collapse_key: str) -> None:
    topic = message(Notification(title="x", collapse_key=collapse_key))["webpush"]["headers"]["Topic"]
    assert topic != collapse_key
    assert len(topic) == 32
    assert set(topic) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # Stable: the same key always gives the same topic.
    assert message(Notification(title="y", collapse_key=collapse_key))["webpush"]["headers"]["Topic"] == topic


def test_collapse_key_longer_than_apns_allows_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        encode(Notification(title="x", collapse_key="k" * 65), DEVICE, now=NOW)
    assert info.value.field == "collapse_key"
    assert "64" in info.value.message


def test_validate_only_is_a_top_level_flag() -> None:
    body = encode(Notification(title="dry", fcm=FcmOptions(validate_only=True)), DEVICE, now=NOW)
    assert body["validate_only"] is True
    assert "validate_only" not in body["message"]
    assert "validate_only" not in encode(Notification(title="wet"), DEVICE, now=NOW)


def test_raw_overrides_are_deep_merged_last() -> None:
    n = Notification(
        title="Hi",
        collapse_key="c1",
        priority="high",
        fcm=FcmOptions(
            channel_id="news",
            android={"notification": {"light_settings": {"color": {"red": 1.0}}, "tag": None}, "priority": "NORMAL"},
            apns={"headers": {"apns-priority": "5"}, "payload": {"aps": {"interruption-level": "passive"}}},
            webpush={"data": {"only": "web"}, "headers": {"Urgency": "low"}},
            message={"fcm_options": {"analytics_label": "raw"}, "android": {"bandwidth_constrained_ok": True}},
        ),
    )
    msg = message(n)
    assert msg["android"] == {
        "collapse_key": "c1",
        "priority": "NORMAL",
        "ttl": f"{DEFAULT_TTL_SECONDS}s",
        "notification": {"channel_id": "news", "light_settings": {"color": {"red": 1.0}}},
        "bandwidth_constrained_ok": True,
    }
    assert msg["apns"]["headers"]["apns-priority"] == "5"
    assert msg["apns"]["headers"]["apns-collapse-id"] == "c1"
    assert msg["apns"]["payload"] == {"aps": {"interruption-level": "passive"}}
    assert msg["webpush"]["data"] == {"only": "web"}
    assert msg["webpush"]["headers"] == {"TTL": str(DEFAULT_TTL_SECONDS), "Urgency": "low", "Topic": "c1"}
    assert msg["fcm_options"] == {"analytics_label": "raw"}
    # The result is plain JSON data.
    json.dumps(msg)


def test_raw_override_does_not_leak_between_encodes() -> None:
    opts = FcmOptions(android={"notification": {"color": "#000000"}})
    first = message(Notification(title="a", fcm=opts))
    first["android"]["notification"]["color"] = "#ffffff"
    assert message(Notification(title="b", fcm=opts))["android"]["notification"]["color"] == "#000000"


def test_localised_android_notification_without_a_title_is_visible() -> None:
    n = Notification(fcm=FcmOptions(title_loc_key="order_title", title_loc_args=["1234"], body_loc_key="order_body"))
    msg = message(n)
    assert "notification" not in msg  # nothing cross-platform to show
    assert msg["android"]["notification"] == {
        "title_loc_key": "order_title",
        "body_loc_key": "order_body",
        "title_loc_args": ["1234"],
    }
    assert msg["apns"]["headers"]["apns-push-type"] == "alert"
    assert "apns-priority" not in msg["apns"]["headers"]


def test_webpush_link_only_for_https_deep_links() -> None:
    assert "fcm_options" not in message(Notification(title="x", deep_link="shop://o/1"))["webpush"]
    assert message(Notification(title="x", deep_link="shop://o/1"))["data"] == {"unipush.deep_link": "shop://o/1"}


def test_timestamps_and_durations_use_protobuf_json_forms() -> None:
    opts = FcmOptions(
        event_time=datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
        vibrate_timings=[0, 0.1, timedelta(seconds=2, microseconds=5)],
    )
    shown = message(Notification(title="x", fcm=opts))["android"]["notification"]
    assert shown["event_time"] == "2025-03-01T12:00:00.123456Z"
    assert shown["vibrate_timings"] == ["0s", "0.1s", "2.000005s"]
    opts = FcmOptions(event_time=datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc))
    assert message(Notification(title="x", fcm=opts))["android"]["notification"]["event_time"] == "2025-03-01T12:00:00Z"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        encode(Notification(title="x"), DEVICE, now=datetime(2025, 1, 1))
    assert info.value.field == "now"


# --- data keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "from",
        "message_type",
        "collapse_key",
        "google.c.a.e",
        "gcm.notification.title",
        "gcm.n.e",
        "aps",
        "unipush",
        "unipush.deep_link",
    ],
)
def test_reserved_data_keys_are_refused(key: str) -> None:
    with pytest.raises(ValidationError) as info:
        encode(Notification(data={key: "x"}), DEVICE, now=NOW)
    assert info.value.field == "data"
    assert repr(key) in info.value.message


@pytest.mark.parametrize("key", ["From", "fromage", "googleplex", "gcm", "message", "collapse", "unipushed"])
def test_lookalike_data_keys_are_allowed(key: str) -> None:
    assert message(Notification(data={key: "x"}))["data"] == {key: "x"}


def test_non_string_data_values_are_refused_by_the_model() -> None:
    with pytest.raises(ValidationError) as info:
        Notification(data={"count": 3})  # type: ignore[dict-item]
    assert info.value.field == "data['count']"


# --- size -----------------------------------------------------------------------------------------


def _data_of_size(size: int) -> dict[str, str]:
    """A data map whose keys and values add up to exactly ``size`` bytes."""
    return {"k": "v" * (size - 1)}


def test_payload_size_counts_data_and_notification_keys_and_values() -> None:
    msg = {
        "data": {"ab": "cdé"},  # 2 + 4 (é is two bytes)
        "notification": {"title": "Hi"},  # 5 + 2
        "android": {"notification": {"body": "x" * 1000}},  # not counted
    }
    assert payload_size(msg) == 13


def test_token_messages_may_carry_4096_bytes() -> None:
    message(Notification(data=_data_of_size(MAX_PAYLOAD_BYTES)))
    with pytest.raises(PayloadTooLargeError) as info:
        message(Notification(data=_data_of_size(MAX_PAYLOAD_BYTES + 1)))
    assert info.value.size == MAX_PAYLOAD_BYTES + 1
    assert info.value.limit == 4096
    assert info.value.provider == "fcm"


@pytest.mark.parametrize("target", [FcmTopic("news"), FcmCondition("'news' in topics")])
def test_topic_and_condition_messages_are_limited_to_2048_bytes(target: FcmTopic | FcmCondition) -> None:
    message(Notification(data=_data_of_size(MAX_TOPIC_PAYLOAD_BYTES)), target)
    with pytest.raises(PayloadTooLargeError) as info:
        message(Notification(data=_data_of_size(MAX_TOPIC_PAYLOAD_BYTES + 1)), target)
    assert info.value.limit == 2048


def test_size_includes_unipush_keys_and_notification_fields() -> None:
    title = "t" * 100
    base = len("title") + len(title) + len("unipush.deep_link") + len("https://a.example/")
    n = Notification(title=title, deep_link="https://a.example/", data=_data_of_size(MAX_PAYLOAD_BYTES - base))
    message(n)
    with pytest.raises(PayloadTooLargeError):
        message(Notification(title=title + "t", deep_link="https://a.example/", data=_data_of_size(4096 - base)))


def test_size_is_measured_after_raw_overrides() -> None:
    n = Notification(title="x", fcm=FcmOptions(message={"data": {"big": "b" * 5000}}))
    with pytest.raises(PayloadTooLargeError):
        message(n)
