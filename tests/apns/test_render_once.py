"""``APNs.prepare`` renders a notification's device push once for a batch: the bytes, and when it renders again.

The payload, body and headers but ``apns-id`` of a device push depend only on the notification and on
``now`` to the second (``apns-expiration``, a Live Activity's ``timestamp``); the token is in the URL.
``APNs.prepare`` keeps the last rendering; these tests pin what stays per request and what renders anew.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from unipush import Notification, ValidationError
from unipush.apns import APNs, ApnsDevice

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
ID_1 = "00000000-0000-4000-8000-000000000001"
ID_2 = "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def apns(p256_pem: bytes) -> APNs:
    return APNs(key=p256_pem, key_id="ABC123DEFG", team_id="DEF123GHIJ", topic="com.example.app")


def test_each_request_has_its_own_url_id_and_headers(apns: APNs) -> None:
    n = Notification(title="Order shipped", ttl=60)
    first = apns.prepare(n, ApnsDevice("ab" * 32), now=NOW, apns_id=ID_1)
    second = apns.prepare(n, ApnsDevice("cd" * 32), now=NOW, apns_id=ID_2)
    assert first.url.endswith("/3/device/" + "ab" * 32)
    assert second.url.endswith("/3/device/" + "cd" * 32)
    assert (first.headers["apns-id"], second.headers["apns-id"]) == (ID_1, ID_2)
    assert first.body == second.body == json.dumps(first.payload, separators=(",", ":")).encode()
    assert list(first.headers) == [
        "apns-push-type",
        "apns-topic",
        "apns-id",
        "apns-expiration",
        "content-type",
        "authorization",
    ]
    assert dict(first.headers) | {"apns-id": ID_2} == dict(second.headers)


def test_a_new_second_renders_a_new_expiration(apns: APNs) -> None:
    n = Notification(title="hi", ttl=60)
    expirations = [
        apns.prepare(n, ApnsDevice("ab" * 32), now=now, apns_id=ID_1).headers["apns-expiration"]
        for now in (NOW, NOW + timedelta(microseconds=999_999), NOW + timedelta(seconds=1))
    ]
    start = int(NOW.timestamp()) + 60
    assert expirations == [str(start), str(start), str(start + 1)]


def test_another_notification_is_rendered_anew(apns: APNs) -> None:
    device = ApnsDevice("ab" * 32)
    assert b'"title":"one"' in apns.prepare(Notification(title="one"), device, now=NOW, apns_id=ID_1).body
    assert b'"title":"two"' in apns.prepare(Notification(title="two"), device, now=NOW, apns_id=ID_1).body


def test_a_bad_id_or_a_naive_now_is_refused_right_after_a_rendering(apns: APNs) -> None:
    n, device = Notification(title="hi"), ApnsDevice("ab" * 32)
    apns.prepare(n, device, now=NOW, apns_id=ID_1)
    with pytest.raises(ValidationError, match="apns_id"):
        apns.prepare(n, device, now=NOW, apns_id="0000-not-a-uuid")
    with pytest.raises(ValidationError, match="now"):
        apns.prepare(n, device, now=NOW.replace(tzinfo=None), apns_id=ID_1)
