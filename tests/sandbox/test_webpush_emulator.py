"""The sandbox's Web Push service: what it accepts, what it refuses (status and exact body), what it records."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from unipush._model import Action, Notification
from unipush.sandbox._faults import Fault
from unipush.sandbox._inbox import Inbox
from unipush.sandbox._interface import SandboxRequest, SandboxResponse
from unipush.sandbox.emulators._webpush import DETAIL_HEADER, MAX_TTL_SECONDS, WebPushEmulator
from unipush.webpush import WebPush, WebPushSubscription
from unipush.webpush._crypto import b64url_decode, b64url_encode, encrypt

BASE = "https://127.0.0.1:8443"
NOW = 1_800_000_000.0
CONTACT = "mailto:ops@example.com"


def public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url_encode(raw)


def vapid_key(emulator: WebPushEmulator) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(emulator.vapid_private_key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


class Harness:
    """An emulator with a settable clock, and helpers that build pushes the way an application server does."""

    def __init__(self, directory: Path) -> None:
        self.now = NOW
        self.inbox = Inbox()
        self.emulator = WebPushEmulator(self.inbox, directory, lambda: BASE, clock=lambda: self.now)
        self.key = vapid_key(self.emulator)

    def jwt(self, key: ec.EllipticCurvePrivateKey | None = None, **overrides: Any) -> str:
        claims: dict[str, Any] = {"aud": BASE, "exp": int(self.now) + 12 * 3600, "sub": CONTACT}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.key, algorithm="ES256")

    def authorization(self, key: ec.EllipticCurvePrivateKey | None = None, **claims: Any) -> str:
        return f"vapid t={self.jwt(key, **claims)}, k={public_b64(key or self.key)}"

    def push(
        self,
        subscription: Mapping[str, Any],
        payload: bytes = b'{"title":"Hi"}',
        *,
        headers: Mapping[str, str | None] | None = None,
        body: bytes | None = None,
        method: str = "POST",
        path: str | None = None,
    ) -> SandboxResponse:
        keys = subscription["keys"]
        merged: dict[str, str | None] = {
            "authorization": self.authorization(),
            "ttl": "3600",
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
        }
        merged.update(headers or {})
        if body is None:
            body = encrypt(payload, b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"]))
        request = SandboxRequest(
            method=method,
            path=path if path is not None else subscription["endpoint"].removeprefix(BASE),
            headers={name: value for name, value in merged.items() if value is not None},
            body=body,
        )
        return asyncio.run(self.emulator.handle(request))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "credentials")


@pytest.fixture
def sub(harness: Harness) -> dict[str, Any]:
    return harness.emulator.subscribe()


def assert_rejected(response: SandboxResponse, status: int, reason: str) -> None:
    assert (response.status, response.body) == (status, b'{"reason":"%s"}' % reason.encode())
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers[DETAIL_HEADER]


# -- construction and subscriptions ------------------------------------------------------------------


def test_writes_the_default_vapid_key_as_pkcs8_pem(harness: Harness) -> None:
    path = harness.emulator.vapid_private_key_path
    assert path.name == "vapid-private.pem"
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, not SEC1 "EC PRIVATE KEY"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert isinstance(harness.key.curve, ec.SECP256R1)
    assert public_b64(harness.key) == harness.emulator.application_server_key
    assert len(b64url_decode(harness.emulator.application_server_key)) == 65


def test_subscribe_returns_the_push_subscription_json_shape(harness: Harness) -> None:
    first, second = harness.emulator.subscribe(), harness.emulator.subscribe()
    assert set(first) == {"endpoint", "expirationTime", "keys"}
    assert first["expirationTime"] is None
    assert first["endpoint"].startswith(f"{BASE}/push/")
    assert set(first["keys"]) == {"p256dh", "auth"}
    for value in first["keys"].values():
        assert not set(value) & set("=+/")
    p256dh = b64url_decode(first["keys"]["p256dh"])
    assert len(p256dh) == 65
    assert p256dh[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    assert len(b64url_decode(first["keys"]["auth"])) == 16
    assert first["endpoint"] != second["endpoint"]
    assert first["keys"] != second["keys"]


@pytest.mark.parametrize(
    "bad_key",
    ["", "not base64!", "BAAA", b64url_encode(b"\x04" + b"\x01" * 64), b64url_encode(bytes(33)) + "=="],
)
def test_subscribe_refuses_an_application_server_key_that_is_not_a_p256_point(harness: Harness, bad_key: str) -> None:
    with pytest.raises(ValueError, match="P-256"):
        harness.emulator.subscribe(bad_key)


# -- accepted pushes -----------------------------------------------------------------------------------


def test_a_valid_push_is_created_and_delivered_decrypted(harness: Harness, sub: dict[str, Any]) -> None:
    response = harness.push(sub, b'{"title":"Order shipped","n":1}', headers={"topic": "order-1234", "urgency": "high"})

    assert response.status == 201
    assert response.body == b""
    location = response.headers["location"]
    assert location.startswith(f"{BASE}/message/")
    assert response.headers["ttl"] == "3600"
    [delivery] = harness.inbox.all()
    assert delivery.provider == "webpush"
    assert delivery.target == sub["endpoint"]
    assert delivery.payload == {"title": "Order shipped", "n": 1}
    assert delivery.raw == b'{"title":"Order shipped","n":1}'
    assert delivery.message_id == location
    assert delivery.received_at.timestamp() == NOW
    assert "authorization" not in delivery.headers
    assert delivery.headers["topic"] == "order-1234"
    assert delivery.headers["urgency"] == "high"
    assert delivery.headers["ttl"] == "3600"


def test_each_push_gets_its_own_location(harness: Harness, sub: dict[str, Any]) -> None:
    first, second = harness.push(sub), harness.push(sub)
    assert first.headers["location"] != second.headers["location"]


@pytest.mark.parametrize(
    ("ttl", "kept"), [("0", "0"), ("2592000", "2592000"), ("2592001", "2592000"), ("9" * 40, "2592000")]
)
def test_the_ttl_kept_is_echoed_and_capped_at_30_days(
    harness: Harness, sub: dict[str, Any], ttl: str, kept: str
) -> None:
    response = harness.push(sub, headers={"ttl": ttl})
    assert response.status == 201
    assert response.headers["ttl"] == kept
    assert MAX_TTL_SECONDS == 30 * 24 * 3600


@pytest.mark.parametrize("plaintext", [b"plain text", b"[1,2]", b"\xff\xfe not utf-8", b'"a string"'])
def test_a_payload_that_is_not_a_json_object_is_kept_raw(
    harness: Harness, sub: dict[str, Any], plaintext: bytes
) -> None:
    assert harness.push(sub, plaintext).status == 201
    [delivery] = harness.inbox.all()
    assert delivery.payload is None
    assert delivery.raw == plaintext


def test_a_push_without_a_body_needs_no_content_encoding(harness: Harness, sub: dict[str, Any]) -> None:
    response = harness.push(sub, body=b"", headers={"content-encoding": None})
    assert response.status == 201
    [delivery] = harness.inbox.all()
    assert (delivery.raw, delivery.payload) == (b"", None)


def test_a_body_encrypted_by_http_ece_decrypts_too(harness: Harness, sub: dict[str, Any]) -> None:
    # http_ece is the encrypter pywebpush uses: an independent implementation of RFC 8188 / RFC 8291.
    body = http_ece.encrypt(
        b'{"from":"http_ece"}',
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(sub["keys"]["p256dh"]),
        auth_secret=b64url_decode(sub["keys"]["auth"]),
        version="aes128gcm",
    )
    assert harness.push(sub, body=body).status == 201
    assert harness.inbox.all()[0].payload == {"from": "http_ece"}


@pytest.mark.parametrize(
    "authorization",
    [
        "VAPID t={t}, k={k}",  # RFC 9110 §11.1: the scheme is case-insensitive
        "vapid t={t},k={k}",
        'vapid k="{k}", t="{t}"',
    ],
)
def test_vapid_header_variants_that_are_valid(harness: Harness, sub: dict[str, Any], authorization: str) -> None:
    value = authorization.format(t=harness.jwt(), k=harness.emulator.application_server_key)
    assert harness.push(sub, headers={"authorization": value}).status == 201


@pytest.mark.parametrize(
    "subject", [CONTACT, "MAILTO:ops@push.example.org", "https://shop.example.com/contact", "https://93.184.216.34"]
)
def test_real_contacts_are_accepted(harness: Harness, sub: dict[str, Any], subject: str) -> None:
    assert harness.push(sub, headers={"authorization": harness.authorization(sub=subject)}).status == 201


@pytest.mark.parametrize("urgency", ["very-low", "low", "normal", "high"])
def test_every_urgency_is_accepted(harness: Harness, sub: dict[str, Any], urgency: str) -> None:
    assert harness.push(sub, headers={"urgency": urgency}).status == 201


@pytest.mark.parametrize("topic", ["a" * 32, "abcd", "ab", "Ab-_90", "0123456789abcdef0123456789ABCDEF"])
def test_valid_topics_are_accepted(harness: Harness, sub: dict[str, Any], topic: str) -> None:
    assert harness.push(sub, headers={"topic": topic}).status == 201


def test_exp_exactly_24_hours_ahead_is_accepted(harness: Harness, sub: dict[str, Any]) -> None:
    authorization = harness.authorization(exp=int(NOW) + 24 * 3600)
    assert harness.push(sub, headers={"authorization": authorization}).status == 201


def test_content_encoding_names_are_case_insensitive(harness: Harness, sub: dict[str, Any]) -> None:
    assert harness.push(sub, headers={"content-encoding": "AES128GCM"}).status == 201


def test_a_body_of_exactly_4096_bytes_is_accepted(harness: Harness, sub: dict[str, Any]) -> None:
    plaintext = json.dumps({"p": "x" * (3993 - 9)}).encode()
    body = _encrypted(sub, plaintext)
    assert len(body) == 4096
    response = harness.push(sub, body=body)
    assert response.status == 201
    assert harness.inbox.all()[0].raw == plaintext


# -- subscription state and binding -----------------------------------------------------------------------


def test_unknown_subscription_is_404(harness: Harness, sub: dict[str, Any]) -> None:
    assert_rejected(harness.push(sub, path="/push/nope"), 404, "NotFound")


@pytest.mark.parametrize("path", ["/", "/push/", "/push/a/b", "/3/device/abc"])
def test_paths_that_are_not_push_resources_are_404(harness: Harness, sub: dict[str, Any], path: str) -> None:
    assert_rejected(harness.push(sub, path=path), 404, "NotFound")


def test_only_post_is_allowed(harness: Harness, sub: dict[str, Any]) -> None:
    assert_rejected(harness.push(sub, method="GET"), 405, "MethodNotAllowed")


@pytest.mark.parametrize("by", ["endpoint", "id"])
def test_unsubscribed_is_410_gone(harness: Harness, sub: dict[str, Any], by: str) -> None:
    assert harness.push(sub).status == 201
    harness.emulator.unsubscribe(sub["endpoint"] if by == "endpoint" else sub["endpoint"].rpartition("/")[2])
    assert_rejected(harness.push(sub), 410, "Unregistered")
    assert len(harness.inbox) == 1


def test_unsubscribing_an_unknown_subscription_raises(harness: Harness) -> None:
    with pytest.raises(KeyError):
        harness.emulator.unsubscribe(f"{BASE}/push/nope")


def test_a_subscription_is_bound_to_the_application_server_key_it_was_created_with(harness: Harness) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    bound = harness.emulator.subscribe(public_b64(other))

    assert harness.push(bound, headers={"authorization": harness.authorization(other)}).status == 201
    # The sandbox's own (valid, well-signed) key is still the wrong key for this subscription.
    assert_rejected(harness.push(bound), 403, "VapidPkHashMismatch")
    # And the other key is wrong for subscriptions made with the default key.
    default = harness.emulator.subscribe()
    assert_rejected(
        harness.push(default, headers={"authorization": harness.authorization(other)}), 403, "VapidPkHashMismatch"
    )


# -- rejected pushes: every rule, exact status and body ----------------------------------------------


def _other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _compressed(key: str) -> str:
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    return b64url_encode(raw)


def _hs256_jwt() -> str:
    claims = {"aud": BASE, "exp": int(NOW) + 60, "sub": CONTACT}
    return jwt.encode(claims, "a-shared-secret-of-32-bytes-long", algorithm="HS256")


OFF_CURVE = b64url_encode(b"\x04" + bytes(range(64)))
HeaderFactory = Callable[[Harness], Mapping[str, str | None]]

AUTH_CASES: list[tuple[str, HeaderFactory, int, str]] = [
    ("missing", lambda h: {"authorization": None}, 401, "BadJwtToken"),
    ("empty", lambda h: {"authorization": ""}, 401, "BadJwtToken"),
    (
        "legacy WebPush scheme",
        lambda h: {
            "authorization": f"WebPush {h.jwt()}",
            "crypto-key": f"p256ecdsa={h.emulator.application_server_key}",
        },
        401,
        "BadJwtToken",
    ),
    ("bearer", lambda h: {"authorization": f"Bearer {h.jwt()}"}, 401, "BadJwtToken"),
    ("no k", lambda h: {"authorization": f"vapid t={h.jwt()}"}, 401, "BadJwtToken"),
    ("no t", lambda h: {"authorization": f"vapid k={h.emulator.application_server_key}"}, 401, "BadJwtToken"),
    ("not key=value", lambda h: {"authorization": "vapid garbage"}, 401, "BadJwtToken"),
    (
        "duplicate t",
        lambda h: {"authorization": f"vapid t={h.jwt()}, t={h.jwt()}, k={h.emulator.application_server_key}"},
        401,
        "BadJwtToken",
    ),
    ("k not base64url", lambda h: {"authorization": f"vapid t={h.jwt()}, k=not*base64"}, 403, "BadVapidPublicKey"),
    (
        "k padded",
        lambda h: {"authorization": f"vapid t={h.jwt()}, k={h.emulator.application_server_key}="},
        403,
        "BadVapidPublicKey",
    ),
    (
        "k compressed point",
        lambda h: {"authorization": f"vapid t={h.jwt()}, k={_compressed(h.emulator.application_server_key)}"},
        403,
        "BadVapidPublicKey",
    ),
    (
        "k not on the curve",
        lambda h: {"authorization": f"vapid t={h.jwt()}, k={OFF_CURVE}"},
        403,
        "BadVapidPublicKey",
    ),
    (
        "k is another key",
        lambda h: {"authorization": h.authorization(_other_key())},
        403,
        "VapidPkHashMismatch",
    ),
    (
        "signed by another key",
        lambda h: {"authorization": f"vapid t={h.jwt(_other_key())}, k={h.emulator.application_server_key}"},
        403,
        "BadJwtToken",
    ),
    (
        "HS256",
        lambda h: {"authorization": f"vapid t={_hs256_jwt()}, k={h.emulator.application_server_key}"},
        403,
        "BadJwtToken",
    ),
    (
        "not a JWT",
        lambda h: {"authorization": f"vapid t=abc.def, k={h.emulator.application_server_key}"},
        403,
        "BadJwtToken",
    ),
    ("no aud", lambda h: {"authorization": h.authorization(aud=None)}, 403, "BadJwtToken"),
    (
        "aud of another service",
        lambda h: {"authorization": h.authorization(aud="https://web.push.apple.com")},
        403,
        "BadJwtToken",
    ),
    ("aud with a path", lambda h: {"authorization": h.authorization(aud=f"{BASE}/")}, 403, "BadJwtToken"),
    ("aud as a list", lambda h: {"authorization": h.authorization(aud=[BASE])}, 403, "BadJwtToken"),
    ("aud over http", lambda h: {"authorization": h.authorization(aud="http://127.0.0.1:8443")}, 403, "BadJwtToken"),
    ("no exp", lambda h: {"authorization": h.authorization(exp=None)}, 403, "BadJwtToken"),
    ("exp as text", lambda h: {"authorization": h.authorization(exp=str(int(NOW) + 60))}, 403, "BadJwtToken"),
    ("exp now", lambda h: {"authorization": h.authorization(exp=int(NOW))}, 403, "BadJwtToken"),
    ("exp past", lambda h: {"authorization": h.authorization(exp=int(NOW) - 60)}, 403, "BadJwtToken"),
    ("exp over 24h", lambda h: {"authorization": h.authorization(exp=int(NOW) + 24 * 3600 + 1)}, 403, "BadJwtToken"),
    ("no sub", lambda h: {"authorization": h.authorization(sub=None)}, 403, "BadJwtToken"),
    ("sub localhost mail", lambda h: {"authorization": h.authorization(sub="mailto:me@localhost")}, 403, "BadJwtToken"),
    (
        "sub localhost url",
        lambda h: {"authorization": h.authorization(sub="https://localhost:3000")},
        403,
        "BadJwtToken",
    ),
    ("sub loopback ip", lambda h: {"authorization": h.authorization(sub="https://127.0.0.1")}, 403, "BadJwtToken"),
    ("sub private ip", lambda h: {"authorization": h.authorization(sub="mailto:me@[192.168.1.2]")}, 403, "BadJwtToken"),
    ("sub .local", lambda h: {"authorization": h.authorization(sub="mailto:me@printer.local")}, 403, "BadJwtToken"),
    ("sub machine name", lambda h: {"authorization": h.authorization(sub="mailto:me@buildbox")}, 403, "BadJwtToken"),
    ("sub bare address", lambda h: {"authorization": h.authorization(sub="ops@example.com")}, 403, "BadJwtToken"),
    ("sub http", lambda h: {"authorization": h.authorization(sub="http://example.com")}, 403, "BadJwtToken"),
    ("sub not a string", lambda h: {"authorization": h.authorization(sub=42)}, 403, "BadJwtToken"),
]

HEADER_CASES: list[tuple[str, HeaderFactory, int, str]] = [
    ("ttl missing", lambda h: {"ttl": None}, 400, "BadTtl"),
    ("ttl negative", lambda h: {"ttl": "-1"}, 400, "BadTtl"),
    ("ttl fraction", lambda h: {"ttl": "1.5"}, 400, "BadTtl"),
    ("ttl word", lambda h: {"ttl": "soon"}, 400, "BadTtl"),
    ("ttl empty", lambda h: {"ttl": ""}, 400, "BadTtl"),
    ("urgency unknown", lambda h: {"urgency": "urgent"}, 400, "BadUrgency"),
    ("urgency upper-case", lambda h: {"urgency": "HIGH"}, 400, "BadUrgency"),
    ("urgency empty", lambda h: {"urgency": ""}, 400, "BadUrgency"),
    ("topic too long", lambda h: {"topic": "a" * 33}, 400, "BadWebPushTopic"),
    ("topic alphabet", lambda h: {"topic": "order 1234"}, 400, "BadWebPushTopic"),
    ("topic standard base64", lambda h: {"topic": "ab+/"}, 400, "BadWebPushTopic"),
    ("topic empty", lambda h: {"topic": ""}, 400, "BadWebPushTopic"),
    ("topic length 1 mod 4", lambda h: {"topic": "abcde"}, 400, "BadWebPushTopic"),
    ("topic length 1", lambda h: {"topic": "a"}, 400, "BadWebPushTopic"),
    ("encoding missing", lambda h: {"content-encoding": None}, 400, "BadContentEncoding"),
    ("encoding aesgcm", lambda h: {"content-encoding": "aesgcm"}, 400, "BadContentEncoding"),
    ("encoding gzip", lambda h: {"content-encoding": "gzip"}, 400, "BadContentEncoding"),
]


@pytest.mark.parametrize(
    ("make_headers", "status", "reason"),
    [pytest.param(make, status, reason, id=name) for name, make, status, reason in AUTH_CASES + HEADER_CASES],
)
def test_rejections(
    harness: Harness, sub: dict[str, Any], make_headers: HeaderFactory, status: int, reason: str
) -> None:
    response = harness.push(sub, headers=make_headers(harness))
    assert_rejected(response, status, reason)
    assert response.headers.get("www-authenticate") == ("vapid" if status == 401 else None)
    assert len(harness.inbox) == 0


def _encrypted(sub: Mapping[str, Any], plaintext: bytes) -> bytes:
    return encrypt(plaintext, b64url_decode(sub["keys"]["p256dh"]), b64url_decode(sub["keys"]["auth"]))


def _tampered(harness: Harness, sub: Mapping[str, Any]) -> bytes:
    body = bytearray(_encrypted(sub, b'{"a":1}'))
    body[-1] ^= 1
    return bytes(body)


def _two_records(harness: Harness, sub: Mapping[str, Any]) -> bytes:
    # rs = 18 cannot hold this message in one record; RFC 8291 §4 allows only one.
    body = bytearray(_encrypted(sub, b'{"a":1}'))
    body[16:20] = (18).to_bytes(4, "big")
    return bytes(body)


BODY_CASES: list[tuple[str, Callable[[Harness, Mapping[str, Any]], bytes], int, str]] = [
    ("over 4096 bytes", lambda h, s: _encrypted(s, b"x" * 3993) + b"\x00", 413, "PayloadTooLarge"),
    ("not encrypted", lambda h, s: b'{"title":"plain"}', 400, "DecryptionFailed"),
    ("truncated header", lambda h, s: _encrypted(s, b"{}")[:30], 400, "DecryptionFailed"),
    ("tampered", _tampered, 400, "DecryptionFailed"),
    ("for another subscription", lambda h, s: _encrypted(h.emulator.subscribe(), b"{}"), 400, "DecryptionFailed"),
    ("more than one record", _two_records, 400, "DecryptionFailed"),
]


@pytest.mark.parametrize(
    ("make_body", "status", "reason"),
    [pytest.param(make, status, reason, id=name) for name, make, status, reason in BODY_CASES],
)
def test_body_rejections(
    harness: Harness,
    sub: dict[str, Any],
    make_body: Callable[[Harness, Mapping[str, Any]], bytes],
    status: int,
    reason: str,
) -> None:
    assert_rejected(harness.push(sub, body=make_body(harness, sub)), status, reason)
    assert len(harness.inbox) == 0


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def test_a_padding_delimiter_that_is_not_final_is_refused(harness: Harness, sub: dict[str, Any]) -> None:
    # Encrypt by hand (RFC 8291 §3.4, RFC 8188 §2.2-2.3) with delimiter 0x01, which marks a non-final
    # record: a single-record message ending that way is truncated, and the browser must refuse it.
    sender = ec.generate_private_key(ec.SECP256R1())
    ua_public = b64url_decode(sub["keys"]["p256dh"])
    as_public = sender.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    ecdh = sender.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public))
    prk_key = _hmac(b64url_decode(sub["keys"]["auth"]), ecdh)
    ikm = _hmac(prk_key, b"WebPush: info\x00" + ua_public + as_public + b"\x01")
    salt = os.urandom(16)
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    header = salt + (4096).to_bytes(4, "big") + bytes([65]) + as_public

    final = header + AESGCM(cek).encrypt(nonce, b'{"ok":1}\x02', None)
    assert harness.push(sub, body=final).status == 201  # the hand-made encryption is right...
    not_final = header + AESGCM(cek).encrypt(nonce, b'{"ok":1}\x01', None)
    assert_rejected(harness.push(sub, body=not_final), 400, "DecryptionFailed")  # ...and 0x01 is refused


def test_what_the_webpush_provider_renders_is_accepted_and_delivered_as_sent(harness: Harness) -> None:
    subscription = harness.emulator.subscribe()
    provider = WebPush(
        vapid_private_key=harness.emulator.vapid_private_key_path,
        subject="mailto:dev@unipush.dev",
        allow_local_endpoints=True,
    )
    notification = Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="https://shop.example/o/1234",
        image="https://cdn.example/box.png",
        badge=3,
        collapse_key="order-1234",
        ttl=3600,
        priority="high",
        actions=[Action(id="track", title="Track")],
    )
    prepared = provider.prepare(
        notification, WebPushSubscription.from_dict(subscription), now=datetime.fromtimestamp(NOW, timezone.utc)
    )
    assert prepared.url == subscription["endpoint"]

    request = SandboxRequest(
        method=prepared.method, path=prepared.url.removeprefix(BASE), headers=prepared.headers, body=prepared.body
    )
    response = asyncio.run(harness.emulator.handle(request))

    assert response.status == 201, response.headers.get(DETAIL_HEADER)
    [delivery] = harness.inbox.all()
    assert delivery.payload == prepared.payload
    assert delivery.payload is not None
    assert delivery.headers["ttl"] == "3600"


# -- the order of the checks ----------------------------------------------------------------------------


def test_subscription_state_is_checked_before_authorization(harness: Harness, sub: dict[str, Any]) -> None:
    no_auth = {"authorization": None, "ttl": None}
    assert_rejected(harness.push(sub, headers=no_auth, path="/push/unknown"), 404, "NotFound")
    harness.emulator.unsubscribe(sub["endpoint"])
    assert_rejected(harness.push(sub, headers=no_auth), 410, "Unregistered")


def test_authorization_is_checked_before_the_headers(harness: Harness, sub: dict[str, Any]) -> None:
    bad = {"ttl": None, "urgency": "x", "topic": "!", "content-encoding": "gzip"}
    assert_rejected(harness.push(sub, headers={"authorization": None, **bad}), 401, "BadJwtToken")
    assert_rejected(
        harness.push(sub, headers={"authorization": harness.authorization(exp=1), **bad}), 403, "BadJwtToken"
    )


def test_headers_are_checked_ttl_urgency_topic_then_encoding(harness: Harness, sub: dict[str, Any]) -> None:
    headers: dict[str, str | None] = {"ttl": None, "urgency": "x", "topic": "!", "content-encoding": "gzip"}
    for reason, fixed in [
        ("BadTtl", {"ttl": "60"}),
        ("BadUrgency", {"urgency": "low"}),
        ("BadWebPushTopic", {"topic": "abcd"}),
        ("BadContentEncoding", {"content-encoding": "aes128gcm"}),
    ]:
        assert_rejected(harness.push(sub, headers=headers, body=b"x" * 5000), 400, reason)
        headers.update(fixed)
    assert_rejected(harness.push(sub, headers=headers, body=b"x" * 5000), 413, "PayloadTooLarge")


# -- VAPID verification cache --------------------------------------------------------------------------


def test_a_jwt_is_verified_once_but_its_claims_are_checked_on_every_push(
    harness: Harness, sub: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from unipush.sandbox.emulators._webpush import _emulator as _webpush

    calls: list[str] = []
    real = _webpush._verify_jwt

    def counting(token: str, key: bytes) -> Mapping[str, Any]:
        calls.append(token)
        return real(token, key)

    monkeypatch.setattr(_webpush, "_verify_jwt", counting)
    authorization = harness.authorization(exp=int(NOW) + 600)
    for _ in range(3):
        assert harness.push(sub, headers={"authorization": authorization}).status == 201
    assert len(calls) == 1

    harness.now += 601  # the cached JWT has expired by now
    assert_rejected(harness.push(sub, headers={"authorization": authorization}), 403, "BadJwtToken")
    assert len(calls) == 1


def test_a_cached_jwt_is_not_trusted_for_another_subscription_key(harness: Harness, sub: dict[str, Any]) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    token = harness.jwt()
    assert (
        harness.push(
            sub, headers={"authorization": f"vapid t={token}, k={harness.emulator.application_server_key}"}
        ).status
        == 201
    )
    bound = harness.emulator.subscribe(public_b64(other))
    # Same (cached) token, now presented with the other subscription's key: the signature does not match k.
    assert_rejected(
        harness.push(bound, headers={"authorization": f"vapid t={token}, k={public_b64(other)}"}), 403, "BadJwtToken"
    )


# -- faults and targets -----------------------------------------------------------------------------------


def _request(path: str = "/push/abc") -> SandboxRequest:
    return SandboxRequest(method="POST", path=path, headers={}, body=b"")


@pytest.mark.parametrize(
    ("fault", "status", "reason", "retry_after"),
    [
        (Fault(kind="status", status=429, retry_after="7"), 429, "TooManyRequests", "7"),
        (Fault(kind="status", status=429), 429, "TooManyRequests", None),
        (Fault(kind="status", status=500), 500, "InternalServerError", None),
        (
            Fault(kind="status", status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
            503,
            "ServiceUnavailable",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ),
        (Fault(kind="status", status=502), 502, "BadGateway", None),
        (Fault(kind="status", status=599), 599, "Error", None),
        (Fault(kind="status", status=503, reason="Overloaded"), 503, "Overloaded", None),
        (Fault(kind="invalid_token"), 410, "Unregistered", None),
        (Fault(kind="bad_token"), 404, "NotFound", None),
        (Fault(kind="expired_credential"), 403, "BadJwtToken", None),
    ],
)
def test_fault_responses(harness: Harness, fault: Fault, status: int, reason: str, retry_after: str | None) -> None:
    response = harness.emulator.fault_response(fault, _request())
    assert_rejected(response, status, reason)
    assert response.headers.get("retry-after") == retry_after


def test_target_of_is_the_subscription_endpoint(harness: Harness, sub: dict[str, Any]) -> None:
    path = sub["endpoint"].removeprefix(BASE)
    assert harness.emulator.target_of(_request(path)) == sub["endpoint"]
    assert harness.emulator.target_of(_request(f"{path}?x=1")) == sub["endpoint"]
    assert harness.emulator.target_of(_request("/other")) is None


def test_target_of_never_raises(tmp_path: Path) -> None:
    def unbound() -> str:
        raise RuntimeError("not bound yet")

    emulator = WebPushEmulator(Inbox(), tmp_path, unbound)
    assert emulator.target_of(_request()) is None
    assert emulator.name == "webpush"
