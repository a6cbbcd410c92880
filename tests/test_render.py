"""render(): one notification, every provider, and the property that nothing but ValidationError escapes."""

from __future__ import annotations

import json
import string
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import all_providers_client, all_targets, subscription
from unipush import (
    Action,
    ConfigurationError,
    Notification,
    PayloadTooLargeError,
    PushClient,
    ValidationError,
)
from unipush.apns import ApnsDevice
from unipush.fcm import FcmDevice

# What each service accepts at most, in bytes of the request body (protocols.md §1.3, §2.2, §3.4).
APNS_LIMIT, APNS_VOIP_LIMIT, WEBPUSH_BODY_LIMIT = 4096, 5120, 4096


def rich() -> Notification:
    return Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="https://shop.example/o/1234",
        image="https://cdn.example/box.png",
        badge=1,
        sound="default",
        collapse_key="order-1234",
        ttl=3600,
        actions=[Action(id="track", title="Track")],
    )


def test_render_routes_each_target_to_its_provider(client: PushClient) -> None:
    seen = {client.render(rich(), target).provider for target in all_targets()}
    assert seen == {"apns", "fcm", "webpush"}


def test_render_shows_the_wire_request(client: PushClient) -> None:
    apns = client.render(rich(), ApnsDevice("ab" * 32))
    assert apns.method == "POST"
    assert apns.url == "https://api.push.apple.com/3/device/" + "ab" * 32
    assert json.loads(apns.body) == dict(apns.payload or {})
    fcm = client.render(rich(), FcmDevice("fcm-token-1"))
    assert fcm.url == "https://fcm.googleapis.com/v1/projects/demo-project/messages:send"
    assert fcm.credential_pending  # the OAuth token is not fetched by render
    assert "authorization" not in fcm.headers
    web = client.render(rich(), subscription())
    assert web.url == "https://push.example.net/sub/1"
    assert web.headers["content-encoding"] == "aes128gcm"
    assert web.payload is not None
    assert web.payload["web_push"] == 8030


def test_repr_and_json_redact_credentials(client: PushClient) -> None:
    signed = 0
    for target in all_targets():
        prepared = client.render(rich(), target)
        secret = prepared.headers.get("authorization")
        if secret is None:
            continue
        signed += 1
        assert secret not in repr(prepared)
        assert secret not in prepared.to_json()
        assert "<redacted>" in repr(prepared)
    assert signed >= 2  # APNs provider token and VAPID are signed locally at render time


def test_unconfigured_provider_is_a_configuration_error() -> None:
    only_fcm = PushClient(fcm=all_providers_client().providers["fcm"])
    with pytest.raises(ConfigurationError, match="apns"):
        only_fcm.render(rich(), ApnsDevice("ab" * 32))


def test_client_needs_a_provider() -> None:
    with pytest.raises(ConfigurationError):
        PushClient()


def test_render_rejects_non_notifications(client: PushClient) -> None:
    with pytest.raises(ValidationError, match="notification"):
        client.render({"title": "x"}, ApnsDevice("ab" * 32))  # type: ignore[arg-type]


@pytest.mark.parametrize("target", all_targets(), ids=lambda t: type(t).__name__)
def test_oversize_names_size_and_limit(client: PushClient, target: Any) -> None:
    with pytest.raises(PayloadTooLargeError) as info:
        client.render(Notification(title="t", body="x" * 5000, deep_link="https://example.com/"), target)
    error = info.value
    assert error.size > error.limit
    assert str(error.size) in str(error)
    assert str(error.limit) in str(error)


# Lone surrogates and control characters included: they are ValidationErrors at construction (issue 8).
text = st.text(alphabet=string.printable + "éü✓🚀\ud800\udfff\x00\x7f", max_size=1500)
maybe = lambda s: st.none() | s  # noqa: E731
urls = st.sampled_from(["https://cdn.example/a.png", "http://x.example/i", "nope", "myapp://o/1", ""])
actions = st.lists(
    st.fixed_dictionaries({"id": st.text(max_size=8), "title": st.text(max_size=30), "deep_link": maybe(urls)}),
    max_size=4,
)
notification_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "title": maybe(text),
        "subtitle": maybe(text),
        "body": maybe(text),
        "image": maybe(urls),
        "icon": maybe(urls),
        "deep_link": maybe(urls),
        "actions": actions,
        "category": maybe(st.text(max_size=20)),
        "thread_id": maybe(st.text(max_size=20)),
        "badge": maybe(st.integers(min_value=-2, max_value=2**32)),
        "sound": maybe(st.sampled_from(["default", "", "chime.caf"])),
        "collapse_key": maybe(text.map(lambda t: t[:80])),
        "ttl": maybe(st.integers(min_value=-5, max_value=3_000_000) | st.just(timedelta(hours=1))),
        "priority": maybe(st.sampled_from(["high", "normal", "urgent"])),
        "data": st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=8),
        "content_available": st.booleans(),
    },
)


good_urls = st.sampled_from(["https://cdn.example/a.png", "https://shop.example/o/1?x=%20y", "myapp://o/1"])
plausible_kwargs = st.fixed_dictionaries(
    {"title": st.text(min_size=1, max_size=400), "deep_link": good_urls},
    optional={
        "body": st.text(max_size=2500),
        "subtitle": st.text(max_size=200),
        "image": st.just("https://cdn.example/a.png"),
        "actions": st.lists(
            st.fixed_dictionaries({"id": st.uuids().map(str), "title": st.text(min_size=1, max_size=40)}),
            max_size=3,
        ),
        "badge": st.integers(min_value=0, max_value=99999),
        "collapse_key": st.text(min_size=1, max_size=70),
        "ttl": st.integers(min_value=0, max_value=28 * 24 * 3600),
        "priority": st.sampled_from(["high", "normal"]),
        "data": st.dictionaries(
            st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12), st.text(max_size=200)
        ),
        "content_available": st.booleans(),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=notification_kwargs | plausible_kwargs)
def test_any_notification_renders_within_limits_or_raises_validation_error(kwargs: dict[str, Any]) -> None:
    client = all_providers_client()
    try:
        kwargs["actions"] = [Action(**a) for a in kwargs.get("actions", [])]
        notification = Notification(**kwargs)
    except ValidationError:
        return
    for target in all_targets():
        try:
            prepared = client.render(notification, target)
        except ValidationError:
            continue
        if prepared.provider == "apns":
            limit = APNS_VOIP_LIMIT if prepared.headers.get("apns-push-type") == "voip" else APNS_LIMIT
            assert len(prepared.body) <= limit
        elif prepared.provider == "webpush":
            assert len(prepared.body) <= WEBPUSH_BODY_LIMIT
            assert "ttl" in prepared.headers
        else:
            json.loads(prepared.body)  # FCM: valid JSON; its size rule is tested in tests/fcm
