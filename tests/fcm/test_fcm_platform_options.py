"""Issue 10, point 1: ``ApnsOptions`` and ``WebPushOptions`` reach ``message.apns`` and ``message.webpush``.

Golden bodies: the APNs part is made by the builder the APNs encoder uses (``unipush._payload.apple.build``), so each
case also checks that ``payload.aps`` is the direct APNs encoder's ``aps`` (less the alert FCM copies from
``message.notification``). What FCM cannot carry is a ``ValidationError`` naming the option.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from unipush import ApnsOptions, Notification, ValidationError, WebPushOptions
from unipush.apns._encode import encode as apns_encode
from unipush.fcm import FcmCondition, FcmDevice, FcmOptions, FcmTopic
from unipush.fcm._encode import encode

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)  # UNIX 1735689600
EPOCH_NOW = 1_735_689_600
DEFAULT_EXPIRATION = str(EPOCH_NOW + 2_419_200)
TOKEN = "fcm-registration-token"
DEVICE = FcmDevice(TOKEN)
ACTIVITY_TOKEN = "80f3a1" * 10
APNS_ID = "123e4567-e89b-12d3-a456-426614174000"


def body(n: Notification, target: FcmDevice | FcmTopic | FcmCondition = DEVICE) -> dict[str, Any]:
    return encode(n, target, now=NOW)


def direct_aps(n: Notification) -> dict[str, Any]:
    payload, _ = apns_encode(n, topic="com.example.app", now=NOW, apns_id=APNS_ID)
    aps: dict[str, Any] = payload["aps"]
    return aps


def test_time_sensitive_notification() -> None:
    n = Notification(
        title="Your driver is here",
        body="Gate B, silver Prius",
        thread_id="ride-42",
        category="RIDE",
        collapse_key="ride-42",
        priority="high",
        ttl=600,
        apns=ApnsOptions(
            interruption_level="time-sensitive",
            relevance_score=0.9,
            target_content_id="ride-42",
            filter_criteria="rides",
        ),
    )
    assert body(n) == {
        "message": {
            "token": TOKEN,
            "notification": {"title": "Your driver is here", "body": "Gate B, silver Prius"},
            "android": {
                "collapse_key": "ride-42",
                "priority": "HIGH",
                "ttl": "600s",
                "notification": {"tag": "ride-42"},
            },
            "apns": {
                "headers": {
                    "apns-push-type": "alert",
                    "apns-expiration": str(EPOCH_NOW + 600),
                    "apns-priority": "10",
                    "apns-collapse-id": "ride-42",
                },
                "payload": {
                    "aps": {
                        "thread-id": "ride-42",
                        "category": "RIDE",
                        "target-content-id": "ride-42",
                        "interruption-level": "time-sensitive",
                        "relevance-score": 0.9,
                        "filter-criteria": "rides",
                    }
                },
            },
            "webpush": {
                "headers": {"TTL": "600", "Urgency": "high", "Topic": "ride-42"},
                "notification": {"tag": "ride-42"},
            },
        }
    }
    # The same aps as a direct APNs push, less the title and body FCM copies from message.notification.
    direct = direct_aps(n)
    assert direct.pop("alert") == {"title": "Your driver is here", "body": "Gate B, silver Prius"}
    assert body(n)["message"]["apns"]["payload"]["aps"] == direct


def test_critical_alert_to_a_topic_sends_the_critical_sound_dictionary() -> None:
    n = Notification(
        title="Smoke alarm",
        body="Kitchen",
        sound="alarm.caf",
        apns=ApnsOptions(interruption_level="critical", critical_sound=0.8),
    )
    assert body(n, FcmTopic("home-1234")) == {
        "message": {
            "topic": "home-1234",
            "notification": {"title": "Smoke alarm", "body": "Kitchen"},
            "android": {"ttl": "2419200s", "notification": {"sound": "alarm.caf"}},
            "apns": {
                "headers": {"apns-push-type": "alert", "apns-expiration": DEFAULT_EXPIRATION},
                "payload": {
                    "aps": {
                        "sound": {"critical": 1, "name": "alarm.caf", "volume": 0.8},
                        "interruption-level": "critical",
                    }
                },
            },
            "webpush": {"headers": {"TTL": "2419200"}},
        }
    }


def test_live_activity_start_uses_the_live_activity_token() -> None:
    n = Notification(
        title="Delivery started",
        body="Arriving in 15 min",
        sound="chime.aiff",
        priority="high",
        apns=ApnsOptions(
            event="start",
            attributes_type="DeliveryAttributes",
            attributes={"orderId": "1234"},
            content_state={"eta": 15},
            relevance_score=75,
            stale_date=datetime(2025, 1, 1, 1, tzinfo=timezone.utc),
        ),
        fcm=FcmOptions(live_activity_token=ACTIVITY_TOKEN),
    )
    assert body(n) == {
        "message": {
            "token": TOKEN,
            "notification": {"title": "Delivery started", "body": "Arriving in 15 min"},
            "android": {"priority": "HIGH", "ttl": "2419200s", "notification": {"sound": "chime.aiff"}},
            "apns": {
                "headers": {
                    "apns-push-type": "liveactivity",
                    "apns-expiration": DEFAULT_EXPIRATION,
                    "apns-priority": "10",
                },
                "live_activity_token": ACTIVITY_TOKEN,
                "payload": {
                    "aps": {
                        "alert": {"title": "Delivery started", "body": "Arriving in 15 min", "sound": "chime.aiff"},
                        "relevance-score": 75.0,
                        "timestamp": EPOCH_NOW,
                        "event": "start",
                        "content-state": {"eta": 15},
                        "stale-date": EPOCH_NOW + 3600,
                        "attributes-type": "DeliveryAttributes",
                        "attributes": {"orderId": "1234"},
                    }
                },
            },
            "webpush": {"headers": {"TTL": "2419200", "Urgency": "high"}},
        }
    }
    assert body(n)["message"]["apns"]["payload"]["aps"] == direct_aps(n)


def test_live_activity_update_is_not_a_background_push() -> None:
    n = Notification(
        apns=ApnsOptions(event="update", content_state={"eta": 5}, timestamp=EPOCH_NOW - 60, dismissal_date=None),
        fcm=FcmOptions(live_activity_token=ACTIVITY_TOKEN),
    )
    apns = body(n)["message"]["apns"]
    assert apns == {
        "headers": {"apns-push-type": "liveactivity", "apns-expiration": DEFAULT_EXPIRATION},
        "live_activity_token": ACTIVITY_TOKEN,
        "payload": {"aps": {"timestamp": EPOCH_NOW - 60, "event": "update", "content-state": {"eta": 5}}},
    }


def test_localised_alert_to_a_condition() -> None:
    n = Notification(
        subtitle="Order 1234",
        apns=ApnsOptions(
            title_loc_key="SHIPPED_TITLE",
            title_loc_args=["1234"],
            subtitle_loc_key="SHIPPED_SUB",
            loc_key="SHIPPED_BODY",
            loc_args=["Ann", "15"],
            launch_image="Launch.png",
            mutable_content=True,
            extra={"order": {"id": 1234}},
        ),
    )
    message = body(n, FcmCondition("'orders' in topics"))["message"]
    # A subtitle makes it an FCM notification message, so the alert goes whole, with the loc keys.
    assert message["apns"] == {
        "headers": {"apns-push-type": "alert", "apns-expiration": DEFAULT_EXPIRATION},
        "payload": {
            "aps": {
                "alert": {
                    "subtitle": "Order 1234",
                    "launch-image": "Launch.png",
                    "title-loc-key": "SHIPPED_TITLE",
                    "title-loc-args": ["1234"],
                    "subtitle-loc-key": "SHIPPED_SUB",
                    "loc-key": "SHIPPED_BODY",
                    "loc-args": ["Ann", "15"],
                },
                "mutable-content": 1,
            },
            "order": {"id": 1234},
        },
    }
    assert message["apns"]["payload"]["aps"] == direct_aps(n)


def test_localised_alert_without_text_is_an_fcm_data_message_with_priority_5() -> None:
    n = Notification(priority="high", apns=ApnsOptions(loc_key="PING"))
    message = body(n)["message"]
    assert "notification" not in message
    assert message["apns"]["headers"] == {
        "apns-push-type": "alert",
        "apns-expiration": DEFAULT_EXPIRATION,
        # FCM, "Set the priority of a message": data messages to Apple devices must use 5.
        "apns-priority": "5",
    }
    assert message["apns"]["payload"] == {"aps": {"alert": {"loc-key": "PING"}}}


def test_webpush_options_reach_message_webpush() -> None:
    n = Notification(
        title="Order shipped",
        body="#1234 is on its way",
        image="https://cdn.example/box.png",
        icon="https://cdn.example/icon.png",
        collapse_key="order 1234",
        priority="normal",
        ttl=3600,
        webpush=WebPushOptions(
            urgency="low",
            topic="order-1234",
            require_interaction=True,
            renotify=True,
            lang="en-GB",
            dir="ltr",
            badge="https://cdn.example/badge.png",
            vibrate=[200, 100, 200],
            timestamp=datetime(2026, 1, 15, 12, tzinfo=timezone.utc),
            extra_headers={"X-WNS-Type": "wns/toast"},
        ),
    )
    assert body(n)["message"]["webpush"] == {
        "headers": {"TTL": "3600", "Urgency": "low", "Topic": "order-1234", "x-wns-type": "wns/toast"},
        "notification": {
            "lang": "en-GB",
            "dir": "ltr",
            "tag": "order 1234",
            "icon": "https://cdn.example/icon.png",
            "badge": "https://cdn.example/badge.png",
            "vibrate": [200, 100, 200],
            "timestamp": 1768478400000,
            "renotify": True,
            "requireInteraction": True,
        },
    }
    silent = Notification(title="t", webpush=WebPushOptions(silent=True))
    assert body(silent)["message"]["webpush"]["notification"] == {"silent": True}


@pytest.mark.parametrize(
    ("notification", "target", "field", "words"),
    [
        (Notification(title="t", apns=ApnsOptions(push_type="voip")), DEVICE, "apns.push_type", "'voip' cannot"),
        (Notification(data={"k": "v"}, apns=ApnsOptions(push_type="pushtotalk")), DEVICE, "apns.push_type", "APNs"),
        (Notification(apns=ApnsOptions(push_type="widgets")), DEVICE, "apns.push_type", "widgets"),
        (
            Notification(apns=ApnsOptions(event="update", content_state={"eta": 5})),
            DEVICE,
            "fcm.live_activity_token",
            "is required",
        ),
        (
            Notification(apns=ApnsOptions(event="end"), fcm=FcmOptions(live_activity_token=ACTIVITY_TOKEN)),
            FcmTopic("news"),
            "apns.event",
            "FcmDevice",
        ),
        (
            Notification(title="t", fcm=FcmOptions(live_activity_token=ACTIVITY_TOKEN)),
            DEVICE,
            "fcm.live_activity_token",
            "apns.event",
        ),
        (Notification(data={"k": "v"}, apns=ApnsOptions(priority=10)), DEVICE, "apns.priority", "must be 5"),
        (Notification(title="t", webpush=WebPushOptions(mutable=True)), DEVICE, "webpush.mutable", "Declarative"),
        (
            Notification(title="t", webpush=WebPushOptions(payload_format="raw", raw_payload=b"x")),
            DEVICE,
            "webpush.payload_format",
            "raw",
        ),
        (Notification(data={"k": "v"}, webpush=WebPushOptions(lang="en")), DEVICE, "webpush.lang", "data message"),
        (Notification(title="t", webpush=WebPushOptions(renotify=True)), DEVICE, "webpush.renotify", "tag"),
    ],
)
def test_what_fcm_cannot_carry_is_an_error_naming_it(
    notification: Notification, target: FcmDevice | FcmTopic, field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        body(notification, target)
    assert info.value.field == field
    assert words in info.value.message


def test_apple_rules_apply_through_fcm_too() -> None:
    # One builder: a Live Activity start without an alert is refused whichever way it goes.
    start = Notification(
        apns=ApnsOptions(event="start", attributes_type="A", attributes={}, content_state={}),
        fcm=FcmOptions(live_activity_token=ACTIVITY_TOKEN),
    )
    with pytest.raises(ValidationError) as info:
        body(start)
    assert info.value.field == "apns.event"


def test_data_message_gets_content_available_like_a_direct_background_push() -> None:
    n = Notification(data={"sync": "1"})
    aps = body(n)["message"]["apns"]["payload"]["aps"]
    assert aps == direct_aps(n) == {"content-available": 1}
