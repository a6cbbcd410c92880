"""Issue 10, point 2: Apple's rules for Live Activities, push-to-talk and the alert push type.

Each rule is enforced where it can be seen first: ``ApnsOptions`` for what depends on the options alone
(Live Activity priority, relevance score), the APNs builder for what needs the whole notification (the
alert of a ``start``, where its sound goes, push-to-talk headers, an alert push with nothing to show).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from unipush import ApnsOptions, Notification, ValidationError
from unipush.apns._encode import encode

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NOW_S = int(NOW.timestamp())
APNS_ID = "123e4567-e89b-12d3-a456-426614174000"


def enc(n: Notification) -> tuple[dict[str, Any], dict[str, str]]:
    return encode(n, topic="com.example.app", now=NOW, apns_id=APNS_ID)


def refused(n: Notification) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        enc(n)
    return info.value


def start(**fields: Any) -> Notification:
    options = ApnsOptions(
        event="start", attributes_type="DeliveryAttributes", attributes={"id": 1}, content_state={"eta": 15}
    )
    return Notification(apns=options, **fields)


def test_live_activity_start_needs_an_alert() -> None:
    error = refused(start())
    assert error.field == "apns.event"
    assert "'start' needs an alert" in error.message
    assert enc(start(title="Delivery started"))[0]["aps"]["alert"] == {"title": "Delivery started"}
    localized = Notification(
        apns=ApnsOptions(
            event="start", attributes_type="A", attributes={}, content_state={}, loc_key="DELIVERY_STARTED"
        )
    )
    assert enc(localized)[0]["aps"]["alert"] == {"loc-key": "DELIVERY_STARTED"}


def test_live_activity_sound_goes_inside_the_alert() -> None:
    update = Notification(
        body="Driver is 2 min away",
        sound="chime.aiff",
        apns=ApnsOptions(event="update", content_state={"eta": 2}),
    )
    aps = enc(update)[0]["aps"]
    assert aps["alert"] == {"body": "Driver is 2 min away", "sound": "chime.aiff"}
    assert "sound" not in aps
    error = refused(Notification(sound="chime.aiff", apns=ApnsOptions(event="update", content_state={"eta": 2})))
    assert error.field == "sound"
    assert "with its alert" in error.message


@pytest.mark.parametrize("priority", [5, 10])
def test_live_activity_priority_5_and_10_are_allowed(priority: int) -> None:
    n = Notification(apns=ApnsOptions(event="end", priority=priority))  # type: ignore[arg-type]
    assert enc(n)[1]["apns-priority"] == str(priority)


def test_live_activity_priority_1_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        ApnsOptions(event="end", priority=1)
    assert info.value.field == "apns.priority"
    assert "5 or 10 for a Live Activity" in info.value.message


def test_live_activity_relevance_score_is_any_number() -> None:
    options = ApnsOptions(event="update", content_state={"eta": 5}, relevance_score=75)
    assert enc(Notification(apns=options))[0]["aps"]["relevance-score"] == 75.0
    assert ApnsOptions(event="end", relevance_score=-3).relevance_score == -3.0
    # For a regular notification the 0 to 1 range still holds.
    with pytest.raises(ValidationError) as info:
        ApnsOptions(relevance_score=75)
    assert (info.value.field, info.value.message) == ("apns.relevance_score", "must be <= 1, got 75")


def test_push_to_talk_is_priority_10_and_expiration_0() -> None:
    n = Notification(data={"channel": "ops"}, apns=ApnsOptions(push_type="pushtotalk"))
    headers = enc(n)[1]
    assert (headers["apns-priority"], headers["apns-expiration"]) == ("10", "0")
    assert headers["apns-topic"] == "com.example.app.voip-ptt"
    explicit = Notification(
        data={"c": "1"}, ttl=0, priority="high", apns=ApnsOptions(push_type="pushtotalk", priority=10)
    )
    assert (enc(explicit)[1]["apns-priority"], enc(explicit)[1]["apns-expiration"]) == ("10", "0")


@pytest.mark.parametrize(
    ("fields", "options", "field", "words"),
    [
        ({"ttl": 60}, {}, "ttl", "must be 0 (or unset) for a push-to-talk push"),
        ({"priority": "normal"}, {}, "priority", "push-to-talk"),
        ({}, {"priority": 5}, "apns.priority", "must be 10 for a push-to-talk push"),
    ],
)
def test_push_to_talk_refuses_other_priorities_and_expirations(
    fields: dict[str, Any], options: dict[str, Any], field: str, words: str
) -> None:
    error = refused(Notification(data={"c": "1"}, **fields, apns=ApnsOptions(push_type="pushtotalk", **options)))
    assert error.field == field
    assert words in error.message


def test_explicit_alert_push_with_nothing_to_show_is_refused() -> None:
    error = refused(Notification(data={"k": "v"}, apns=ApnsOptions(push_type="alert")))
    assert error.field == "apns.push_type"
    assert "'alert' needs something to show" in error.message
    # Anything to show makes it a valid alert push.
    assert enc(Notification(badge=0, apns=ApnsOptions(push_type="alert")))[0] == {"aps": {"badge": 0}}
