"""Per-push-service rules (``PushServiceRule``): golden headers per known host, overrides, and WNS over the sandbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import ConfigurationError, Notification, PayloadTooLargeError, PushClient
from unipush.sandbox import Sandbox
from unipush.webpush import PUSH_SERVICE_RULES, PushServiceRule, WebPush, WebPushOptions

from .conftest import make_subscriber

WNS = "https://wns2-pn1p.notify.windows.com/w/?token=BQYAAACFux1wyiPSDqVcMvnBRnb7Vg6NMdGRcmgJV6TD"
APPLE = "https://web.push.apple.com/QGx7Hh1rQ2yNv9ZcPXu0pGfSLhYDo6b4Y2ZtJmL1Vg"
MOZILLA = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABmZ0Xl0V3t9yq1Q8p"
FCM = "https://fcm.googleapis.com/fcm/send/dGVzdC1zdWJzY3JpcHRpb24tdG9rZW4:APA91bF"
OTHER = "https://push.example.net/s/1"

BASE = {"content-encoding": "aes128gcm", "content-type": "application/octet-stream", "urgency": "high"}


def headers_for(provider: WebPush, endpoint: str, now: datetime, **fields: object) -> dict[str, str]:
    _key, _auth, subscription = make_subscriber(endpoint)
    notification = Notification(title="Hi", deep_link="https://shop.example/", priority="high", **fields)  # type: ignore[arg-type]
    request = provider.prepare(notification, subscription, now=now)
    headers = dict(request.headers)
    assert headers.pop("authorization").startswith("vapid t=")
    return headers


@pytest.mark.parametrize(
    ("endpoint", "ttl", "expected"),
    [
        (WNS, 3600, {**BASE, "ttl": "3600", "x-wns-cache-policy": "cache"}),
        (WNS, 0, {**BASE, "ttl": "0", "x-wns-cache-policy": "no-cache"}),
        (WNS, None, {**BASE, "ttl": "2419200", "x-wns-cache-policy": "cache"}),
        (APPLE, 3600, {**BASE, "ttl": "3600"}),
        (APPLE, 0, {**BASE, "ttl": "0"}),
        (MOZILLA, 3600, {**BASE, "ttl": "3600"}),
        (FCM, 0, {**BASE, "ttl": "0"}),
        (OTHER, 0, {**BASE, "ttl": "0"}),
    ],
)
def test_golden_headers_per_push_service(
    webpush: WebPush, now: datetime, endpoint: str, ttl: int | None, expected: dict[str, str]
) -> None:
    assert headers_for(webpush, endpoint, now, ttl=ttl) == expected


def test_each_known_host_finds_its_rule(webpush: WebPush) -> None:
    names = {endpoint: getattr(webpush.push_service_for(endpoint), "name", None) for endpoint in (WNS, APPLE, MOZILLA)}
    assert names == {
        WNS: "Microsoft WNS (Edge on Windows)",
        APPLE: "Apple (Safari, iOS and iPadOS Home Screen web apps)",
        MOZILLA: "Mozilla autopush (Firefox)",
    }
    rule = webpush.push_service_for(FCM)
    assert rule is not None
    assert rule.http2 is True
    assert rule.max_ttl == 2419200
    assert webpush.push_service_for(OTHER) is None
    assert webpush.push_service_for("https://notify.windows.com.evil.example/w/") is None  # suffix, not substring
    assert webpush.push_service_rules == PUSH_SERVICE_RULES


def test_a_header_set_on_the_notification_wins(webpush: WebPush, now: datetime) -> None:
    # The caller's explicit choice is sent as is, even one WNS would refuse: the rule only fills a gap.
    options = WebPushOptions(extra_headers={"X-WNS-Cache-Policy": "cache", "X-WNS-Type": "wns/raw"})
    headers = headers_for(webpush, WNS, now, ttl=0, webpush=options)
    assert headers["x-wns-cache-policy"] == "cache"
    assert headers["x-wns-type"] == "wns/raw"


def test_rules_can_be_replaced_or_turned_off(vapid_key: ec.EllipticCurvePrivateKey, now: datetime) -> None:
    off = WebPush(vapid_private_key=vapid_key, subject="mailto:ops@example.com", push_service_rules=())
    assert "x-wns-cache-policy" not in headers_for(off, WNS, now, ttl=0)

    corporate = PushServiceRule(name="Corporate WNS relay", hosts=("push.example.net",), wns_cache_policy=True)
    mine = WebPush(
        vapid_private_key=vapid_key,
        subject="mailto:ops@example.com",
        push_service_rules=(corporate, *PUSH_SERVICE_RULES),
    )
    assert headers_for(mine, OTHER, now, ttl=0)["x-wns-cache-policy"] == "no-cache"
    assert headers_for(mine, WNS, now, ttl=60)["x-wns-cache-policy"] == "cache"

    small = replace(PUSH_SERVICE_RULES[1], max_body=200)
    strict = WebPush(vapid_private_key=vapid_key, subject="mailto:ops@example.com", push_service_rules=[small])
    _key, _auth, apple = make_subscriber(APPLE)
    with pytest.raises(PayloadTooLargeError) as caught:
        strict.prepare(Notification(title="x" * 300, deep_link="https://shop.example/"), apple, now=now)
    assert caught.value.limit == 200
    assert "Apple" in str(caught.value)


@pytest.mark.parametrize("rules", ["notify.windows.com", [object()], PUSH_SERVICE_RULES[0], 3])
def test_bad_rules_are_a_configuration_error(vapid_key: ec.EllipticCurvePrivateKey, rules: object) -> None:
    with pytest.raises(ConfigurationError, match="push_service_rules"):
        WebPush(vapid_private_key=vapid_key, subject="mailto:ops@example.com", push_service_rules=rules)  # type: ignore[arg-type]


def test_a_rule_needs_hosts() -> None:
    with pytest.raises(ConfigurationError, match="hosts"):
        PushServiceRule(name="nothing", hosts=())
    assert PushServiceRule(name="one", hosts="Example.NET.").hosts == ("example.net",)  # type: ignore[arg-type]


def test_wns_round_trip_over_the_sandbox() -> None:
    """The sandbox answers a ``wns=True`` subscription as WNS does; the rule makes every TTL go through.

    Its endpoints are on 127.0.0.1, so the WNS rule is pointed at that host (the override path users
    have for a relay); the built-in rule's matching by host is covered by the golden tests above.
    """
    stand_in = replace(PUSH_SERVICE_RULES[0], hosts=("127.0.0.1",))
    with Sandbox() as sandbox:
        edge = sandbox.subscribe(wns=True)
        with_rule = sandbox.webpush_config(push_service_rules=(stand_in,))
        without = sandbox.webpush_config(push_service_rules=())
        with PushClient(webpush=with_rule, verify=sandbox.ssl_context()) as client:
            for ttl in (0, 3600):
                result = client.send(Notification(title="Hi", deep_link="https://shop.example/", ttl=ttl), edge)
                assert result.ok, result.error
            policies = [d.headers["x-wns-cache-policy"] for d in sandbox.inbox.for_target(edge.endpoint)]
            assert policies == ["no-cache", "cache"]
        with PushClient(webpush=without, verify=sandbox.ssl_context()) as client:
            refused = client.send(Notification(title="Hi", deep_link="https://shop.example/", ttl=0), edge)
            assert not refused.ok
            assert refused.status_code == 400
            assert not refused.token_invalid
            assert "Ttl value conflicts with X-WNS-Cache-Policy" in str(refused.error)
            # A subscription of any other service is unaffected by the header's absence.
            plain = client.send(Notification(title="Hi", deep_link="https://shop.example/", ttl=0), sandbox.subscribe())
            assert plain.ok
