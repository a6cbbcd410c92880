"""``WebPush.prepare`` renders a notification's plaintext and headers once for a batch; only encryption is per target.

These tests pin that a batch over several push services still gets each service's own headers, each
subscription its own ciphertext and VAPID header, and that another notification is rendered anew.
"""

from __future__ import annotations

from datetime import datetime

from unipush import Notification
from unipush.webpush import WebPush
from unipush.webpush._crypto import decrypt

from .conftest import make_subscriber
from .test_push_services import APPLE, WNS


def test_a_batch_over_two_push_services_keeps_their_own_headers(webpush: WebPush, now: datetime) -> None:
    n = Notification(title="Hi", deep_link="https://shop.example/", ttl=60)
    (wns_key, wns_auth, wns), (apple_key, apple_auth, apple) = make_subscriber(WNS), make_subscriber(APPLE)
    first, second, third = (webpush.prepare(n, s, now=now) for s in (wns, apple, wns))
    assert first.headers["x-wns-cache-policy"] == "cache"  # WNS's rule, applied per request
    assert "x-wns-cache-policy" not in second.headers
    assert dict(first.headers).keys() == dict(third.headers).keys()
    assert first.headers["authorization"] != second.headers["authorization"]  # one VAPID audience per service
    assert first.body != third.body  # a fresh salt and sender key per message (RFC 8291 §3.1)
    plain = decrypt(first.body, wns_key, wns_auth)
    assert plain == decrypt(second.body, apple_key, apple_auth) == decrypt(third.body, wns_key, wns_auth)
    assert first.payload == second.payload


def test_another_notification_is_rendered_anew(webpush: WebPush, now: datetime) -> None:
    key, auth, subscription = make_subscriber()
    one = webpush.prepare(Notification(title="one", deep_link="https://a.example/"), subscription, now=now)
    two = webpush.prepare(Notification(title="two", deep_link="https://a.example/", ttl=5), subscription, now=now)
    assert b'"title":"one"' in decrypt(one.body, key, auth)
    assert b'"title":"two"' in decrypt(two.body, key, auth)
    assert (one.headers["ttl"], two.headers["ttl"]) == ("2419200", "5")
