"""The sandbox's APNs: what it accepts, what it refuses (status and Apple's exact body), what it records."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush._model import Action, Notification
from unipush.apns import APNs, ApnsDevice
from unipush.apns._options import ApnsOptions
from unipush.sandbox._faults import Fault
from unipush.sandbox._inbox import Inbox
from unipush.sandbox._interface import SandboxRequest, SandboxResponse
from unipush.sandbox.emulators._apns import DETAIL_HEADER, ApnsEmulator

NOW = 1_800_000_000.0
TOPIC = "com.example.app"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Clock:
    """A settable clock for the emulator."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """An emulator with a settable clock, and helpers that send requests the way a provider server does."""

    def __init__(self, directory: Path, **kwargs: Any) -> None:
        self.clock = Clock()
        self.inbox = Inbox()
        self.emulator = ApnsEmulator(self.inbox, directory, clock=self.clock, **kwargs)
        self.device = self.emulator.new_device()
        self._token = self.jwt()

    def jwt(
        self,
        *,
        iat: float | None = None,
        kid: str | None = None,
        iss: str | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> str:
        return jwt.encode(
            {"iss": iss or self.emulator.team_id, "iat": int(NOW if iat is None else iat)},
            key or self.emulator.private_key,
            algorithm="ES256",
            headers={"kid": kid or self.emulator.key_id},
        )

    def headers(self, **overrides: str | None) -> dict[str, str]:
        headers: dict[str, str | None] = {
            "authorization": f"bearer {self._token}",
            "apns-topic": TOPIC,
            "apns-push-type": "alert",
            "content-type": "application/json",
        }
        headers.update({k.replace("_", "-"): v for k, v in overrides.items()})
        return {k: v for k, v in headers.items() if v is not None}

    def send(
        self,
        body: bytes | dict[str, Any] = b'{"aps":{"alert":{"title":"Hi"}}}',
        *,
        method: str = "POST",
        path: str | None = None,
        headers: dict[str, str] | None = None,
        **overrides: str | None,
    ) -> SandboxResponse:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        request = SandboxRequest(
            method=method,
            path=path if path is not None else f"/3/device/{self.device}",
            headers=headers if headers is not None else self.headers(**overrides),
            body=raw,
        )
        return asyncio.run(self.emulator.handle(request))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def reason(response: SandboxResponse) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    document = json.loads(response.body)
    assert isinstance(document, dict)
    return document


# ---------------------------------------------------------------------------------------------- credentials


def test_credentials_are_written_and_match_the_signing_key(tmp_path: Path) -> None:
    emulator = ApnsEmulator(Inbox(), tmp_path / "creds")
    assert re.fullmatch(r"[A-Z0-9]{10}", emulator.key_id)
    assert re.fullmatch(r"[A-Z0-9]{10}", emulator.team_id)
    assert emulator.key_path == tmp_path / "creds" / f"AuthKey_{emulator.key_id}.p8"
    pem = emulator.key_path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Apple's .p8 files are
    assert stat.S_IMODE(emulator.key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert key.private_numbers() == emulator.private_key.private_numbers()
    assert "BEGIN" not in repr(emulator)


def test_each_emulator_has_its_own_key(tmp_path: Path) -> None:
    first, second = ApnsEmulator(Inbox(), tmp_path / "a"), ApnsEmulator(Inbox(), tmp_path / "b")
    assert first.key_id != second.key_id
    assert first.private_key.private_numbers() != second.private_key.private_numbers()


def test_new_device_tokens_are_fresh_64_hex(harness: Harness) -> None:
    tokens = {harness.emulator.new_device() for _ in range(20)}
    assert len(tokens) == 20
    assert all(re.fullmatch(r"[0-9a-f]{64}", token) for token in tokens)


# ---------------------------------------------------------------------------------------------- success


def test_accepted_push_is_answered_and_recorded(harness: Harness) -> None:
    apns_id = str(uuid.uuid4())
    body = {"aps": {"alert": {"title": "Order shipped", "body": "#1234"}, "badge": 1}, "unipush": {"deep_link": "x"}}
    response = harness.send(body, apns_id=apns_id, apns_collapse_id="order-1", apns_expiration="1800003600")
    assert response.status == 200
    assert response.body == b""
    assert response.headers["apns-id"] == apns_id
    assert UUID_RE.fullmatch(response.headers["apns-unique-id"])  # Development environment only
    [delivery] = harness.inbox.all()
    assert delivery.provider == "apns"
    assert delivery.target == harness.device
    assert delivery.payload == body
    assert delivery.raw == json.dumps(body).encode()
    assert delivery.message_id == apns_id
    assert delivery.received_at == datetime.fromtimestamp(NOW, tz=timezone.utc)
    assert "authorization" not in delivery.headers
    assert delivery.headers["apns-collapse-id"] == "order-1"
    assert delivery.headers["apns-topic"] == TOPIC


def test_apns_id_is_generated_when_absent(harness: Harness) -> None:
    response = harness.send()
    assert response.status == 200
    assert UUID_RE.fullmatch(response.headers["apns-id"])
    assert harness.inbox.all()[0].message_id == response.headers["apns-id"]


def test_unknown_well_formed_tokens_are_accepted(harness: Harness) -> None:
    # Users can send to any token: the sandbox never saw this one, but it is well-formed.
    token = "ab" * 32
    response = harness.send(path=f"/3/device/{token}")
    assert response.status == 200
    assert harness.inbox.for_target(token)


@pytest.mark.parametrize(
    ("push_type", "topic", "headers"),
    [
        ("alert", TOPIC, {}),
        ("background", TOPIC, {"apns_priority": "5"}),
        ("voip", TOPIC + ".voip", {}),
        ("location", TOPIC + ".location-query", {}),
        ("complication", TOPIC + ".complication", {}),
        ("fileprovider", TOPIC + ".pushkit.fileprovider", {}),
        ("liveactivity", TOPIC + ".push-type.liveactivity", {}),
        ("pushtotalk", TOPIC + ".voip-ptt", {}),
        ("widgets", TOPIC + ".push-type.widgets", {}),
        ("controls", TOPIC + ".push-type.controls", {}),
        ("mdm", "com.apple.mgmt.External.0d1e2f", {}),
    ],
)
def test_every_push_type_with_its_topic_is_accepted(
    harness: Harness, push_type: str, topic: str, headers: dict[str, Any]
) -> None:
    response = harness.send(apns_push_type=push_type, apns_topic=topic, **headers)
    assert response.status == 200, response.body


def test_push_type_may_be_omitted(harness: Harness) -> None:
    assert harness.send(apns_push_type=None).status == 200


@pytest.mark.parametrize("priority", ["1", "5", "10"])
def test_priorities_are_accepted(harness: Harness, priority: str) -> None:
    assert harness.send(apns_priority=priority).status == 200


def test_collapse_id_of_exactly_64_bytes_is_accepted(harness: Harness) -> None:
    assert harness.send(apns_collapse_id="é" * 32).status == 200  # 64 bytes of UTF-8


def test_payload_limits_are_inclusive(harness: Harness) -> None:
    def body(size: int) -> bytes:
        base = b'{"aps":{},"pad":""}'
        return base[:-2] + b"x" * (size - len(base)) + b'"}'

    assert harness.send(body(4096)).status == 200
    voip: dict[str, Any] = {"apns_push_type": "voip", "apns_topic": TOPIC + ".voip"}
    assert harness.send(body(5120), **voip).status == 200
    assert harness.send(body(5121), **voip).status == 413


def test_voip_payload_needs_no_aps(harness: Harness) -> None:
    response = harness.send({"caller": "Alice"}, apns_push_type="voip", apns_topic=TOPIC + ".voip")
    assert response.status == 200


# ---------------------------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("kwargs", "status", "expected"),
    [
        ({"method": "GET"}, 405, "MethodNotAllowed"),
        ({"method": "PUT"}, 405, "MethodNotAllowed"),
        ({"path": "/3/notdevice/abc"}, 404, "BadPath"),
        ({"path": "/2/device/" + "ab" * 32}, 404, "BadPath"),
        ({"path": "/3/device/"}, 400, "MissingDeviceToken"),
        ({"path": "/3/device"}, 400, "MissingDeviceToken"),
        ({"path": "/3/device/" + "zz" * 32}, 400, "BadDeviceToken"),
        ({"path": "/3/device/abcd"}, 400, "BadDeviceToken"),
        ({"path": "/3/device/" + "a" * 65}, 400, "BadDeviceToken"),
        ({"authorization": None}, 403, "MissingProviderToken"),
        ({"authorization": "basic abc"}, 403, "MissingProviderToken"),
        ({"authorization": "bearer "}, 403, "MissingProviderToken"),
        ({"authorization": "bearer not-a-jwt"}, 403, "InvalidProviderToken"),
        ({"apns_topic": None}, 400, "MissingTopic"),
        ({"apns_topic": "com.example app"}, 400, "BadTopic"),
        ({"apns_push_type": "banner"}, 400, "InvalidPushType"),
        ({"apns_push_type": "voip"}, 400, "BadTopic"),
        ({"apns_push_type": "voip", "apns_topic": ".voip"}, 400, "BadTopic"),
        ({"apns_push_type": "liveactivity"}, 400, "BadTopic"),
        ({"apns_priority": "7"}, 400, "BadPriority"),
        ({"apns_priority": "high"}, 400, "BadPriority"),
        ({"apns_push_type": "background", "apns_priority": "10"}, 400, "BadPriority"),
        ({"apns_push_type": "background"}, 400, "BadPriority"),  # absent = 10
        ({"apns_push_type": "background", "apns_priority": "1"}, 400, "BadPriority"),
        ({"apns_expiration": "soon"}, 400, "BadExpirationDate"),
        ({"apns_expiration": "-1"}, 400, "BadExpirationDate"),
        ({"apns_id": "123"}, 400, "BadMessageId"),
        ({"apns_id": "{" + str(uuid.UUID(int=1)) + "}"}, 400, "BadMessageId"),
        ({"apns_collapse_id": "x" * 65}, 400, "BadCollapseId"),
        ({"apns_collapse_id": "é" * 33}, 400, "BadCollapseId"),
        ({"body": b""}, 400, "PayloadEmpty"),
        ({"body": b"{not json"}, 400, "PayloadEmpty"),
        ({"body": b"[1, 2]"}, 400, "PayloadEmpty"),
        ({"body": b'{"aps": "hello"}'}, 400, "PayloadEmpty"),
        ({"body": b'{"custom": 1}'}, 400, "PayloadEmpty"),  # an alert push without aps
        ({"body": b"\xff\xfe"}, 400, "PayloadEmpty"),
        ({"body": b'{"aps":{},"x":"' + b"y" * 4090 + b'"}'}, 413, "PayloadTooLarge"),
    ],
)
def test_rejections_have_apples_status_and_body(
    harness: Harness, kwargs: dict[str, Any], status: int, expected: str
) -> None:
    response = harness.send(**kwargs)
    assert response.status == status
    assert response.body == json.dumps({"reason": expected}, separators=(",", ":")).encode()
    assert UUID_RE.fullmatch(response.headers["apns-id"])
    assert response.headers[DETAIL_HEADER]
    assert not harness.inbox.all()


def test_a_bad_apns_id_is_not_echoed(harness: Harness) -> None:
    response = harness.send(apns_id="not-a-uuid")
    assert reason(response) == {"reason": "BadMessageId"}
    assert UUID_RE.fullmatch(response.headers["apns-id"])


def test_errors_echo_a_valid_apns_id(harness: Harness) -> None:
    apns_id = str(uuid.uuid4())
    response = harness.send(apns_id=apns_id, apns_topic=None)
    assert response.headers["apns-id"] == apns_id


# ---------------------------------------------------------------------------------------------- provider token


@pytest.mark.parametrize(
    "token_kwargs",
    [
        {"kid": "WRONGKEYID"},
        {"iss": "WRONGTEAM0"},
        {"key": ec.generate_private_key(ec.SECP256R1())},
        {"iat": NOW + 3600},  # in the future beyond the skew allowance
    ],
    ids=["kid", "iss", "signature", "future-iat"],
)
def test_invalid_provider_tokens(harness: Harness, token_kwargs: dict[str, Any]) -> None:
    response = harness.send(authorization="bearer " + harness.jwt(**token_kwargs))
    assert response.status == 403
    assert reason(response) == {"reason": "InvalidProviderToken"}


def test_provider_token_must_be_es256(harness: Harness) -> None:
    token = jwt.encode(
        {"iss": harness.emulator.team_id, "iat": int(NOW)},
        "a-shared-secret-of-at-least-32-bytes!",
        algorithm="HS256",
        headers={"kid": harness.emulator.key_id},
    )
    assert reason(harness.send(authorization=f"bearer {token}")) == {"reason": "InvalidProviderToken"}


def test_provider_token_needs_an_integer_iat(harness: Harness) -> None:
    token = jwt.encode(
        {"iss": harness.emulator.team_id, "iat": "yesterday"},
        harness.emulator.private_key,
        algorithm="ES256",
        headers={"kid": harness.emulator.key_id},
    )
    assert reason(harness.send(authorization=f"bearer {token}")) == {"reason": "InvalidProviderToken"}


def test_small_clock_skew_is_tolerated(harness: Harness) -> None:
    assert harness.send(authorization="bearer " + harness.jwt(iat=NOW + 30)).status == 200


def test_token_older_than_an_hour_is_expired(harness: Harness) -> None:
    assert harness.send().status == 200
    harness.clock.now = NOW + 3601
    response = harness.send()
    assert response.status == 403
    assert response.body == b'{"reason":"ExpiredProviderToken"}'
    harness.clock.now = NOW + 3600
    assert harness.send().status == 200  # exactly one hour is still fine


def test_old_token_presented_first_is_expired(harness: Harness) -> None:
    token = harness.jwt(iat=NOW - 7200)
    assert reason(harness.send(authorization=f"bearer {token}")) == {"reason": "ExpiredProviderToken"}


def test_scheme_is_case_insensitive(harness: Harness) -> None:
    assert harness.send(authorization="Bearer " + harness.jwt()).status == 200


def test_token_updates_faster_than_20_minutes_are_refused(harness: Harness) -> None:
    assert harness.send().status == 200  # token A, first seen at NOW
    harness.clock.now = NOW + 60
    token_b = harness.jwt(iat=NOW + 60)
    response = harness.send(authorization=f"bearer {token_b}")
    assert response.status == 429
    assert response.body == b'{"reason":"TooManyProviderTokenUpdates"}'
    assert harness.send().status == 200  # the current token still works

    harness.clock.now = NOW + 20 * 60
    assert harness.send(authorization=f"bearer {token_b}").status == 200  # B replaces A after 20 minutes
    harness.clock.now = NOW + 21 * 60
    # Going back to A is another update, only a minute after B.
    assert reason(harness.send()) == {"reason": "TooManyProviderTokenUpdates"}
    assert harness.send(authorization=f"bearer {token_b}").status == 200


def test_refused_tokens_do_not_count_as_updates(harness: Harness) -> None:
    assert harness.send().status == 200
    harness.clock.now = NOW + 5
    forged = harness.jwt(key=ec.generate_private_key(ec.SECP256R1()))
    assert reason(harness.send(authorization=f"bearer {forged}")) == {"reason": "InvalidProviderToken"}
    assert harness.send().status == 200


def test_token_update_rule_can_be_turned_off(tmp_path: Path) -> None:
    harness = Harness(tmp_path, token_update_interval=0)
    assert harness.send().status == 200
    assert harness.send(authorization="bearer " + harness.jwt(iat=NOW - 1)).status == 200


def test_each_token_is_verified_once(harness: Harness) -> None:
    for _ in range(10):
        assert harness.send().status == 200
    assert harness.emulator.jwt_verifications == 1
    harness.clock.now = NOW + 3601  # the cached token's age is still checked on every request
    assert reason(harness.send()) == {"reason": "ExpiredProviderToken"}
    assert harness.emulator.jwt_verifications == 1


def test_unipush_provider_tokens_are_accepted(harness: Harness) -> None:
    from unipush.apns import ProviderTokenSigner

    signer = ProviderTokenSigner(
        harness.emulator.private_key, key_id=harness.emulator.key_id, team_id=harness.emulator.team_id
    )
    now = datetime.fromtimestamp(NOW, tz=timezone.utc)
    assert harness.send(authorization=signer.authorization(now)).status == 200


# ---------------------------------------------------------------------------------------------- device state


def test_invalidated_token_gets_410_with_timestamp(harness: Harness) -> None:
    harness.clock.now = NOW + 12.345
    harness.emulator.invalidate(harness.device)
    harness.clock.now = NOW + 100
    response = harness.send()
    assert response.status == 410
    assert (
        response.body
        == json.dumps(
            {"reason": "Unregistered", "timestamp": int((NOW + 12.345) * 1000)}, separators=(",", ":")
        ).encode()
    )
    assert not harness.inbox.all()


def test_invalidation_ignores_hex_case(harness: Harness) -> None:
    harness.emulator.invalidate(harness.device.upper())
    assert harness.send().status == 410
    assert harness.send(path=f"/3/device/{harness.device.upper()}").status == 410


def test_token_bound_to_a_topic(harness: Harness) -> None:
    token = harness.emulator.new_device(topic=TOPIC)
    path = f"/3/device/{token}"
    assert harness.send(path=path).status == 200
    assert harness.send(path=path, apns_push_type="voip", apns_topic=TOPIC + ".voip").status == 200
    response = harness.send(path=path, apns_topic="com.other.app")
    assert response.status == 400
    assert response.body == b'{"reason":"DeviceTokenNotForTopic"}'


def test_request_errors_come_before_the_token_state(harness: Harness) -> None:
    harness.emulator.invalidate(harness.device)
    assert reason(harness.send(apns_topic=None)) == {"reason": "MissingTopic"}


# ---------------------------------------------------------------------------------------------- faults, targets


def request_for(harness: Harness, **headers: str) -> SandboxRequest:
    return SandboxRequest(
        method="POST", path=f"/3/device/{harness.device}", headers=harness.headers(**headers), body=b"{}"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, "TooManyRequests"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
        (403, "Forbidden"),
        (413, "PayloadTooLarge"),
        (400, "BadTopic"),
        (502, "BadGateway"),
    ],
)
def test_status_faults(harness: Harness, status: int, expected: str) -> None:
    apns_id = str(uuid.uuid4())
    fault = Fault(kind="status", status=status)
    response = harness.emulator.fault_response(fault, request_for(harness, apns_id=apns_id))
    assert response.status == status
    assert response.body == json.dumps({"reason": expected}, separators=(",", ":")).encode()
    assert response.headers["apns-id"] == apns_id
    assert "retry-after" not in response.headers


def test_status_fault_with_retry_after_and_reason(harness: Harness) -> None:
    fault = Fault(kind="status", status=503, retry_after="7", reason="Shutdown")
    response = harness.emulator.fault_response(fault, request_for(harness))
    assert response.status == 503
    assert reason(response) == {"reason": "Shutdown"}
    assert response.headers["retry-after"] == "7"
    assert UUID_RE.fullmatch(response.headers["apns-id"])


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("invalid_token", 410, "Unregistered"),
        ("bad_token", 400, "BadDeviceToken"),
        ("expired_credential", 403, "ExpiredProviderToken"),
    ],
)
def test_kind_faults(harness: Harness, kind: Any, status: int, expected: str) -> None:
    harness.clock.now = NOW + 0.5
    response = harness.emulator.fault_response(Fault(kind=kind), request_for(harness))
    assert response.status == status
    document = reason(response)
    assert document["reason"] == expected
    if status == 410:
        assert document == {"reason": "Unregistered", "timestamp": int((NOW + 0.5) * 1000)}
    else:
        assert document == {"reason": expected}


def test_target_of(harness: Harness) -> None:
    emulator = harness.emulator
    assert emulator.target_of(request_for(harness)) == harness.device
    bad = SandboxRequest(method="POST", path="/elsewhere", headers={}, body=b"")
    assert emulator.target_of(bad) is None
    empty = SandboxRequest(method="POST", path="/3/device/", headers={}, body=b"")
    assert emulator.target_of(empty) is None


# ---------------------------------------------------------------------------------------------- unipush end to end


@pytest.mark.parametrize(
    "notification",
    [
        Notification(
            title="Order shipped",
            body="#1234 is on its way",
            deep_link="https://shop.example/o/1234",
            image="https://cdn.example/box.png",
            badge=1,
            sound="default",
            collapse_key="order-1234",
            ttl=3600,
            priority="high",
            actions=[Action(id="track", title="Track", deep_link="https://shop.example/t/1234")],
            data={"order": "1234"},
        ),
        Notification(content_available=True, data={"sync": "1"}, priority="high"),
        Notification(title="Call", apns=ApnsOptions(push_type="voip")),
    ],
    ids=["rich", "background", "voip"],
)
def test_what_unipush_renders_is_accepted_and_recorded(harness: Harness, notification: Notification) -> None:
    config = APNs(
        key=harness.emulator.key_path,
        key_id=harness.emulator.key_id,
        team_id=harness.emulator.team_id,
        topic=TOPIC,
        base_url="https://127.0.0.1:1",
    )
    now = datetime.fromtimestamp(NOW, tz=timezone.utc)
    prepared = config.prepare(notification, ApnsDevice(harness.device), now=now)
    path = prepared.url.removeprefix("https://127.0.0.1:1")
    request = SandboxRequest(method=prepared.method, path=path, headers=dict(prepared.headers), body=prepared.body)
    response = asyncio.run(harness.emulator.handle(request))
    assert response.status == 200, response.body
    [delivery] = harness.inbox.all()
    assert delivery.payload == prepared.payload
    assert delivery.message_id == prepared.headers["apns-id"]
