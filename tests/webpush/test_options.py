"""``WebPushOptions`` validation: every error names its ``webpush.*`` field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from unipush import Notification, ValidationError
from unipush.webpush import WebPushOptions


def test_defaults():
    options = WebPushOptions()
    assert options.payload_format == "declarative"
    assert options.vibrate == ()
    assert dict(options.extra_headers) == {}
    assert options.timestamp_ms is None


def test_normalisation():
    options = WebPushOptions(vibrate=[200, 100, 200], extra_headers={"X-WNS-Type": "wns/raw"})
    assert options.vibrate == (200, 100, 200)
    assert dict(options.extra_headers) == {"x-wns-type": "wns/raw"}
    with pytest.raises(TypeError):
        options.extra_headers["x"] = "y"  # type: ignore[index]


def test_timestamp_ms():
    when = datetime(2026, 1, 15, 12, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert WebPushOptions(timestamp=when).timestamp_ms == 1768474800250


def test_accepted_in_notification():
    n = Notification(title="t", webpush=WebPushOptions(urgency="low"))
    assert n.webpush is not None
    assert n.webpush.urgency == "low"


@pytest.mark.parametrize("topic", ["ab", "abc", "abcd", "order-1234", "A_b-C1", "x" * 32, "x" * 31])
def test_topic_accepted(topic):
    assert WebPushOptions(topic=topic).topic == topic


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"urgency": "urgent"}, "webpush.urgency", "must be one of"),
        ({"topic": "x" * 33}, "webpush.topic", "1 to 32 characters"),
        ({"topic": "has space"}, "webpush.topic", "1 to 32 characters"),
        ({"topic": "a.b"}, "webpush.topic", "1 to 32 characters"),
        ({"topic": ""}, "webpush.topic", "must not be empty"),
        ({"topic": "a"}, "webpush.topic", "1 more than a multiple of 4"),
        ({"topic": "abcde"}, "webpush.topic", "1 more than a multiple of 4"),
        ({"topic": "x" * 29}, "webpush.topic", "1 more than a multiple of 4"),
        ({"require_interaction": 1}, "webpush.require_interaction", "must be a bool"),
        ({"renotify": "yes"}, "webpush.renotify", "must be a bool"),
        ({"silent": 0}, "webpush.silent", "must be a bool"),
        ({"mutable": "true"}, "webpush.mutable", "must be a bool"),
        ({"vibrate": [100, -1]}, "webpush.vibrate[1]", "must be >= 0"),
        ({"vibrate": [2**32]}, "webpush.vibrate[0]", "must be <="),
        ({"vibrate": [1.5]}, "webpush.vibrate[0]", "must be an int"),
        ({"vibrate": "100"}, "webpush.vibrate", "sequence of int"),
        ({"vibrate": [100], "silent": True}, "webpush.vibrate", "silent=True"),
        ({"lang": "english language"}, "webpush.lang", "BCP 47"),
        ({"lang": ""}, "webpush.lang", "must not be empty"),
        ({"dir": "up"}, "webpush.dir", "must be one of"),
        ({"badge": "/badge.png"}, "webpush.badge", "absolute URL"),
        ({"timestamp": 1700000000}, "webpush.timestamp", "must be a datetime"),
        ({"timestamp": datetime(2026, 1, 1)}, "webpush.timestamp", "timezone-aware"),
        ({"payload_format": "xml"}, "webpush.payload_format", "must be one of"),
        ({"payload_format": "raw"}, "webpush.raw_payload", "must be bytes"),
        ({"payload_format": "raw", "raw_payload": "text"}, "webpush.raw_payload", "must be bytes"),
        ({"raw_payload": b"x"}, "webpush.raw_payload", "only used with payload_format='raw'"),
        ({"extra_headers": ["x"]}, "webpush.extra_headers", "mapping"),
        ({"extra_headers": {"bad header": "x"}}, "webpush.extra_headers", "not a valid HTTP header name"),
        ({"extra_headers": {"X-A": 1}}, "webpush.extra_headers['X-A']", "must be a string"),
        ({"extra_headers": {"X-A": "a\r\nB: c"}}, "webpush.extra_headers['X-A']", "CR, LF"),
        ({"extra_headers": {"X-A": "1", "x-a": "2"}}, "webpush.extra_headers['x-a']", "given twice"),
    ],
)
def test_invalid(kwargs, field, message):
    with pytest.raises(ValidationError, match=message) as info:
        WebPushOptions(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    "name",
    [
        "TTL",
        "Urgency",
        "Topic",
        "Authorization",
        "Content-Encoding",
        "content-type",
        "Content-Length",
        "Crypto-Key",
        "Encryption",
    ],
)
def test_owned_headers_refused(name):
    with pytest.raises(ValidationError, match="set by unipush") as info:
        WebPushOptions(extra_headers={name: "x"})
    assert info.value.field == f"webpush.extra_headers[{name!r}]"
