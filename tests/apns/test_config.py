"""``APNs``: credential loading, the Provider protocol, prepare/parse, certificate auth, reprs."""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from unipush._errors import ConfigurationError, InvalidTokenError, ValidationError
from unipush._model import Notification
from unipush._provider import Provider
from unipush._targets import Target
from unipush.apns import APNs, ApnsChannel, ApnsDevice, ApnsOptions, ApnsReason

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
KEY_ID = "ABC123DEFG"
TEAM_ID = "TEAM123456"
TOKEN = "a1" * 32
APNS_ID = "123e4567-e89b-12d3-a456-426614174000"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")

CertFactory = Callable[..., x509.Certificate]


def token_config(key: Any, **kwargs: Any) -> APNs:
    kwargs.setdefault("key_id", KEY_ID)
    kwargs.setdefault("team_id", TEAM_ID)
    kwargs.setdefault("topic", "com.example.app")
    return APNs(key=key, **kwargs)


def pem(key: Any, encryption: serialization.KeySerializationEncryption | None = None) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


# -- token auth: loading the key -----------------------------------------------------------------------


def test_key_from_path_str_and_pathlib(p8_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    for source in (p8_path, str(p8_path)):
        config = token_config(source)
        assert config.auth == "token"
        token = config.signer.token(NOW) if config.signer else ""
        jwt.decode(token, p256_key.public_key(), algorithms=["ES256"], options={"verify_iat": False})


def test_key_from_pem_text_pem_bytes_and_der(p256_pem: bytes, p256_der: bytes) -> None:
    for source in (p256_pem.decode(), "\n" + p256_pem.decode(), p256_pem, p256_der, bytearray(p256_der)):
        assert token_config(source).signer is not None


def test_key_in_sec1_form(p256_key: ec.EllipticCurvePrivateKey) -> None:
    sec1 = p256_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert token_config(sec1).signer is not None


def config_error(key: Any = None, **kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        token_config(key, **kwargs) if key is not None else APNs(**kwargs)
    return str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    assert "not found" in config_error(tmp_path / "nope.p8")


def test_directory_is_not_a_key(tmp_path: Path) -> None:
    assert "cannot read" in config_error(tmp_path)


def test_garbage_key(p256_pem: bytes) -> None:
    assert "not a readable PEM or DER private key" in config_error(b"garbage")
    broken = p256_pem.replace(b"M", b"!", 3)
    message = config_error(broken)
    assert "not a readable" in message
    assert p256_pem.decode().splitlines()[1] not in message


def test_key_text_is_never_echoed(p256_der: bytes) -> None:
    # Key material passed as a str without PEM armour is taken for a path; the error must not show it.
    for secret in (base64.b64encode(p256_der).decode(), p256_der.hex()):
        message = config_error(secret)
        assert secret[:20] not in message
        assert "neither PEM text nor an existing file" in message
    assert "'missing.p8'" in config_error("missing.p8")


def test_rsa_and_other_curves_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    assert "P-256" in config_error(pem(rsa_key))
    assert "secp384r1" in config_error(pem(ec.generate_private_key(ec.SECP384R1())))


def test_encrypted_key_is_refused(p256_key: ec.EllipticCurvePrivateKey) -> None:
    encrypted = pem(p256_key, serialization.BestAvailableEncryption(b"pw"))
    assert "password-protected" in config_error(encrypted)


def test_wrong_source_type() -> None:
    assert "got int" in config_error(12345)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"key_id": None}, "key_id is required"),
        ({"team_id": None}, "team_id is required"),
        ({"key_id": "SHORT"}, "key_id must be"),
        ({"key_id": "ABC123DEF!"}, "key_id must be"),
        ({"team_id": "TEAM1234567"}, "team_id must be"),
        ({"topic": ""}, "bundle ID"),
        ({"topic": "com.example app"}, "bundle ID"),
        ({"environment": "development"}, "'production' or 'sandbox'"),
        ({"base_url": "ftp://example"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"cert_password": "pw"}, "only with cert="),
    ],
)
def test_bad_token_settings(p256_pem: bytes, kwargs: dict[str, Any], needle: str) -> None:
    assert needle in config_error(p256_pem, **kwargs)


def test_credentials_are_required() -> None:
    assert "needs credentials" in config_error(topic="com.example.app")


def test_key_and_cert_together_are_refused(p256_pem: bytes) -> None:
    assert "not both" in config_error(p256_pem, cert=b"x")


# -- base URL, Provider protocol, repr ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "base_url", "expected"),
    [
        ("production", None, "https://api.push.apple.com"),
        ("sandbox", None, "https://api.sandbox.push.apple.com"),
        ("sandbox", "http://127.0.0.1:8443/", "http://127.0.0.1:8443"),
    ],
)
def test_base_url(p256_pem: bytes, environment: Any, base_url: str | None, expected: str) -> None:
    config = token_config(p256_pem, environment=environment, base_url=base_url)
    assert config.base_url == expected
    assert config.environment == environment
    prepared = config.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW)
    assert prepared.url == f"{expected}/3/device/{TOKEN}"


def test_is_a_provider(p256_pem: bytes) -> None:
    config = token_config(p256_pem)
    assert isinstance(config, Provider)
    assert config.name == "apns"
    assert config.target_types == (ApnsDevice, ApnsChannel)
    assert (config.topic, config.key_id, config.team_id) == ("com.example.app", KEY_ID, TEAM_ID)
    assert config.client_cert() is None


def test_repr_has_no_secrets(p256_pem: bytes) -> None:
    config = token_config(p256_pem, environment="sandbox")
    text = repr(config)
    assert text == (
        "APNs(topic='com.example.app', environment='sandbox', auth='token', key_id='ABC123DEFG', "
        "team_id='TEAM123456', base_url='https://api.sandbox.push.apple.com')"
    )
    assert "PRIVATE" not in text


# -- prepare / reauthorize / parse ------------------------------------------------------------------------


def test_prepare(p256_key: ec.EllipticCurvePrivateKey, p256_pem: bytes) -> None:
    config = token_config(p256_pem)
    n = Notification(title="Hi", collapse_key="c", priority="high")
    prepared = config.prepare(n, ApnsDevice(TOKEN.upper()), now=NOW, apns_id=APNS_ID)
    assert prepared.provider == "apns"
    assert prepared.method == "POST"
    assert prepared.url == f"https://api.push.apple.com/3/device/{TOKEN}"
    assert prepared.payload == {"aps": {"alert": {"title": "Hi"}}}
    assert prepared.body == b'{"aps":{"alert":{"title":"Hi"}}}'
    assert json.loads(prepared.body) == prepared.payload
    headers = dict(prepared.headers)
    authorization = headers.pop("authorization")
    assert headers == {
        "apns-push-type": "alert",
        "apns-topic": "com.example.app",
        "apns-id": APNS_ID,
        "apns-expiration": str(int(NOW.timestamp()) + 2419200),
        "apns-priority": "10",
        "apns-collapse-id": "c",
        "content-type": "application/json",
    }
    scheme, token = authorization.split(" ")
    assert scheme == "bearer"
    claims = jwt.decode(token, p256_key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": TEAM_ID, "iat": int(NOW.timestamp())}
    assert token not in repr(prepared)
    assert not prepared.credential_pending


def test_prepare_makes_a_fresh_uuid4_apns_id(p256_pem: bytes) -> None:
    config = token_config(p256_pem)
    ids = {config.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW).headers["apns-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(UUID4.match(i) for i in ids)


def test_prepare_refuses_other_targets(p256_pem: bytes) -> None:
    class Other(Target):
        provider = "other"

        @property
        def key(self) -> str:
            return "x"

    with pytest.raises(ValidationError) as info:
        token_config(p256_pem).prepare(Notification(title="t"), Other(), now=NOW)
    assert info.value.field == "target"


def test_configs_of_one_key_share_the_token(p256_pem: bytes) -> None:
    a = token_config(p256_pem, topic="com.example.one")
    b = token_config(p256_pem, topic="com.example.two", environment="sandbox")
    ra = a.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW)
    rb = b.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW + timedelta(minutes=5))
    assert ra.headers["authorization"] == rb.headers["authorization"]
    assert a.signer is not None
    assert a.signer.mint_count == 1


def test_reauthorize_after_expired_provider_token(p256_pem: bytes) -> None:
    config = token_config(p256_pem)
    request = config.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW, apns_id=APNS_ID)
    outcome = config.parse(request, 403, {"apns-id": APNS_ID}, b'{"reason":"ExpiredProviderToken"}')
    assert outcome.refresh_credential
    # Within 20 minutes of the mint: same token (no TooManyProviderTokenUpdates).
    soon = config.reauthorize(request, now=NOW + timedelta(minutes=5))
    assert soon.headers["authorization"] == request.headers["authorization"]
    later = config.reauthorize(request, now=NOW + timedelta(minutes=21))
    assert later.headers["authorization"] != request.headers["authorization"]
    assert later.headers["apns-id"] == APNS_ID
    assert later.body == request.body


def test_parse_delegates_to_the_decoder(p256_pem: bytes) -> None:
    config = token_config(p256_pem)
    request = config.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW, apns_id=APNS_ID)
    assert config.parse(request, 200, {"apns-id": APNS_ID}, b"").message_id == APNS_ID
    gone = config.parse(request, 410, {}, b'{"reason":"Unregistered","timestamp":1735787045000}')
    assert gone.reason is ApnsReason.UNREGISTERED
    assert isinstance(gone.error, InvalidTokenError)
    assert gone.invalidated_at == NOW


def test_prepare_raises_encoder_validation_errors(p256_pem: bytes) -> None:
    with pytest.raises(ValidationError):
        token_config(p256_pem).prepare(Notification(title="t", collapse_key="x" * 65), ApnsDevice(TOKEN), now=NOW)


# -- certificate auth -------------------------------------------------------------------------------------


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_cert_pem_with_key_in_one_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, make_cert: CertFactory) -> None:
    cert = make_cert(rsa_key)
    path = tmp_path / "apns.pem"
    path.write_bytes(cert_pem(cert) + pem(rsa_key))
    config = APNs(cert=path, topic="com.example.app", environment="sandbox")
    assert config.auth == "certificate"
    assert config.signer is None
    client = config.client_cert()
    assert client is not None
    assert x509.load_pem_x509_certificate(client.cert_pem) == cert
    loaded = serialization.load_pem_private_key(client.key_pem, None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert loaded.private_numbers() == rsa_key.private_numbers()
    assert "com.example.app" in client.subject


def test_cert_and_separate_key(rsa_key: rsa.RSAPrivateKey, make_cert: CertFactory) -> None:
    encrypted = pem(rsa_key, serialization.BestAvailableEncryption(b"s3cret"))
    config = APNs(
        cert=cert_pem(make_cert(rsa_key)), cert_key=encrypted, cert_password="s3cret", topic="com.example.app"
    )
    assert config.client_cert() is not None


def test_cert_p12(rsa_key: rsa.RSAPrivateKey, make_cert: CertFactory) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"apns", rsa_key, make_cert(rsa_key), None, serialization.BestAvailableEncryption(b"pw")
    )
    config = APNs(cert=data, cert_password=b"pw", topic="com.example.app")
    assert config.client_cert() is not None
    with pytest.raises(ConfigurationError, match="cert_password is wrong"):
        APNs(cert=data, cert_password="nope", topic="com.example.app")


def test_cert_with_ec_key(p256_key: ec.EllipticCurvePrivateKey, make_cert: CertFactory) -> None:
    config = APNs(cert=cert_pem(make_cert(p256_key)) + pem(p256_key), topic="com.example.app")
    assert config.client_cert() is not None


def test_cert_problems(
    rsa_key: rsa.RSAPrivateKey, p256_key: ec.EllipticCurvePrivateKey, make_cert: CertFactory
) -> None:
    cert = cert_pem(make_cert(rsa_key))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cert": cert}, "no private key"),
        ({"cert": cert + pem(p256_key)}, "do not match"),
        ({"cert": cert, "cert_key": pem(p256_key)}, "do not match"),
        ({"cert": pem(rsa_key)}, "no readable certificate"),
        ({"cert": b"\x00garbage"}, "PKCS#12"),
        (
            {
                "cert": cert_pem(make_cert(rsa_key, not_after=datetime.now(timezone.utc) - timedelta(days=1)))
                + pem(rsa_key)
            },
            "expired",
        ),
        ({"cert": cert + pem(rsa_key), "key_id": KEY_ID}, "only with key="),
        ({"cert": cert + pem(rsa_key), "cert_password": 5}, "cert_password must be"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(ConfigurationError) as info:
            APNs(topic="com.example.app", **kwargs)
        assert needle in str(info.value), kwargs


def test_cert_loads_into_an_ssl_context(rsa_key: rsa.RSAPrivateKey, make_cert: CertFactory) -> None:
    config = APNs(cert=cert_pem(make_cert(rsa_key)) + pem(rsa_key), topic="com.example.app")
    client = config.client_cert()
    assert client is not None
    client.load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def test_cert_auth_prepare_and_repr(rsa_key: rsa.RSAPrivateKey, make_cert: CertFactory) -> None:
    key_pem = pem(rsa_key)
    config = APNs(cert=cert_pem(make_cert(rsa_key)) + key_pem, topic="com.example.app")
    prepared = config.prepare(Notification(title="t"), ApnsDevice(TOKEN), now=NOW)
    assert "authorization" not in prepared.headers
    assert config.reauthorize(prepared, now=NOW) is prepared
    for text in (repr(config), repr(config.client_cert())):
        assert "PRIVATE" not in text
        assert key_pem.decode().splitlines()[1] not in text
    assert repr(config).startswith("APNs(topic='com.example.app', environment='production', auth='certificate', cert=")
    # Location pushes exist only with token auth.
    with pytest.raises(ValidationError) as info:
        config.prepare(
            Notification(data={"k": "v"}, apns=ApnsOptions(push_type="location")), ApnsDevice(TOKEN), now=NOW
        )
    assert info.value.field == "apns.push_type"
