"""``WebPushSubscription``: parsing the browser's JSON and validating endpoint and keys."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import ValidationError
from unipush._targets import Target
from unipush.webpush import WebPushSubscription
from unipush.webpush._crypto import b64url_encode

ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABnZXhhbXBsZS10b2tlbg"


@pytest.fixture
def p256dh() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return b64url_encode(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@pytest.fixture
def auth() -> str:
    return b64url_encode(os.urandom(16))


def browser_json(endpoint, p256dh, auth, expiration=None):
    return {"endpoint": endpoint, "expirationTime": expiration, "keys": {"p256dh": p256dh, "auth": auth}}


class TestValid:
    def test_fields_and_key(self, p256dh, auth):
        sub = WebPushSubscription(ENDPOINT, p256dh, auth)
        assert sub.provider == "webpush"
        assert isinstance(sub, Target)
        assert sub.key == ENDPOINT
        assert len(sub.p256dh_bytes) == 65
        assert sub.p256dh_bytes[0] == 4
        assert len(sub.auth_bytes) == 16

    def test_from_dict_mapping_json_text_and_bytes(self, p256dh, auth):
        data = browser_json(ENDPOINT, p256dh, auth)
        expected = WebPushSubscription(ENDPOINT, p256dh, auth)
        assert WebPushSubscription.from_dict(data) == expected
        assert WebPushSubscription.from_dict(json.dumps(data)) == expected
        assert WebPushSubscription.from_dict(json.dumps(data).encode()) == expected

    def test_to_dict_round_trip(self, p256dh, auth):
        data = browser_json(ENDPOINT, p256dh, auth, expiration=1767225600000)
        sub = WebPushSubscription.from_dict(data)
        assert sub.expiration_time == datetime(2026, 1, 1, tzinfo=timezone.utc)
        # unipush's form is the browser's JSON plus v, provider and type, so browser readers read it too.
        assert sub.to_dict() == {"v": 1, "provider": "webpush", "type": "subscription", **data}
        assert WebPushSubscription.from_dict(sub.to_dict()) == sub

    def test_padding_and_standard_alphabet_normalised(self, p256dh, auth):
        padded = WebPushSubscription(ENDPOINT, p256dh + "=", auth + "==")
        standard = WebPushSubscription(ENDPOINT, p256dh.replace("-", "+").replace("_", "/"), auth)
        plain = WebPushSubscription(ENDPOINT, p256dh, auth)
        assert padded == standard == plain
        assert padded.p256dh == p256dh
        assert hash(padded) == hash(plain)

    def test_unknown_members_ignored(self, p256dh, auth):
        data = browser_json(ENDPOINT, p256dh, auth)
        data["extra"] = True
        data["keys"]["other"] = "x"
        assert WebPushSubscription.from_dict(data).endpoint == ENDPOINT

    @pytest.mark.parametrize(
        "endpoint",
        [
            "http://localhost:8080/push/abc",
            "http://127.0.0.1:9000/push/abc",
            "http://[::1]:9000/push/abc",
            "http://sandbox.localhost/push",
            "https://localhost/push",
            "https://web.push.apple.com/QGx1c2VyLXRva2Vu",
            "https://wns2-pn1p.notify.windows.com/w/?token=BQYAAAB",
            "https://93.184.216.34/push/abc",
        ],
    )
    def test_accepted_endpoints(self, p256dh, auth, endpoint):
        assert WebPushSubscription(endpoint, p256dh, auth).endpoint == endpoint

    def test_repr_is_short(self, p256dh, auth):
        sub = WebPushSubscription(ENDPOINT, p256dh, auth)
        assert repr(sub) == "WebPushSubscription('updates.push.services.mozilla.com/…/gAAAAABn…')"
        assert ENDPOINT not in repr(sub)
        assert auth not in repr(sub)


class TestInvalid:
    @pytest.mark.parametrize(
        ("endpoint", "message"),
        [
            ("http://push.example.com/x", "must use https"),
            ("ftp://push.example.com/x", "https:// URL with a host"),
            ("push.example.com/x", "https:// URL with a host"),
            ("https:///nohost", "https:// URL with a host"),
            ("", "must not be empty"),
            ("https://push.example.com/a b", "without whitespace"),
            ("https://user:pw@push.example.com/x", "user info"),
            ("https://push.example.com/x#frag", "fragment"),
            ("https://push.example.com:99999/x", "not a valid URL"),
            ("https://10.0.0.5/push", "non-public address"),
            ("https://192.168.1.1/push", "non-public address"),
            ("https://169.254.169.254/latest/meta-data", "non-public address"),
            ("https://[fd00::1]/push", "non-public address"),
            ("https://0.0.0.0/push", "non-public address"),
        ],
    )
    def test_endpoint(self, p256dh, auth, endpoint, message):
        with pytest.raises(ValidationError, match=message) as info:
            WebPushSubscription(endpoint, p256dh, auth)
        assert info.value.field == "endpoint"

    def test_endpoint_type(self, p256dh, auth):
        with pytest.raises(ValidationError, match="must be a URL string") as info:
            WebPushSubscription(None, p256dh, auth)  # type: ignore[arg-type]
        assert info.value.field == "endpoint"

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda good: good[:-4], "must decode to 65 bytes"),
            (lambda good: "not*base64", "not valid base64url"),
            (lambda good: "", "not valid base64url"),
            (lambda good: b64url_encode(b"\x05" + b"\x01" * 64), "uncompressed P-256 point"),
            (lambda good: b64url_encode(b"\x04" + b"\x01" * 64), "not a point on the P-256 curve"),
            (lambda good: b64url_encode(b"\x02" + b"\x01" * 32), "must decode to 65 bytes"),
            (lambda good: 42, "must be a base64url string"),
        ],
    )
    def test_p256dh(self, p256dh, auth, make, message):
        with pytest.raises(ValidationError, match=message) as info:
            WebPushSubscription(ENDPOINT, make(p256dh), auth)
        assert info.value.field == "p256dh"

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (b64url_encode(b"\x01" * 15), "must decode to 16 bytes"),
            (b64url_encode(b"\x01" * 17), "must decode to 16 bytes"),
            ("%%%", "not valid base64url"),
            (None, "must be a base64url string"),
        ],
    )
    def test_auth(self, p256dh, value, message):
        with pytest.raises(ValidationError, match=message) as info:
            WebPushSubscription(ENDPOINT, p256dh, value)
        assert info.value.field == "auth"

    def test_expiration_time_must_be_aware(self, p256dh, auth):
        with pytest.raises(ValidationError) as info:
            WebPushSubscription(ENDPOINT, p256dh, auth, datetime(2026, 1, 1))
        assert info.value.field == "expiration_time"

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda d: d.pop("endpoint"), "endpoint"),
            (lambda d: d.pop("keys"), "keys"),
            (lambda d: d.update(keys="x"), "keys"),
            (lambda d: d["keys"].pop("p256dh"), "keys.p256dh"),
            (lambda d: d["keys"].pop("auth"), "keys.auth"),
            (lambda d: d["keys"].update(auth="abc"), "keys.auth"),
            (lambda d: d["keys"].update(p256dh="abcd"), "keys.p256dh"),
            (lambda d: d.update(expirationTime="soon"), "expirationTime"),
            (lambda d: d.update(expirationTime=True), "expirationTime"),
            (lambda d: d.update(expirationTime=1e300), "expirationTime"),
            (lambda d: d.update(endpoint="http://push.example.com/"), "endpoint"),
        ],
    )
    def test_from_dict_fields(self, p256dh, auth, mutate, field):
        data = browser_json(ENDPOINT, p256dh, auth)
        mutate(data)
        with pytest.raises(ValidationError) as info:
            WebPushSubscription.from_dict(data)
        assert info.value.field == field

    @pytest.mark.parametrize(("data", "message"), [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")])
    def test_from_dict_bad_document(self, data, message):
        with pytest.raises(ValidationError, match=message) as info:
            WebPushSubscription.from_dict(data)
        assert info.value.field == "subscription"
