"""Golden-payload tests for the pure APNs encoder."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import pytest

from unipush._errors import PayloadTooLargeError, ValidationError
from unipush._model import Action, Notification
from unipush._payload.apple import infer_push_type
from unipush.apns import ApnsOptions, ApnsPushType
from unipush.apns._encode import dumps, encode, render, topic_for

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # 1735787045
NOW_S = 1735787045
APNS_ID = "123e4567-e89b-12d3-a456-426614174000"
TOPIC = "com.example.app"


def enc(n: Notification, **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
    return encode(n, topic=kwargs.pop("topic", TOPIC), now=kwargs.pop("now", NOW), apns_id=APNS_ID, **kwargs)


def test_alert_with_everything() -> None:
    n = Notification(
        title="Order shipped",
        subtitle="Today",
        body="#1234 is on its way",
        deep_link="https://shop.example/o/1234",
        image="https://cdn.example/box.png",
        badge=1,
        sound="default",
        collapse_key="order-1234",
        ttl=3600,
        priority="high",
        category="ORDER",
        thread_id="orders",
        actions=[Action("track", "Track", deep_link="myapp://track/1234"), Action("dismiss", "Dismiss")],
        data={"order_id": "1234"},
        apns=ApnsOptions(
            interruption_level="time-sensitive",
            relevance_score=0.75,
            target_content_id="order-1234",
            filter_criteria="work",
            title_loc_key="SHIPPED_TITLE",
            title_loc_args=["1234"],
            subtitle_loc_key="SHIPPED_SUB",
            subtitle_loc_args=["today"],
            loc_key="SHIPPED_BODY",
            loc_args=["1234", "DHL"],
            launch_image="Launch.png",
            extra={"meta": {"v": 1, "tags": ("a", "b")}},
        ),
    )
    payload, headers = enc(n)
    assert payload == {
        "aps": {
            "alert": {
                "title": "Order shipped",
                "subtitle": "Today",
                "body": "#1234 is on its way",
                "launch-image": "Launch.png",
                "title-loc-key": "SHIPPED_TITLE",
                "title-loc-args": ["1234"],
                "subtitle-loc-key": "SHIPPED_SUB",
                "subtitle-loc-args": ["today"],
                "loc-key": "SHIPPED_BODY",
                "loc-args": ["1234", "DHL"],
            },
            "badge": 1,
            "sound": "default",
            "thread-id": "orders",
            "category": "ORDER",
            "mutable-content": 1,
            "target-content-id": "order-1234",
            "interruption-level": "time-sensitive",
            "relevance-score": 0.75,
            "filter-criteria": "work",
        },
        "order_id": "1234",
        "meta": {"v": 1, "tags": ["a", "b"]},
        "unipush": {
            "image": "https://cdn.example/box.png",
            "deep_link": "https://shop.example/o/1234",
            "actions": {"track": "myapp://track/1234"},
        },
    }
    assert headers == {
        "apns-push-type": "alert",
        "apns-topic": "com.example.app",
        "apns-id": APNS_ID,
        "apns-expiration": str(NOW_S + 3600),
        "apns-priority": "10",
        "apns-collapse-id": "order-1234",
        "content-type": "application/json",
    }


def test_minimal_alert_and_compact_body() -> None:
    n = Notification(title="Hi", body="Thé")
    payload, headers, body = render(n, topic=TOPIC, now=NOW, apns_id=APNS_ID)
    assert payload == {"aps": {"alert": {"title": "Hi", "body": "Thé"}}}
    # Compact, UTF-8, not ASCII-escaped: the size APNs counts.
    assert body == '{"aps":{"alert":{"title":"Hi","body":"Thé"}}}'.encode()
    assert headers == {
        "apns-push-type": "alert",
        "apns-topic": TOPIC,
        "apns-id": APNS_ID,
        "apns-expiration": str(NOW_S + 2419200),
        "content-type": "application/json",
    }
    assert (payload, headers) == enc(n)


def test_badge_only_and_sound_only_are_alert_pushes() -> None:
    assert enc(Notification(badge=0))[0] == {"aps": {"badge": 0}}
    payload, headers = enc(Notification(sound="ping.caf"))
    assert payload == {"aps": {"sound": "ping.caf"}}
    assert headers["apns-push-type"] == "alert"


def test_background_push() -> None:
    n = Notification(content_available=True, data={"sync": "inbox"}, priority="high")
    payload, headers = enc(n)
    assert payload == {"aps": {"content-available": 1}, "sync": "inbox"}
    assert headers == {
        "apns-push-type": "background",
        "apns-topic": TOPIC,
        "apns-id": APNS_ID,
        "apns-expiration": str(NOW_S + 2419200),
        # Always 5 for background, even when the notification asks for high priority.
        "apns-priority": "5",
        "content-type": "application/json",
    }


def test_data_only_is_a_background_push_with_content_available() -> None:
    payload, headers = enc(Notification(data={"k": "v"}))
    assert payload == {"aps": {"content-available": 1}, "k": "v"}
    assert headers["apns-push-type"] == "background"
    assert headers["apns-priority"] == "5"


def test_content_available_with_alert_stays_alert() -> None:
    payload, headers = enc(Notification(title="t", content_available=True))
    assert payload == {"aps": {"alert": {"title": "t"}, "content-available": 1}}
    assert headers["apns-push-type"] == "alert"
    assert "apns-priority" not in headers


def test_nothing_to_send() -> None:
    with pytest.raises(ValidationError) as info:
        enc(Notification())
    assert info.value.field == "notification"
    # An image alone shows nothing either.
    with pytest.raises(ValidationError):
        enc(Notification(image="https://cdn.example/a.png"))


def test_forced_background_refuses_visible_content() -> None:
    n = Notification(title="t", apns=ApnsOptions(push_type="background"))
    with pytest.raises(ValidationError) as info:
        enc(n)
    assert info.value.field == "apns.push_type"
    n = Notification(content_available=True, apns=ApnsOptions(push_type="background", critical_sound=True))
    with pytest.raises(ValidationError):
        enc(n)


@pytest.mark.parametrize("priority", [1, 10])
def test_background_refuses_priority_other_than_5(priority: Literal[1, 10]) -> None:
    n = Notification(content_available=True, apns=ApnsOptions(priority=priority))
    with pytest.raises(ValidationError) as info:
        enc(n)
    assert info.value.field == "apns.priority"
    assert enc(Notification(content_available=True, apns=ApnsOptions(priority=5)))[1]["apns-priority"] == "5"


@pytest.mark.parametrize(
    ("priority", "override", "expected"),
    [(None, None, None), ("high", None, "10"), ("normal", None, "5"), ("high", 5, "5"), (None, 1, "1")],
)
def test_priority(priority: Any, override: Any, expected: str | None) -> None:
    n = Notification(title="t", priority=priority, apns=ApnsOptions(priority=override))
    assert enc(n)[1].get("apns-priority") == expected


def test_image_sets_mutable_content_and_unipush_image() -> None:
    payload, _ = enc(Notification(title="t", image="https://cdn.example/a.png"))
    assert payload == {
        "aps": {"alert": {"title": "t"}, "mutable-content": 1},
        "unipush": {"image": "https://cdn.example/a.png"},
    }


def test_image_on_background_push_does_not_set_mutable_content() -> None:
    payload, _ = enc(Notification(content_available=True, image="https://cdn.example/a.png"))
    assert payload == {"aps": {"content-available": 1}, "unipush": {"image": "https://cdn.example/a.png"}}


def test_forced_mutable_content() -> None:
    payload, _ = enc(Notification(body="b", apns=ApnsOptions(mutable_content=True)))
    assert payload == {"aps": {"alert": {"body": "b"}, "mutable-content": 1}}


def test_actions_without_links_add_no_unipush_key() -> None:
    payload, _ = enc(Notification(title="t", category="C", actions=[Action("a", "A")]))
    assert payload == {"aps": {"alert": {"title": "t"}, "category": "C"}}


@pytest.mark.parametrize(
    ("collapse_key", "ok"),
    [("x" * 64, True), ("x" * 65, False), ("é" * 32, True), ("é" * 32 + "x", False)],
)
def test_collapse_id_limit_is_64_utf8_bytes(collapse_key: str, ok: bool) -> None:
    n = Notification(title="t", collapse_key=collapse_key)
    if ok:
        assert enc(n)[1]["apns-collapse-id"] == collapse_key
    else:
        with pytest.raises(ValidationError) as info:
            enc(n)
        assert info.value.field == "collapse_key"
        assert "64" in str(info.value)
        assert "65" in str(info.value)


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [(0, "0"), (None, str(NOW_S + 2419200)), (3600, str(NOW_S + 3600)), (timedelta(days=1), str(NOW_S + 86400))],
)
def test_expiration(ttl: Any, expected: str) -> None:
    assert enc(Notification(title="t", ttl=ttl))[1]["apns-expiration"] == expected


def test_expiration_uses_the_instant_not_the_timezone() -> None:
    other_zone = NOW.astimezone(timezone(timedelta(hours=5)))
    assert enc(Notification(title="t", ttl=10), now=other_zone)[1]["apns-expiration"] == str(NOW_S + 10)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        enc(Notification(title="t"), now=datetime(2025, 1, 1))


@pytest.mark.parametrize("apns_id", ["nope", APNS_ID.upper(), APNS_ID.replace("-", "")])
def test_apns_id_must_be_canonical_lowercase_uuid(apns_id: str) -> None:
    with pytest.raises(ValidationError) as info:
        encode(Notification(title="t"), topic=TOPIC, now=NOW, apns_id=apns_id)
    assert info.value.field == "apns_id"


@pytest.mark.parametrize(
    ("push_type", "topic"),
    [
        ("alert", "com.example.app"),
        ("background", "com.example.app"),
        ("location", "com.example.app.location-query"),
        ("voip", "com.example.app.voip"),
        ("complication", "com.example.app.complication"),
        ("fileprovider", "com.example.app.pushkit.fileprovider"),
        ("mdm", "com.example.app"),
        ("pushtotalk", "com.example.app.voip-ptt"),
        ("widgets", "com.example.app.push-type.widgets"),
        ("controls", "com.example.app.push-type.controls"),
    ],
)
def test_topic_suffix_per_push_type(push_type: str, topic: str) -> None:
    options = ApnsOptions(push_type=push_type)  # type: ignore[arg-type]
    # An alert push must show something (the push type matches the payload); the others carry data.
    n = Notification(body="b", apns=options) if push_type == "alert" else Notification(data={"k": "v"}, apns=options)
    headers = enc(n)[1]
    assert headers["apns-push-type"] == push_type
    assert headers["apns-topic"] == topic
    assert topic_for(TOPIC, ApnsPushType(push_type)) == topic


def test_liveactivity_topic_suffix() -> None:
    assert topic_for(TOPIC, ApnsPushType.LIVEACTIVITY) == "com.example.app.push-type.liveactivity"


def test_voip_push() -> None:
    n = Notification(data={"caller": "Ann"}, apns=ApnsOptions(push_type=ApnsPushType.VOIP))
    payload, headers = enc(n)
    assert payload == {"aps": {}, "caller": "Ann"}
    assert headers["apns-topic"] == "com.example.app.voip"
    assert headers["apns-push-type"] == "voip"


def test_widgets_and_controls_carry_content_changed() -> None:
    for push_type in ("widgets", "controls"):
        payload, _ = enc(Notification(apns=ApnsOptions(push_type=push_type), data={"k": "v"}))
        assert payload["aps"] == {"content-changed": True}


def test_critical_sound() -> None:
    n = Notification(title="t", sound="alarm.caf", apns=ApnsOptions(critical_sound=0.5, interruption_level="critical"))
    assert enc(n)[0]["aps"]["sound"] == {"critical": 1, "name": "alarm.caf", "volume": 0.5}
    n = Notification(title="t", apns=ApnsOptions(critical_sound=True))
    assert enc(n)[0]["aps"]["sound"] == {"critical": 1, "name": "default"}


def test_live_activity_start() -> None:
    n = Notification(
        title="Delivery started",
        body="Your order is on its way",
        sound="default",
        apns=ApnsOptions(
            event="start",
            attributes_type="DeliveryAttributes",
            attributes={"orderId": "1234"},
            content_state={"eta": 15, "driver": {"name": "Ann"}},
            stale_date=datetime(2025, 1, 2, 4, 4, 5, tzinfo=timezone.utc),
            input_push_token=True,
            input_push_channel="dHN0LXNyY2gtY2hubA==",
            relevance_score=1,
        ),
    )
    payload, headers = enc(n)
    assert payload == {
        "aps": {
            # ActivityKit: a Live Activity's sound is part of its alert.
            "alert": {"title": "Delivery started", "body": "Your order is on its way", "sound": "default"},
            "relevance-score": 1.0,
            "timestamp": NOW_S,
            "event": "start",
            "content-state": {"eta": 15, "driver": {"name": "Ann"}},
            "stale-date": NOW_S + 3600,
            "attributes-type": "DeliveryAttributes",
            "attributes": {"orderId": "1234"},
            "input-push-token": 1,
            "input-push-channel": "dHN0LXNyY2gtY2hubA==",
        }
    }
    assert headers["apns-push-type"] == "liveactivity"
    assert headers["apns-topic"] == "com.example.app.push-type.liveactivity"
    assert json.loads(dumps(payload)) == payload


def test_live_activity_update_and_end() -> None:
    update = Notification(apns=ApnsOptions(event="update", content_state={"eta": 5}, timestamp=NOW_S - 60))
    payload, headers = enc(update)
    assert payload == {"aps": {"timestamp": NOW_S - 60, "event": "update", "content-state": {"eta": 5}}}
    assert headers["apns-push-type"] == "liveactivity"
    assert "apns-priority" not in headers
    end = Notification(
        priority="normal",
        apns=ApnsOptions(
            event="end",
            content_state={"eta": 0},
            dismissal_date=datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone.utc),
        ),
    )
    payload, headers = enc(end)
    assert payload == {
        "aps": {"timestamp": NOW_S, "event": "end", "content-state": {"eta": 0}, "dismissal-date": NOW_S + 7200}
    }
    assert headers["apns-priority"] == "5"


def test_reserved_data_keys_are_refused() -> None:
    for key in ("aps", "unipush", "unipush.image"):
        with pytest.raises(ValidationError) as info:
            enc(Notification(title="t", data={key: "x"}))
        assert info.value.field == "data"


def test_extra_may_not_repeat_a_data_key() -> None:
    with pytest.raises(ValidationError) as info:
        enc(Notification(title="t", data={"k": "v"}, apns=ApnsOptions(extra={"k": 1})))
    assert info.value.field == "apns.extra"


def _sized(limit: int, push_type: str | None) -> Notification:
    """A notification whose payload is exactly ``limit`` bytes."""
    options = ApnsOptions(push_type=push_type) if push_type else None  # type: ignore[arg-type]

    def build(size: int) -> Notification:
        return Notification(title="t", data={"pad": "x" * size}, apns=options)

    base = len(render(build(0), topic=TOPIC, now=NOW, apns_id=APNS_ID)[2])
    return build(limit - base)


@pytest.mark.parametrize(("push_type", "limit"), [(None, 4096), ("voip", 5120)])
def test_payload_size_limits(push_type: str | None, limit: int) -> None:
    n = _sized(limit, push_type)
    assert len(render(n, topic=TOPIC, now=NOW, apns_id=APNS_ID)[2]) == limit
    over = Notification(title="t", data={"pad": n.data["pad"] + "x"}, apns=n.apns)
    with pytest.raises(PayloadTooLargeError) as info:
        enc(over)
    assert (info.value.size, info.value.limit, info.value.provider) == (limit + 1, limit, "apns")
    assert info.value.field == "payload"


def test_size_counts_utf8_bytes() -> None:
    # 1365 three-byte characters = 4095 bytes of text alone: far over once JSON wraps it.
    with pytest.raises(PayloadTooLargeError):
        enc(Notification(body="€" * 1365))
    enc(Notification(body="€" * 1300))


def test_lone_surrogate_is_a_validation_error() -> None:
    # Refused when the notification is built, naming the field (the encoder never sees it).
    with pytest.raises(ValidationError) as info:
        Notification(body="bad \ud800")
    assert info.value.field == "body"


@pytest.mark.parametrize(
    ("notification", "expected"),
    [
        (Notification(title="t"), ApnsPushType.ALERT),
        (Notification(apns=ApnsOptions(loc_key="K")), ApnsPushType.ALERT),
        (Notification(content_available=True), ApnsPushType.BACKGROUND),
        (Notification(apns=ApnsOptions(extra={"x": 1})), ApnsPushType.BACKGROUND),
        (Notification(apns=ApnsOptions(event="end")), ApnsPushType.LIVEACTIVITY),
        (Notification(title="t", apns=ApnsOptions(push_type="voip")), ApnsPushType.VOIP),
    ],
)
def test_infer_push_type(notification: Notification, expected: ApnsPushType) -> None:
    assert infer_push_type(notification) is expected
