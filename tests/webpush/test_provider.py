"""``WebPush`` as a provider: prepare → decrypt round trips, VAPID on the request, base_url, limits."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import (
    Action,
    ConfigurationError,
    Notification,
    PayloadTooLargeError,
    PreparedRequest,
    Provider,
    ValidationError,
)
from unipush._client import ClientCore
from unipush._targets import Target
from unipush.webpush import (
    DecryptionError,
    WebPush,
    WebPushOptions,
    WebPushStatus,
    WebPushSubscription,
    decrypt,
)
from unipush.webpush._crypto import HEADER_SIZE, b64url_decode, b64url_encode
from unipush.webpush._vapid import audience_of

Subscriber = tuple[ec.EllipticCurvePrivateKey, bytes, WebPushSubscription]
Factory = Callable[[str], Subscriber]

ORDER = Notification(
    title="Order shipped",
    body="#1234 is on its way",
    deep_link="https://shop.example/o/1234",
    badge=1,
    collapse_key="order-1234",
    ttl=3600,
    actions=[Action("track", "Track")],
)


def claims_of(request: PreparedRequest, webpush: WebPush, audience: str) -> dict[str, Any]:
    """Verify the request's VAPID JWT with the provider's public key and return its claims."""
    token = request.headers["authorization"].split("t=", 1)[1].split(",", 1)[0]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(webpush.application_server_key))
    claims: dict[str, Any] = jwt.decode(
        token, public, algorithms=["ES256"], audience=audience, options={"verify_exp": False}
    )
    return claims


class TestPrepare:
    def test_round_trip_through_the_subscriber_key(
        self,
        webpush: WebPush,
        subscriber_key: ec.EllipticCurvePrivateKey,
        auth_secret: bytes,
        subscription: WebPushSubscription,
        now: datetime,
    ) -> None:
        request = webpush.prepare(ORDER, subscription, now=now)
        plaintext = decrypt(request.body, subscriber_key, auth_secret)
        assert json.loads(plaintext) == request.payload
        assert plaintext == json.dumps(request.payload, separators=(",", ":"), ensure_ascii=False).encode()
        assert request.payload == {
            "web_push": 8030,
            "notification": {
                "title": "Order shipped",
                "body": "#1234 is on its way",
                "navigate": "https://shop.example/o/1234",
                "tag": "order-1234",
                "actions": [{"action": "track", "title": "Track", "navigate": "https://shop.example/o/1234"}],
            },
            "app_badge": 1,
        }

    def test_request_shape(self, webpush: WebPush, subscription: WebPushSubscription, now: datetime) -> None:
        request = webpush.prepare(ORDER, subscription, now=now)
        assert request.provider == "webpush"
        assert request.method == "POST"
        assert request.url == subscription.endpoint
        assert request.target is subscription
        assert not request.credential_pending
        assert {k: v for k, v in request.headers.items() if k != "authorization"} == {
            "ttl": "3600",
            "topic": "order-1234",
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
        }
        assert request.headers["authorization"].startswith("vapid t=")
        assert request.headers["authorization"].endswith(f", k={webpush.application_server_key}")
        assert "<redacted>" in repr(request)
        assert request.headers["authorization"] not in repr(request)

    def test_vapid_claims(self, webpush: WebPush, subscription: WebPushSubscription, now: datetime) -> None:
        request = webpush.prepare(ORDER, subscription, now=now)
        assert claims_of(request, webpush, "https://fcm.googleapis.com") == {
            "aud": "https://fcm.googleapis.com",
            "exp": int((now + timedelta(hours=12)).timestamp()),
            "sub": "mailto:ops@example.com",
        }

    def test_vapid_token_cached_across_subscriptions_of_one_service(
        self, webpush: WebPush, subscriber_factory: Factory, now: datetime
    ) -> None:
        one = subscriber_factory("https://fcm.googleapis.com/fcm/send/one")[2]
        two = subscriber_factory("https://fcm.googleapis.com/fcm/send/two")[2]
        apple = subscriber_factory("https://web.push.apple.com/QGFwcGxl")[2]
        first = webpush.prepare(ORDER, one, now=now)
        second = webpush.prepare(ORDER, two, now=now + timedelta(minutes=5))
        third = webpush.prepare(ORDER, apple, now=now)
        assert first.headers["authorization"] == second.headers["authorization"]
        assert third.headers["authorization"] != first.headers["authorization"]
        assert webpush.signer.mint_count == 2
        assert claims_of(third, webpush, "https://web.push.apple.com")["aud"] == "https://web.push.apple.com"

    def test_deterministic_with_injected_salt_and_key(
        self, webpush: WebPush, subscription: WebPushSubscription, now: datetime
    ) -> None:
        salt = os.urandom(16)
        sender = ec.generate_private_key(ec.SECP256R1())
        a = webpush.prepare(ORDER, subscription, now=now, salt=salt, sender_key=sender)
        b = webpush.prepare(ORDER, subscription, now=now, salt=salt, sender_key=sender)
        c = webpush.prepare(ORDER, subscription, now=now)
        assert a.body == b.body
        assert a.body != c.body
        assert a.body[:16] == salt
        sender_public = sender.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert a.body[21:HEADER_SIZE] == sender_public

    def test_only_the_subscriber_can_decrypt(
        self,
        webpush: WebPush,
        subscriber_key: ec.EllipticCurvePrivateKey,
        auth_secret: bytes,
        subscription: WebPushSubscription,
        subscriber_factory: Factory,
        now: datetime,
    ) -> None:
        request = webpush.prepare(ORDER, subscription, now=now)
        other_key, other_auth, _ = subscriber_factory("https://fcm.googleapis.com/fcm/send/other")
        with pytest.raises(DecryptionError):
            decrypt(request.body, other_key, auth_secret)
        with pytest.raises(DecryptionError):
            decrypt(request.body, subscriber_key, other_auth)

    def test_raw_payload(
        self,
        webpush: WebPush,
        subscriber_key: ec.EllipticCurvePrivateKey,
        auth_secret: bytes,
        subscription: WebPushSubscription,
        now: datetime,
    ) -> None:
        n = Notification(webpush=WebPushOptions(payload_format="raw", raw_payload=b"\x00raw\xff"))
        request = webpush.prepare(n, subscription, now=now)
        assert request.payload is None
        assert decrypt(request.body, subscriber_key, auth_secret) == b"\x00raw\xff"
        assert request.headers["ttl"] == "2419200"

    @pytest.mark.parametrize(("size", "fits"), [(3993, True), (3994, False)])
    def test_plaintext_limit(
        self,
        webpush: WebPush,
        subscriber_key: ec.EllipticCurvePrivateKey,
        auth_secret: bytes,
        subscription: WebPushSubscription,
        now: datetime,
        size: int,
        fits: bool,
    ) -> None:
        n = Notification(webpush=WebPushOptions(payload_format="raw", raw_payload=b"p" * size))
        if fits:
            request = webpush.prepare(n, subscription, now=now)
            assert len(request.body) == 4096
            assert decrypt(request.body, subscriber_key, auth_secret) == b"p" * size
        else:
            with pytest.raises(PayloadTooLargeError) as info:
                webpush.prepare(n, subscription, now=now)
            assert (info.value.field, info.value.size, info.value.limit) == ("webpush.raw_payload", 3994, 3993)

    def test_json_payload_too_large(self, webpush: WebPush, subscription: WebPushSubscription, now: datetime) -> None:
        n = Notification(title="t", body="b" * 4000, deep_link="https://a.example/")
        with pytest.raises(PayloadTooLargeError, match="over the limit of 3993 bytes") as info:
            webpush.prepare(n, subscription, now=now)
        assert info.value.field == "payload"
        assert info.value.size > 3993

    def test_validation_errors_surface(
        self, webpush: WebPush, subscription: WebPushSubscription, now: datetime
    ) -> None:
        with pytest.raises(ValidationError) as info:
            webpush.prepare(Notification(body="no title"), subscription, now=now)
        assert info.value.field == "title"

    def test_wrong_target_type(self, webpush: WebPush, now: datetime) -> None:
        class Other(Target):
            provider = "other"

            @property
            def key(self) -> str:
                return "x"

        with pytest.raises(ValidationError) as info:
            webpush.prepare(ORDER, Other(), now=now)
        assert info.value.field == "target"


class TestConfig:
    def test_default_navigate(
        self, vapid_key: ec.EllipticCurvePrivateKey, subscription: WebPushSubscription, now: datetime
    ) -> None:
        webpush = WebPush(
            vapid_private_key=vapid_key, subject="mailto:ops@example.com", default_navigate="https://site.example/"
        )
        request = webpush.prepare(Notification(title="Hi"), subscription, now=now)
        assert request.payload is not None
        assert request.payload["notification"]["navigate"] == "https://site.example/"
        assert webpush.default_navigate == "https://site.example/"

    @pytest.mark.parametrize(
        ("base_url", "endpoint", "url"),
        [
            (
                "http://127.0.0.1:8080",
                "https://fcm.googleapis.com/fcm/send/abc",
                "http://127.0.0.1:8080/fcm/send/abc",
            ),
            (
                "https://proxy.internal.example/push/",
                "https://wns2-pn1p.notify.windows.com/w/?token=abc",
                "https://proxy.internal.example/push/w/?token=abc",
            ),
            ("http://localhost:9000", "https://push.example.com", "http://localhost:9000/"),
        ],
    )
    def test_base_url_keeps_path_query_and_audience(
        self,
        vapid_key: ec.EllipticCurvePrivateKey,
        subscriber_factory: Factory,
        now: datetime,
        base_url: str,
        endpoint: str,
        url: str,
    ) -> None:
        webpush = WebPush(vapid_private_key=vapid_key, subject="mailto:ops@example.com", base_url=base_url)
        request = webpush.prepare(ORDER, subscriber_factory(endpoint)[2], now=now)
        assert request.url == url
        assert webpush.base_url == base_url.rstrip("/")
        # The proxy seam does not change who the token is for: aud stays the endpoint's origin.
        assert claims_of(request, webpush, audience_of(endpoint))["aud"] == audience_of(endpoint)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"vapid_private_key": "not a key"}, "VAPID key"),
            ({"subject": "mailto:me@localhost"}, "real, dotted mail domain"),
            ({"base_url": "ftp://proxy.example"}, "base_url"),
            ({"base_url": "http://proxy.example/?x=1"}, "base_url"),
            ({"base_url": 8080}, "base_url"),
            ({"default_navigate": "/relative"}, "default_navigate"),
            ({"vapid_expiration": timedelta(hours=25)}, "1 minute to 24 hours"),
        ],
    )
    def test_configuration_errors(
        self, vapid_key: ec.EllipticCurvePrivateKey, kwargs: dict[str, Any], message: str
    ) -> None:
        args: dict[str, Any] = {"vapid_private_key": vapid_key, "subject": "mailto:ops@example.com", **kwargs}
        with pytest.raises(ConfigurationError, match=message):
            WebPush(**args)

    def test_repr_hides_the_private_key(self, vapid_key: ec.EllipticCurvePrivateKey) -> None:
        raw = b64url_encode(vapid_key.private_numbers().private_value.to_bytes(32, "big"))
        pem = vapid_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        webpush = WebPush(vapid_private_key=pem, subject="mailto:ops@example.com")
        text = repr(webpush)
        assert raw not in text
        assert "PRIVATE" not in text
        assert webpush.application_server_key in text

    def test_is_a_provider(self, webpush: WebPush) -> None:
        assert isinstance(webpush, Provider)
        assert webpush.name == "webpush"
        assert webpush.target_types == (WebPushSubscription,)

    def test_routed_by_the_client_core(
        self,
        webpush: WebPush,
        subscriber_key: ec.EllipticCurvePrivateKey,
        auth_secret: bytes,
        subscription: WebPushSubscription,
    ) -> None:
        request = ClientCore([webpush]).render(ORDER, subscription)
        assert decrypt(request.body, subscriber_key, auth_secret).startswith(b'{"web_push":8030')

    def test_parse(self, webpush: WebPush, subscription: WebPushSubscription, now: datetime) -> None:
        request = webpush.prepare(ORDER, subscription, now=now)
        gone = webpush.parse(request, 410, {}, b"")
        assert gone.token_invalid
        assert gone.reason is WebPushStatus.GONE
        ok = webpush.parse(request, 201, {"location": "https://fcm.googleapis.com/m/1"}, b"")
        assert ok.ok
        assert ok.message_id == "https://fcm.googleapis.com/m/1"
