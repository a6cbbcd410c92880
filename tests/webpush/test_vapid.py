"""VAPID: key loading from every format, subject rules, audience, the signed header and its cache."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from unipush import ConfigurationError
from unipush.webpush import VapidSigner, generate_vapid_keys, load_vapid_private_key
from unipush.webpush._crypto import b64url_decode, b64url_encode
from unipush.webpush._vapid import audience_of, check_subject

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)
SUBJECT = "mailto:ops@example.com"


def scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def pem(
    key: PrivateKeyTypes,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption())


def der(key: PrivateKeyTypes, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


def same_key(a: ec.EllipticCurvePrivateKey, b: ec.EllipticCurvePrivateKey) -> bool:
    return scalar(a) == scalar(b)


class TestKeyLoading:
    @pytest.mark.parametrize(
        "form",
        [
            "object",
            "pem-pkcs8-str",
            "pem-pkcs8-bytes",
            "pem-sec1-str",
            "pem-with-ec-parameters",
            "der-pkcs8",
            "der-sec1",
            "raw-32-bytes",
            "raw-b64url",
            "raw-b64url-padded",
            "raw-b64-standard",
            "der-b64url",
        ],
    )
    def test_formats(self, vapid_key, form):
        params_block = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        raw_b64 = b64url_encode(scalar(vapid_key))
        source = {
            "object": vapid_key,
            "pem-pkcs8-str": pem(vapid_key).decode(),
            "pem-pkcs8-bytes": pem(vapid_key),
            "pem-sec1-str": pem(vapid_key, serialization.PrivateFormat.TraditionalOpenSSL).decode(),
            "pem-with-ec-parameters": params_block + pem(vapid_key, serialization.PrivateFormat.TraditionalOpenSSL),
            "der-pkcs8": der(vapid_key),
            "der-sec1": der(vapid_key, serialization.PrivateFormat.TraditionalOpenSSL),
            "raw-32-bytes": scalar(vapid_key),
            "raw-b64url": raw_b64,
            "raw-b64url-padded": raw_b64 + "=",
            "raw-b64-standard": raw_b64.replace("-", "+").replace("_", "/"),
            "der-b64url": b64url_encode(der(vapid_key)),
        }[form]
        assert same_key(load_vapid_private_key(source), vapid_key)

    @pytest.mark.parametrize("content", ["pem", "der", "b64url-raw"])
    @pytest.mark.parametrize("as_path", [True, False])
    def test_files(self, tmp_path, vapid_key, content, as_path):
        data = {
            "pem": pem(vapid_key),
            "der": der(vapid_key),
            "b64url-raw": (b64url_encode(scalar(vapid_key)) + "\n").encode(),
        }[content]
        path = tmp_path / "vapid.key"
        path.write_bytes(data)
        loaded = load_vapid_private_key(path if as_path else str(path))
        assert same_key(loaded, vapid_key)

    def test_generated_pair_loads_and_matches(self):
        keys = generate_vapid_keys()
        key = load_vapid_private_key(keys.private_key_pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert b64url_decode(keys.public_key) == public
        assert len(public) == 65
        assert same_key(load_vapid_private_key(keys.private_key_raw), key)
        assert "PRIVATE" not in repr(keys)
        assert keys.private_key_raw not in repr(keys)

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "is a RSA key"),
            (lambda: ed25519.Ed25519PrivateKey.generate(), "is a Ed25519 key"),
            (lambda: ec.generate_private_key(ec.SECP384R1()), "curve secp384r1"),
            (lambda: pem(ec.generate_private_key(ec.SECP384R1())), "curve secp384r1"),
            (lambda: der(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "RSA key"),
            (
                lambda: pem(
                    ec.generate_private_key(ec.SECP256R1()),
                    encryption=serialization.BestAvailableEncryption(b"password"),
                ),
                "encrypted PEM",
            ),
            (
                lambda: (
                    ec.generate_private_key(ec.SECP256R1())
                    .public_key()
                    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                ),
                "public key or certificate",
            ),
            (lambda: b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", "not a readable"),
            (lambda: b"\x00" * 32, "not a valid P-256 private scalar"),
            (lambda: b"\xff" * 32, "not a valid P-256 private scalar"),
            (lambda: b"\x01" * 40, "not PEM, DER or a raw 32-byte"),
            (lambda: "", "empty string"),
            (lambda: "   ", "empty string"),
            (lambda: "definitely not a key!", "not PEM text, not the path of an existing file"),
            (lambda: "keys/vapid.pem", "not PEM text, not the path of an existing file"),
            (lambda: "QUJD", "not PEM text"),
            (lambda: "bad\x00path.pem", "not PEM text"),
            (lambda: "x" * 5000, "not PEM text"),
            (lambda: 12345, "got int"),
            (lambda: None, "got NoneType"),
        ],
    )
    def test_bad_keys(self, make, message):
        with pytest.raises(ConfigurationError, match=message):
            load_vapid_private_key(make())

    def test_missing_path_object(self, tmp_path):
        with pytest.raises(ConfigurationError, match=r"file '.*missing\.pem' cannot be read"):
            load_vapid_private_key(tmp_path / "missing.pem")

    def test_file_with_garbage(self, tmp_path):
        path = tmp_path / "junk.pem"
        path.write_bytes(b"\x00\x01\x02 garbage")
        with pytest.raises(ConfigurationError, match=r"junk\.pem") as info:
            load_vapid_private_key(str(path))
        assert "is not a PEM or DER private key" in str(info.value)

    def test_errors_never_echo_key_material(self, vapid_key):
        raw = b64url_encode(scalar(vapid_key))
        p384_pem = pem(ec.generate_private_key(ec.SECP384R1())).decode()
        for bad in (raw[:-2] + "!!", raw + "AAAA", p384_pem, p384_pem.replace("PRIVATE", "PUBLIC")):
            with pytest.raises(ConfigurationError) as info:
                load_vapid_private_key(bad)
            text = str(info.value)
            assert raw[:10] not in text
            assert "MI" not in text  # no base64 DER/PEM body fragments
            assert info.value.__cause__ is None


class TestSubject:
    @pytest.mark.parametrize(
        "subject",
        [
            "mailto:ops@example.com",
            "mailto:sandbox@unipush.dev",
            "MAILTO:first.last+push@mail.example.co.uk",
            "mailto:ops@example.com?subject=push",
            "https://example.com",
            "https://example.com/contact",
            "https://push.example.org:8443/about",
        ],
    )
    def test_accepted(self, subject):
        assert check_subject(subject) == subject

    @pytest.mark.parametrize(
        ("subject", "message"),
        [
            ("mailto:x@localhost", "real, dotted mail domain"),
            ("mailto:x@app.localhost", "real, dotted mail domain"),
            ("mailto:admin@server", "real, dotted mail domain"),
            ("mailto:x@127.0.0.1", "real, dotted mail domain"),
            ("mailto:x@[::1]", "real, dotted mail domain"),
            ("mailto:x@exa_mple.com", "real, dotted mail domain"),
            ("mailto:@example.com", "email address"),
            ("mailto:example.com", "email address"),
            ("mailto:a b@example.com", "email address"),
            ("https://localhost", "real, public host name"),
            ("https://localhost:8443/x", "real, public host name"),
            ("https://127.0.0.1", "real, public host name"),
            ("https://[::1]/", "real, public host name"),
            ("https://intranet/", "real, public host name"),
            ("https://user@example.com/", "real, public host name"),
            ("http://example.com", "use https://"),
            ("ops@example.com", "must start with 'mailto:' or 'https://'"),
            ("", "must be a 'mailto:' or 'https://' URI"),
            (None, "must be a 'mailto:' or 'https://' URI"),
        ],
    )
    def test_rejected(self, subject, message):
        with pytest.raises(ConfigurationError, match=message):
            check_subject(subject)


class TestAudience:
    @pytest.mark.parametrize(
        ("endpoint", "audience"),
        [
            ("https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com"),
            ("https://web.push.apple.com/QGx1", "https://web.push.apple.com"),
            ("https://Updates.Push.Services.Mozilla.com/wpush/v2/x", "https://updates.push.services.mozilla.com"),
            ("https://wns2-pn1p.notify.windows.com/w/?token=abc", "https://wns2-pn1p.notify.windows.com"),
            ("https://push.example.com:443/x", "https://push.example.com"),
            ("https://push.example.com:8443/x", "https://push.example.com:8443"),
            ("http://localhost:8080/push/1", "http://localhost:8080"),
            ("http://127.0.0.1:80/push/1", "http://127.0.0.1"),
            ("http://[::1]:9000/push", "http://[::1]:9000"),
        ],
    )
    def test_origin(self, endpoint, audience):
        assert audience_of(endpoint) == audience


class TestSigner:
    def decode(self, signer: VapidSigner, header: str, audience: str) -> dict[str, Any]:
        scheme, _, params = header.partition(" ")
        assert scheme == "vapid"
        t_part, k_part = params.split(", ")
        assert k_part == f"k={signer.application_server_key}"
        token = t_part.removeprefix("t=")
        assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT"}
        # RFC 8292 / JWS: ES256 signatures are raw r||s, 64 bytes.
        assert len(b64url_decode(token.rsplit(".", 1)[1])) == 64
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(signer.application_server_key)
        )
        return jwt.decode(token, public, algorithms=["ES256"], audience=audience, options={"verify_exp": False})

    def test_header_verifies(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        header = signer.authorization("https://fcm.googleapis.com/fcm/send/abc", now=NOW)
        claims = self.decode(signer, header, "https://fcm.googleapis.com")
        assert claims == {
            "aud": "https://fcm.googleapis.com",
            "exp": int(NOW.timestamp()) + 12 * 3600,
            "sub": SUBJECT,
        }

    def test_wrong_key_does_not_verify(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        token = signer.token("https://fcm.googleapis.com", now=NOW)
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, other, algorithms=["ES256"], audience="https://fcm.googleapis.com")

    def test_application_server_key(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        public = vapid_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert b64url_decode(signer.application_server_key) == public
        assert "=" not in signer.application_server_key
        assert signer.public_key.public_numbers() == vapid_key.public_key().public_numbers()

    def test_cached_per_audience(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        a1 = signer.authorization("https://fcm.googleapis.com/fcm/send/one", now=NOW)
        a2 = signer.authorization("https://fcm.googleapis.com/fcm/send/two", now=NOW + timedelta(hours=1))
        assert a1 == a2
        assert signer.mint_count == 1
        b = signer.authorization("https://web.push.apple.com/x", now=NOW)
        assert b != a1
        assert signer.mint_count == 2
        self.decode(signer, b, "https://web.push.apple.com")

    def test_renewed_when_half_the_lifetime_is_gone(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        endpoint = "https://fcm.googleapis.com/fcm/send/one"
        first = signer.authorization(endpoint, now=NOW)
        almost = signer.authorization(endpoint, now=NOW + timedelta(hours=6) - timedelta(seconds=1))
        assert almost == first
        renewed = signer.authorization(endpoint, now=NOW + timedelta(hours=6))
        assert renewed != first
        assert signer.mint_count == 2
        claims = self.decode(signer, renewed, "https://fcm.googleapis.com")
        assert claims["exp"] == int((NOW + timedelta(hours=18)).timestamp())

    def test_custom_expiration(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT, expiration=timedelta(hours=24))
        claims = self.decode(signer, signer.authorization("https://a.example/x", now=NOW), "https://a.example")
        assert claims["exp"] == int(NOW.timestamp()) + 24 * 3600
        assert signer.expiration == timedelta(hours=24)

    @pytest.mark.parametrize(
        "expiration", [timedelta(hours=24, seconds=1), timedelta(seconds=59), timedelta(0), 3600, None]
    )
    def test_bad_expiration(self, vapid_key, expiration):
        with pytest.raises(ConfigurationError, match="1 minute to 24 hours"):
            VapidSigner(vapid_key, SUBJECT, expiration=expiration)

    def test_naive_now_is_refused(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        with pytest.raises(ValueError, match="timezone-aware"):
            signer.authorization("https://a.example/x", now=datetime(2026, 1, 1))

    def test_bad_subject_and_key_at_construction(self, vapid_key):
        with pytest.raises(ConfigurationError, match="localhost"):
            VapidSigner(vapid_key, "mailto:x@localhost")
        with pytest.raises(ConfigurationError, match="VAPID key"):
            VapidSigner("nope", SUBJECT)

    def test_repr_has_no_secret(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        text = repr(signer)
        assert b64url_encode(scalar(vapid_key)) not in text
        assert signer.application_server_key in text

    def test_thread_safe_single_mint(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        barrier = threading.Barrier(16)

        def call(_):
            barrier.wait()
            return signer.authorization("https://fcm.googleapis.com/fcm/send/x", now=NOW)

        with ThreadPoolExecutor(16) as pool:
            headers = set(pool.map(call, range(16)))
        assert len(headers) == 1
        assert signer.mint_count == 1

    def test_cache_prunes_expired_audiences(self, vapid_key):
        signer = VapidSigner(vapid_key, SUBJECT)
        for i in range(300):
            signer.authorization(f"https://h{i}.example/x", now=NOW)
        later = NOW + timedelta(hours=7)
        signer.authorization("https://fresh.example/x", now=later)
        assert len(signer._cache) < 300


def test_key_file_path_is_named_but_not_content(tmp_path: Path):
    path = tmp_path / "p384.pem"
    key = ec.generate_private_key(ec.SECP384R1())
    path.write_bytes(pem(key))
    with pytest.raises(ConfigurationError) as info:
        load_vapid_private_key(path)
    assert "p384.pem" in str(info.value)
    assert "secp384r1" in str(info.value)
