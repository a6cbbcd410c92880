"""Client options end to end: verify= forms, APNs certificate auth over TLS, callback kinds, credential refusals."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from unipush import (
    AuthenticationError,
    ConfigurationError,
    Notification,
    PushClient,
    RetryPolicy,
    SendResult,
    TransportError,
)
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM
from unipush.sandbox import EmulatorBase, Fault, Sandbox, SandboxRequest, SandboxResponse, SandboxServer, create_tls

N = Notification(title="hi", deep_link="https://example.com/")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def test_verify_accepts_a_path_object(sandbox: Sandbox) -> None:
    assert isinstance(sandbox.ca_path, Path)
    with PushClient(apns=sandbox.apns_config(), verify=sandbox.ca_path) as client:
        assert client.send(N, sandbox.apns_device()).ok


def test_verify_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="verify"):
        PushClient(apns=_any_apns(), verify=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="verify"):
        PushClient(apns=_any_apns(), verify=False)  # type: ignore[arg-type]


def test_sync_client_refuses_an_async_callback() -> None:
    async def prune(result: SendResult) -> None: ...

    with pytest.raises(ConfigurationError, match="AsyncPushClient"):
        PushClient(apns=_any_apns(), on_invalid_token=prune)


def test_refused_oauth_credential_is_a_result_not_an_exception(sandbox: Sandbox, tmp_path: Path) -> None:
    # A service account the token endpoint does not know (a key it never issued): invalid_grant.
    info: dict[str, Any] = json.loads(Path(sandbox.fcm.service_account_path).read_text())
    info["private_key"] = _pem(ec_key=None)
    unknown = FCM(service_account=info, base_url=sandbox.fcm_url)
    with PushClient(fcm=unknown, verify=sandbox.ssl_context()) as client:
        result = client.send(N, sandbox.fcm_device())
    assert not result.ok
    assert isinstance(result.error, AuthenticationError)
    assert result.attempts == 1


def test_fcm_outage_on_the_token_endpoint_is_a_transport_result(sandbox: Sandbox) -> None:
    dead_token_uri = FCM(
        service_account=sandbox.fcm.service_account_path, base_url=sandbox.fcm_url, token_uri="https://127.0.0.1:9/t"
    )
    with PushClient(fcm=dead_token_uri, verify=sandbox.ssl_context(), retry=RetryPolicy.never()) as client:
        result = client.send(N, sandbox.fcm_device())
    assert not result.ok
    assert isinstance(result.error, TransportError)


class _ApnsLikeEmulator(EmulatorBase):
    """Answers like APNs (200 + apns-id) and remembers whether a provider token was sent."""

    name = "apns"

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        self.authorizations.append(request.headers.get("authorization"))
        return SandboxResponse(status=200, headers={"apns-id": request.headers.get("apns-id", "")})

    def target_of(self, request: SandboxRequest) -> str | None:
        return None

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(status=fault.status)


def _ca_and_client_cert() -> tuple[bytes, bytes, bytes]:
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test client CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.USER_ID, "com.example.app")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return (
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def test_apns_certificate_auth_presents_the_client_certificate(tmp_path: Path) -> None:
    ca_pem, cert_pem, key_pem = _ca_and_client_cert()
    tls = create_tls(tmp_path)
    server_context = tls.server_context()
    server_context.verify_mode = ssl.CERT_REQUIRED  # like APNs with certificate-based connections
    server_context.load_verify_locations(cadata=ca_pem.decode())
    emulator = _ApnsLikeEmulator()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    server = SandboxServer(emulator, ssl_context=server_context)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        apns = APNs(cert=cert_pem, cert_key=key_pem, topic="com.example.app", base_url=server.base_url)
        with PushClient(apns=apns, verify=tls.ca_path) as client:
            result = client.send(N, ApnsDevice("ab" * 32))
        assert result.ok, result
        assert emulator.authorizations == [None]  # certificate auth: no provider token
        # Without the certificate the handshake is refused: proof that the engine presented it.
        keyless = APNs(
            key=_pem(ec_key=ec.generate_private_key(ec.SECP256R1())),
            key_id="ABC123DEFG",
            team_id="TEAM123456",
            topic="com.example.app",
            base_url=server.base_url,
        )
        with PushClient(apns=keyless, verify=tls.ca_path, retry=RetryPolicy.never()) as client:
            refused = client.send(N, ApnsDevice("ab" * 32))
        assert not refused.ok
        assert isinstance(refused.error, TransportError)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(grace=0.5), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _pem(ec_key: ec.EllipticCurvePrivateKey | None) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key: Any = ec_key if ec_key is not None else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def _any_apns() -> APNs:
    return APNs(
        key=_pem(ec.generate_private_key(ec.SECP256R1())),
        key_id="ABC123DEFG",
        team_id="TEAM123456",
        topic="com.example.app",
    )
