"""``FCM.prepare`` renders a notification's message once for a batch: the bytes, and when it must render again.

Everything in an FCM message but its recipient depends on the notification, on whether the target is one
device, and on ``now`` to the second (``apns-expiration``). ``FCM.prepare`` keeps the last rendering and adds
the recipient; these tests pin that the body is still exactly the compact JSON of the payload, and that each
part of the key (the notification, the kind of target, the second) makes it render again.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.model_strategies import notifications
from unipush import ApnsOptions, FcmOptions, Notification, PayloadTooLargeError, UnipushError, ValidationError
from unipush.fcm import FCM, FcmCondition, FcmDevice, FcmTopic
from unipush.fcm._encode import encode

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
TARGETS = [FcmDevice("tok-1"), FcmDevice("tok-é"), FcmTopic("news"), FcmCondition("'a' in topics")]


def compact(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.fixture
def fcm(service_account_info: dict[str, Any]) -> FCM:
    return FCM(service_account=service_account_info)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(notification=notifications, order=st.permutations(TARGETS), micros=st.integers(0, 999_999))
def test_every_body_is_the_compact_json_of_its_payload(
    fcm: FCM, notification: Notification, order: list[Any], micros: int
) -> None:
    now = NOW + timedelta(microseconds=micros)
    for target in order:  # the device and topic renderings interleave, in every order
        try:
            expected = encode(notification, target, now=now)
        except UnipushError as exc:
            with pytest.raises(type(exc), match="^" + re.escape(str(exc)) + "$"):
                fcm.prepare(notification, target, now=now)
            continue
        request = fcm.prepare(notification, target, now=now)
        assert request.payload == expected
        assert request.body == compact(expected)


def test_the_recipient_is_each_targets_own(fcm: FCM) -> None:
    n = Notification(title="Order shipped", data={"order": "1234"})
    first, second = (fcm.prepare(n, FcmDevice(token), now=NOW) for token in ("tok-a", "tok-b"))
    assert first.payload is not None
    assert second.payload is not None
    assert first.payload["message"]["token"] == "tok-a"
    assert second.payload["message"]["token"] == "tok-b"
    assert json.loads(second.body)["message"]["token"] == "tok-b"
    assert first.body.replace(b"tok-a", b"tok-b") == second.body


def test_a_new_second_renders_a_new_expiration(fcm: FCM) -> None:
    n = Notification(title="hi", ttl=60)
    expirations = []
    for now in (NOW, NOW + timedelta(microseconds=999_999), NOW + timedelta(seconds=1)):
        payload = fcm.prepare(n, FcmDevice("tok"), now=now).payload
        assert payload is not None
        expirations.append(payload["message"]["apns"]["headers"]["apns-expiration"])
    start = int(NOW.timestamp()) + 60
    assert expirations == [str(start), str(start), str(start + 1)]


def test_the_topic_limit_applies_after_a_device_rendering_and_back(fcm: FCM) -> None:
    n = Notification(title="hi", data={"blob": "x" * 3000})  # over the 2048-byte topic limit, under 4096
    device, topic = FcmDevice("tok"), FcmTopic("news")
    assert fcm.prepare(n, device, now=NOW).body
    with pytest.raises(PayloadTooLargeError):
        fcm.prepare(n, topic, now=NOW)
    assert fcm.prepare(n, device, now=NOW).body


def test_a_live_activity_to_a_topic_is_refused_after_one_to_a_device(fcm: FCM) -> None:
    n = Notification(
        title="Score",
        apns=ApnsOptions(event="update", content_state={"score": 1}),
        fcm=FcmOptions(live_activity_token="la-1"),
    )
    assert fcm.prepare(n, FcmDevice("tok"), now=NOW).payload is not None
    with pytest.raises(ValidationError, match=r"apns\.event"):
        fcm.prepare(n, FcmTopic("news"), now=NOW)


def test_another_notification_is_rendered_anew(fcm: FCM) -> None:
    target = FcmDevice("tok")
    first = fcm.prepare(Notification(title="one"), target, now=NOW)
    second = fcm.prepare(Notification(title="two"), target, now=NOW)
    assert b'"title":"one"' in first.body
    assert b'"title":"two"' in second.body


def test_a_naive_now_is_refused_even_right_after_a_rendering(fcm: FCM) -> None:
    n = Notification(title="hi")
    fcm.prepare(n, FcmDevice("tok"), now=NOW)
    with pytest.raises(ValidationError, match="now"):
        fcm.prepare(n, FcmDevice("tok"), now=NOW.replace(tzinfo=None))


def test_validate_only_closes_the_body(fcm: FCM) -> None:
    n = Notification(title="hi", fcm=FcmOptions(validate_only=True))
    request = fcm.prepare(n, FcmTopic("news"), now=NOW)
    assert request.body.endswith(b'},"validate_only":true}')
    assert request.body == compact(request.payload)
