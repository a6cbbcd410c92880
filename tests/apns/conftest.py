"""Fixtures for the APNs tests: keys and certificates generated per test, never real credentials."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CertFactory = Callable[..., x509.Certificate]


@pytest.fixture
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def p256_pem(p256_key: ec.EllipticCurvePrivateKey) -> bytes:
    return p256_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def p256_der(p256_key: ec.EllipticCurvePrivateKey) -> bytes:
    return p256_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def p8_path(tmp_path: Path, p256_pem: bytes) -> Path:
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    path.write_bytes(p256_pem)
    return path


def _make_cert(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    not_after: datetime | None = None,
    uid: str = "com.example.app",
) -> x509.Certificate:
    """A self-signed certificate shaped like an APNs one (UID = bundle ID)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, uid),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {uid}"),
        ]
    )
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(not_after or now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def make_cert() -> CertFactory:
    """``make_cert(key, not_after=None, uid="com.example.app")`` -> a self-signed certificate."""
    return _make_cert
