"""The pure half of the plugin: the target's validation and the rendered request."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from unipush_expo import MAX_PAYLOAD_BYTES, Expo, ExpoDevice

from unipush import (
    Action,
    ConfigurationError,
    FcmOptions,
    Notification,
    PayloadTooLargeError,
    PushClient,
    ValidationError,
)
from unipush.apns import ApnsDevice, ApnsOptions

TOKEN = "ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]"
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("token", [TOKEN, "ExpoPushToken[abc-DEF_123]", f"  {TOKEN}\n"])
def test_expo_tokens_are_accepted(token: str) -> None:
    assert ExpoDevice(token).key == token.strip()


@pytest.mark.parametrize(
    "token",
    ["", "ab" * 32, "ExponentPushToken[]", "ExponentPushToken[a b]", "ExponentPushToken[abc", "xExpoPushToken[a]"],
)
def test_other_tokens_are_refused_naming_the_field(token: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ExpoDevice(token)
    assert caught.value.field == "token"


def test_the_token_is_shortened_in_reprs() -> None:
    device = ExpoDevice("ExponentPushToken[abcdefghijklmnopqrstuv]")
    assert repr(device) == "ExpoDevice('ExponentPushToken[abcdef…]')"
    assert "ghijkl" not in repr(Expo().prepare(Notification(title="x"), device, now=NOW))


def test_every_common_field_lands_in_its_expo_field() -> None:
    n = Notification(
        title="Order shipped",
        subtitle="Today",
        body="#1234 is on its way",
        image="https://cdn.example/box.png",
        deep_link="https://shop.example/o/1234",
        actions=[Action("track", "Track", deep_link="https://shop.example/t/1234"), Action("ok", "OK")],
        category="ORDER",
        badge=3,
        sound="default",
        ttl=60,
        priority="normal",
        data={"order": "1234"},
        content_available=True,
        fcm=FcmOptions(channel_id="orders"),
    )
    request = PushClient(providers=[Expo(channel_id="fallback")]).render(n, ExpoDevice(TOKEN))
    assert request.method == "POST"
    assert request.url == "https://exp.host/--/api/v2/push/send"
    assert request.payload == {
        "to": TOKEN,
        "title": "Order shipped",
        "subtitle": "Today",
        "body": "#1234 is on its way",
        "sound": "default",
        "data": {
            "order": "1234",
            "unipush": {
                "image": "https://cdn.example/box.png",
                "deep_link": "https://shop.example/o/1234",
                "actions": {"track": "https://shop.example/t/1234"},
            },
        },
        "badge": 3,
        "ttl": 60,
        "priority": "normal",
        "channelId": "orders",
        "categoryId": "ORDER",
        "mutableContent": True,
        "_contentAvailable": True,
    }
    # The body is a JSON array holding the one message.
    assert json.loads(request.body) == [request.payload]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept-encoding"] == "identity"
    assert "authorization" not in request.headers


def test_defaults_ttl_channel_and_mutable_content() -> None:
    expo = Expo(channel_id="general")
    plain = expo.prepare(Notification(title="x"), ExpoDevice(TOKEN), now=NOW).payload
    assert plain == {"to": TOKEN, "title": "x", "ttl": 2419200, "channelId": "general"}
    # mutableContent also when the app's extension should run without an image.
    extension = Notification(title="x", apns=ApnsOptions(mutable_content=True))
    assert expo.prepare(extension, ExpoDevice(TOKEN), now=NOW).payload["mutableContent"] is True  # type: ignore[index]
    # An image on a push with nothing to show is data only: no mutableContent.
    silent = Expo().prepare(
        Notification(data={"k": "v"}, image="https://cdn.example/i.png"), ExpoDevice(TOKEN), now=NOW
    )
    assert silent.payload is not None
    assert "mutableContent" not in silent.payload


def test_the_access_token_is_a_bearer_header_and_never_shown() -> None:
    expo = Expo(access_token="s3cret-token")
    request = expo.prepare(Notification(title="x"), ExpoDevice(TOKEN), now=NOW)
    assert request.headers["authorization"] == "Bearer s3cret-token"
    assert "s3cret" not in repr(request)
    assert "s3cret" not in request.to_json()
    assert "s3cret" not in repr(expo)


def test_a_message_over_4096_bytes_is_refused_before_sending() -> None:
    n = Notification(title="x", data={"blob": "a" * MAX_PAYLOAD_BYTES})
    with pytest.raises(PayloadTooLargeError) as caught:
        Expo().prepare(n, ExpoDevice(TOKEN), now=NOW)
    assert caught.value.limit == 4096
    assert caught.value.provider == "expo"
    assert caught.value.field == "payload"


def test_a_notification_with_nothing_to_deliver_is_refused() -> None:
    with pytest.raises(ValidationError, match="nothing to send to Expo"):
        Expo().prepare(Notification(priority="high"), ExpoDevice(TOKEN), now=NOW)


def test_only_expo_devices_are_served() -> None:
    with pytest.raises(ValidationError) as caught:
        Expo().prepare(Notification(title="x"), ApnsDevice("ab" * 32), now=NOW)
    assert caught.value.field == "target"


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"access_token": ""}, "access_token"),
        ({"access_token": "two words"}, "access_token"),
        ({"base_url": "exp.host"}, "base_url"),
        ({"base_url": "https://exp.host/?x=1"}, "base_url"),
        ({"channel_id": ""}, "channel_id"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, str], word: str) -> None:
    with pytest.raises(ConfigurationError, match=word):
        Expo(**options)


def test_base_url_keeps_a_path_prefix() -> None:
    assert Expo(base_url="https://proxy.example/expo/").url == "https://proxy.example/expo/--/api/v2/push/send"
