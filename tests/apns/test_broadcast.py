"""Golden tests for broadcast push (iOS 18): the ``ApnsChannel`` target, the broadcast encoder and the
pure channel-management requests and decoders. No network; the round trips are in tests/sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from unipush import ConfigurationError, InvalidTokenError, ProviderError, PushClient, target_from_dict
from unipush._errors import PayloadTooLargeError, ValidationError
from unipush._model import Notification
from unipush.apns import APNs, ApnsChannel, ApnsChannelInfo, ApnsDevice, ApnsOptions, ApnsReason, ApnsStoragePolicy
from unipush.apns._broadcast import channel_request, decode_channel_answer, render_broadcast
from unipush.apns._decode import parse_response

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # 1735787045
NOW_S = 1735787045
REQUEST_ID = "123e4567-e89b-12d3-a456-426614174000"
CHANNEL_ID = "dHN0LXNyY2gtY2hubA=="
BUNDLE = "com.example.app"
MANAGE = "https://api-manage-broadcast.sandbox.push.apple.com:2195"

CertFactory = Callable[..., x509.Certificate]

UPDATE = ApnsOptions(event="update", content_state={"score": "1-0"})


def broadcast(n: Notification, channel: ApnsChannel | None = None) -> tuple[dict[str, Any], dict[str, str], bytes]:
    return render_broadcast(n, channel or ApnsChannel(CHANNEL_ID), now=NOW, request_id=REQUEST_ID)


# -- the target -----------------------------------------------------------------------------------------


def test_channel_target_normalises_and_names_itself() -> None:
    channel = ApnsChannel(f"  {CHANNEL_ID}\n", storage=1)
    assert channel.channel_id == CHANNEL_ID
    assert channel.key == CHANNEL_ID
    assert channel.storage is ApnsStoragePolicy.MOST_RECENT
    assert (channel.provider, channel.target_type) == ("apns", "channel")
    assert repr(channel) == f"ApnsChannel('{CHANNEL_ID}', storage=MOST_RECENT)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel_id": ""}, "channel_id: must not be empty"),
        ({"channel_id": "not base64!"}, "channel_id: must be base64"),
        ({"channel_id": "abc"}, "channel_id: must be base64"),  # bad padding
        ({"channel_id": b"c29tZQ=="}, "channel_id: must be the base64 channel id string, got bytes"),
        ({"channel_id": CHANNEL_ID, "storage": 2}, "storage: must be ApnsStoragePolicy.NO_STORAGE (0) or MOST_RECENT"),
        ({"channel_id": CHANNEL_ID, "storage": True}, "storage: must be"),
    ],
)
def test_channel_target_refuses_what_apns_would(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ApnsChannel(**kwargs)


@pytest.mark.parametrize("channel", [ApnsChannel(CHANNEL_ID), ApnsChannel(CHANNEL_ID, storage=0)])
def test_channel_target_round_trips_through_its_dict(channel: ApnsChannel) -> None:
    data = channel.to_dict()
    expected: dict[str, Any] = {"v": 1, "provider": "apns", "type": "channel", "channel_id": CHANNEL_ID}
    if channel.storage is not None:
        expected["storage"] = 0
    assert data == expected
    again = target_from_dict(json.loads(json.dumps(data)))
    assert again == channel
    assert isinstance(again, ApnsChannel)


def test_apns_serves_devices_and_channels() -> None:
    assert APNs.target_types == (ApnsDevice, ApnsChannel)


# -- the broadcast request ------------------------------------------------------------------------------


def test_broadcast_update_golden() -> None:
    n = Notification(title="Goal!", body="1-0", priority="high", apns=UPDATE)
    payload, headers, body = broadcast(n)
    assert payload == {
        "aps": {
            "alert": {"title": "Goal!", "body": "1-0"},
            "timestamp": NOW_S,
            "event": "update",
            "content-state": {"score": "1-0"},
        }
    }
    # No apns-topic (the bundle ID is in the path), no apns-id (apns-request-id instead).
    assert headers == {
        "apns-push-type": "liveactivity",
        "apns-channel-id": CHANNEL_ID,
        "apns-request-id": REQUEST_ID,
        "apns-expiration": "0",
        "apns-priority": "10",
        "content-type": "application/json",
    }
    assert json.loads(body) == payload


def test_broadcast_end_golden() -> None:
    ended = datetime(2025, 1, 2, 5, 0, tzinfo=timezone.utc)
    n = Notification(apns=ApnsOptions(event="end", content_state={"score": "2-1"}, dismissal_date=ended, priority=5))
    payload, headers, _ = broadcast(n)
    assert payload["aps"] == {
        "timestamp": NOW_S,
        "event": "end",
        "content-state": {"score": "2-1"},
        "dismissal-date": int(ended.timestamp()),
    }
    assert headers["apns-priority"] == "5"


def test_broadcast_priority_is_5_or_10_as_for_every_live_activity() -> None:
    # A broadcast carries a Live Activity update, and Live Activities use priority 5 or 10 (ActivityKit
    # push documentation); the rule is checked where the options are built, for devices and channels alike.
    _, headers, _ = broadcast(Notification(apns=ApnsOptions(event="update", content_state={"s": 1}, priority=5)))
    assert headers["apns-priority"] == "5"
    with pytest.raises(ValidationError, match="5 or 10"):
        ApnsOptions(event="update", content_state={"s": 1}, priority=1)


@pytest.mark.parametrize(
    ("storage", "ttl", "expiration"),
    [
        (None, None, "0"),  # unknown policy: 0, which channels of both policies accept
        (ApnsStoragePolicy.NO_STORAGE, None, "0"),
        (ApnsStoragePolicy.NO_STORAGE, 0, "0"),
        (ApnsStoragePolicy.MOST_RECENT, None, str(NOW_S + 28 * 24 * 3600)),
        (ApnsStoragePolicy.MOST_RECENT, 600, str(NOW_S + 600)),
        (None, 600, str(NOW_S + 600)),
        (None, 0, "0"),
    ],
)
def test_broadcast_expiration_follows_the_channel_policy(
    storage: ApnsStoragePolicy | None, ttl: int | None, expiration: str
) -> None:
    _, headers, _ = broadcast(Notification(ttl=ttl, apns=UPDATE), ApnsChannel(CHANNEL_ID, storage=storage))
    assert headers["apns-expiration"] == expiration


@pytest.mark.parametrize(
    ("notification", "field", "message"),
    [
        (Notification(title="Hi"), "apns.event", "set apns.event to 'update' or 'end'"),
        (
            Notification(
                title="Kick-off",
                apns=ApnsOptions(event="start", attributes_type="Match", attributes={}, content_state={}),
            ),
            "apns.event",
            "a broadcast cannot start a Live Activity",
        ),
        (Notification(collapse_key="score", apns=UPDATE), "collapse_key", "broadcasts have no apns-collapse-id"),
    ],
)
def test_broadcast_refuses_what_a_channel_cannot_carry(notification: Notification, field: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        broadcast(notification)
    assert caught.value.field == field


def test_broadcast_refuses_a_ttl_on_a_channel_that_stores_nothing() -> None:
    # Apple: a channel with message-storage-policy 0 accepts only apns-expiration 0.
    with pytest.raises(ValidationError, match="ttl: must be 0 or unset for a channel that stores no messages"):
        broadcast(Notification(ttl=60, apns=UPDATE), ApnsChannel(CHANNEL_ID, storage=ApnsStoragePolicy.NO_STORAGE))


def test_broadcast_payload_limit() -> None:
    big = ApnsOptions(event="update", content_state={"text": "x" * 4100})
    with pytest.raises(PayloadTooLargeError, match="over the limit of 4096 bytes"):
        broadcast(Notification(apns=big))


def test_prepare_routes_a_channel_to_the_broadcast_endpoint(p8_path: Path) -> None:
    apns = APNs(key=p8_path, key_id="ABC123DEFG", team_id="TEAM123456", topic=BUNDLE, environment="sandbox")
    request = apns.prepare(Notification(apns=UPDATE), ApnsChannel(CHANNEL_ID), now=NOW, apns_id=REQUEST_ID)
    assert (request.method, request.url) == ("POST", f"https://api.sandbox.push.apple.com/4/broadcasts/apps/{BUNDLE}")
    assert request.headers["apns-channel-id"] == CHANNEL_ID
    assert request.headers["apns-request-id"] == REQUEST_ID
    assert request.headers["authorization"].startswith("bearer ")
    assert "apns-topic" not in request.headers
    assert "apns-id" not in request.headers
    # A device still goes to /3/device.
    device = apns.prepare(Notification(title="t"), ApnsDevice("ab" * 32), now=NOW, apns_id=REQUEST_ID)
    assert device.url == f"https://api.sandbox.push.apple.com/3/device/{'ab' * 32}"


# -- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ("production", "https://api-manage-broadcast.push.apple.com:2196"),
        ("sandbox", "https://api-manage-broadcast.sandbox.push.apple.com:2195"),
    ],
)
def test_manage_base_url_defaults_per_environment(p8_path: Path, environment: Any, url: str) -> None:
    apns = APNs(key=p8_path, key_id="ABC123DEFG", team_id="TEAM123456", topic=BUNDLE, environment=environment)
    assert apns.manage_base_url == url


def test_manage_base_url_override_and_refusal(p8_path: Path) -> None:
    options: dict[str, Any] = {"key": p8_path, "key_id": "ABC123DEFG", "team_id": "TEAM123456", "topic": BUNDLE}
    assert APNs(**options, manage_base_url="https://127.0.0.1:9000/").manage_base_url == "https://127.0.0.1:9000"
    with pytest.raises(ConfigurationError, match="APNs manage_base_url must use https or http"):
        APNs(**options, manage_base_url="ftp://x")


# -- channel management requests ------------------------------------------------------------------------


def request(operation: Any, **kwargs: Any) -> Any:
    return channel_request(operation, bundle_id=BUNDLE, base_url=MANAGE, request_id=REQUEST_ID, **kwargs)


def test_create_request_golden() -> None:
    created = request("create", storage=ApnsStoragePolicy.MOST_RECENT)
    assert (created.method, created.url) == ("POST", f"{MANAGE}/1/apps/{BUNDLE}/channels")
    assert created.body == b'{"message-storage-policy":1,"push-type":"LiveActivity"}'
    assert dict(created.headers) == {"apns-request-id": REQUEST_ID, "content-type": "application/json"}
    assert request("create", storage=0).body == b'{"message-storage-policy":0,"push-type":"LiveActivity"}'


@pytest.mark.parametrize(("operation", "method"), [("read", "GET"), ("delete", "DELETE")])
def test_read_and_delete_requests_golden(operation: str, method: str) -> None:
    for channel in (CHANNEL_ID, ApnsChannel(CHANNEL_ID)):
        rendered = request(operation, channel=channel)
        assert (rendered.method, rendered.url, rendered.body) == (method, f"{MANAGE}/1/apps/{BUNDLE}/channels", b"")
        assert dict(rendered.headers) == {"apns-request-id": REQUEST_ID, "apns-channel-id": CHANNEL_ID}


def test_list_request_golden() -> None:
    listed = request("list")
    assert (listed.method, listed.url, listed.body) == ("GET", f"{MANAGE}/1/apps/{BUNDLE}/all-channels", b"")
    assert dict(listed.headers) == {"apns-request-id": REQUEST_ID}


@pytest.mark.parametrize(
    ("operation", "kwargs", "message"),
    [
        ("create", {}, "storage: must be"),
        ("create", {"storage": 3}, "storage: must be"),
        ("read", {}, "channel: is required to read a channel"),
        ("delete", {"channel": "%%%"}, "channel: must be base64"),
    ],
)
def test_channel_requests_refuse_bad_arguments(operation: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        request(operation, **kwargs)


# -- channel management answers -------------------------------------------------------------------------


def test_create_answer() -> None:
    answer = decode_channel_answer(
        request("create", storage=1), 201, {"apns-channel-id": CHANNEL_ID, "apns-request-id": REQUEST_ID}, b""
    )
    assert answer.outcome.ok
    assert answer.info == ApnsChannelInfo(
        channel_id=CHANNEL_ID, storage=ApnsStoragePolicy.MOST_RECENT, request_id=REQUEST_ID
    )
    assert answer.info.target == ApnsChannel(CHANNEL_ID, storage=1)


def test_read_answer() -> None:
    body = b'{"message-storage-policy":0,"push-type":"LiveActivity"}'
    answer = decode_channel_answer(request("read", channel=CHANNEL_ID), 200, {}, body)
    assert answer.info == ApnsChannelInfo(
        channel_id=CHANNEL_ID, storage=ApnsStoragePolicy.NO_STORAGE, request_id=REQUEST_ID
    )


def test_list_and_delete_answers() -> None:
    listed = decode_channel_answer(request("list"), 200, {}, json.dumps({"channels": [CHANNEL_ID, "YQ=="]}).encode())
    assert listed.channels == (ApnsChannel(CHANNEL_ID), ApnsChannel("YQ=="))
    assert decode_channel_answer(request("list"), 200, {}, b'{"channels":[]}').channels == ()
    deleted = decode_channel_answer(request("delete", channel=CHANNEL_ID), 204, {}, b"")
    assert deleted.outcome.ok
    assert deleted.info is None


@pytest.mark.parametrize(
    ("operation", "status", "headers", "body", "message"),
    [
        ("create", 201, {}, b"", "HTTP 201 but apns-channel-id: must be the base64 channel id string, got NoneType"),
        ("read", 200, {}, b"<html>", "HTTP 200 but body: is not JSON"),
        ("read", 200, {}, b'{"message-storage-policy":7}', "HTTP 200 but message-storage-policy: must be"),
        ("list", 200, {}, b'{"channels":"x"}', "HTTP 200 but channels: is not a list"),
        ("list", 200, {}, b'{"channels":[5]}', "HTTP 200 but channel_id: must be the base64 channel id string"),
    ],
)
def test_unreadable_successes_are_provider_errors(
    operation: str, status: int, headers: dict[str, str], body: bytes, message: str
) -> None:
    every: dict[str, dict[str, Any]] = {"create": {"storage": 0}, "read": {"channel": CHANNEL_ID}, "list": {}}
    kwargs = every[operation]
    answer = decode_channel_answer(request(operation, **kwargs), status, headers, body)
    assert not answer.outcome.ok
    assert type(answer.outcome.error) is ProviderError
    assert message in str(answer.outcome.error)
    assert answer.outcome.reason is None
    assert not answer.outcome.retryable


def test_channel_errors_decode_to_apns_reasons() -> None:
    gone = decode_channel_answer(request("read", channel=CHANNEL_ID), 400, {}, b'{"reason":"ChannelNotRegistered"}')
    assert gone.outcome.reason is ApnsReason.CHANNEL_NOT_REGISTERED
    assert isinstance(gone.outcome.error, InvalidTokenError)
    assert str(gone.outcome.error).startswith("APNs refused the channel request: HTTP 400 ChannelNotRegistered")
    bad = decode_channel_answer(request("delete", channel=CHANNEL_ID), 400, {}, b'{"reason":"BadChannelId"}')
    assert bad.outcome.reason is ApnsReason.BAD_CHANNEL_ID
    assert type(bad.outcome.error) is ProviderError
    assert not bad.outcome.token_invalid
    busy = decode_channel_answer(request("list"), 503, {"retry-after": "3"}, b'{"reason":"ServiceUnavailable"}')
    assert busy.outcome.retryable
    assert busy.outcome.retry_after == 3.0
    expired = decode_channel_answer(request("list"), 403, {}, b'{"reason":"ExpiredProviderToken"}')
    assert expired.outcome.refresh_credential


def test_a_dead_channel_on_broadcast_is_an_invalid_target() -> None:
    outcome = parse_response(400, {"apns-request-id": REQUEST_ID}, b'{"reason":"ChannelNotRegistered"}')
    assert outcome.token_invalid
    assert outcome.message_id == REQUEST_ID  # broadcasts are identified by apns-request-id
    assert parse_response(200, {"apns-request-id": REQUEST_ID}, b"").message_id == REQUEST_ID


def test_certificate_auth_presents_the_certificate_to_the_channel_management_host(
    rsa_key: rsa.RSAPrivateKey, make_cert: CertFactory
) -> None:
    key_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert = make_cert(rsa_key).public_bytes(serialization.Encoding.PEM) + key_pem
    client = PushClient(apns=APNs(cert=cert, topic=BUNDLE, environment="sandbox"))
    # Apple: the certificate is presented in the TLS handshake, to each APNs host the client talks to.
    assert set(client._client_cert_contexts()) == {
        ("api.sandbox.push.apple.com", 443),
        ("api-manage-broadcast.sandbox.push.apple.com", 2195),
    }
    client.close()
