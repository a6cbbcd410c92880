"""``unipush.provider``: the plugin toolkit's helpers, and its client-certificate hook used by a plugin over TLS."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

import pytest

from tests.test_client_options import _ApnsLikeEmulator, _ca_and_client_cert
from unipush import (
    ConfigurationError,
    InvalidTokenError,
    Notification,
    ProviderError,
    PushClient,
    RateLimitedError,
    RetryPolicy,
    TransportError,
    ValidationError,
)
from unipush.provider import (
    ClientCertificate,
    Outcome,
    PreparedRequest,
    SupportsClientCertificate,
    Target,
    check_provider,
    dumps_json,
    failure,
    header,
    load_json,
    retry_after_from_headers,
    success,
)
from unipush.sandbox import SandboxServer, create_tls


def test_failure_takes_its_facts_from_the_error() -> None:
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    error = InvalidTokenError("gone", provider="x", status_code=410, reason="Unregistered", invalidated_at=when)
    outcome = failure(error, token_invalid=True)
    assert outcome == Outcome(
        ok=False, status_code=410, error=error, reason="Unregistered", token_invalid=True, invalidated_at=when
    )
    slow = RateLimitedError("slow down", provider="x", status_code=429, retry_after=7.0)
    assert failure(slow, retryable=True).retry_after == 7.0
    assert failure(slow, retryable=True).retryable
    assert failure(ProviderError("expired", provider="x", status_code=401), refresh_credential=True).refresh_credential


def test_success() -> None:
    assert success(201, message_id="m-1") == Outcome(ok=True, status_code=201, message_id="m-1")
    assert success().status_code == 200


def test_load_json_is_total() -> None:
    assert load_json(b'{"a": [1]}') == {"a": [1]}
    for junk in (b"<html>Bad Gateway</html>", b"", b"\xff\xfe\x00", b'{"a":'):
        assert load_json(junk) is None


def test_dumps_json_is_the_compact_utf8_body() -> None:
    assert dumps_json({"title": "Café", "n": [1, 2]}) == '{"title":"Café","n":[1,2]}'.encode()
    with pytest.raises(ValidationError, match="lone surrogate"):
        dumps_json({"title": "\udfff"})
    with pytest.raises(ValidationError, match="NaN"):
        dumps_json({"score": float("nan")})


def test_retry_after_and_header_helpers() -> None:
    assert header({"Retry-After": "3"}, "retry-after") == "3"
    assert retry_after_from_headers({"retry-after": "12"}) == 12.0
    # An HTTP-date is measured against the response's own Date: a pure decoder reads no clock.
    dated = {"date": "Wed, 21 Oct 2015 07:28:00 GMT", "retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}
    assert retry_after_from_headers(dated) == 30.0
    assert retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}) is None
    assert retry_after_from_headers({"retry-after": "-1"}) is None


@dataclass(frozen=True, slots=True)
class _Device(Target):
    provider: ClassVar[str] = "mtls"
    token: str

    @property
    def key(self) -> str:
        return self.token


class _MutualTlsPush:
    """A plugin for a service that authenticates the TLS connection (like APNs certificate auth)."""

    name = "mtls"
    target_types: tuple[type[Target], ...] = (_Device,)

    def __init__(self, origin: str, certificate: ClientCertificate | None) -> None:
        self.origin = origin  # not named base_url: the client learns the hosts from client_cert_urls only
        self._certificate = certificate

    def client_cert(self) -> ClientCertificate | None:
        return self._certificate

    def client_cert_urls(self) -> tuple[str, ...]:
        return (self.origin,)

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        assert isinstance(target, _Device)
        body = dumps_json({"to": target.token, "title": notification.title})
        url = f"{self.origin}/3/device/{target.token}"
        return PreparedRequest(provider=self.name, target=target, method="POST", url=url, headers={}, body=body)

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        if status_code == 200:
            return success(status_code, message_id=header(headers, "apns-id"))
        return failure(ProviderError(f"refused: {status_code}", provider=self.name, status_code=status_code))


def test_a_plugin_client_certificate_is_presented_in_the_handshake(tmp_path: Path) -> None:
    ca_pem, cert_pem, key_pem = _ca_and_client_cert()
    certificate = ClientCertificate(
        cert_pem=cert_pem, key_pem=key_pem, subject="com.example.app", not_valid_after=datetime.now(timezone.utc)
    )
    tls = create_tls(tmp_path)
    server_context = tls.server_context()
    server_context.verify_mode = ssl.CERT_REQUIRED  # the server refuses a handshake without a client certificate
    server_context.load_verify_locations(cadata=ca_pem.decode())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    server = SandboxServer(_ApnsLikeEmulator(), ssl_context=server_context)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        plugin = _MutualTlsPush(server.base_url, certificate)
        assert isinstance(plugin, SupportsClientCertificate)
        with PushClient(providers=[plugin], verify=tls.ca_path) as client:
            assert client.send(Notification(title="hi"), _Device("d-1")).ok
        # The same plugin without a certificate is refused in the handshake: the hook is what presented it.
        bare = _MutualTlsPush(server.base_url, None)
        with PushClient(providers=[bare], verify=tls.ca_path, retry=RetryPolicy.never()) as client:
            refused = client.send(Notification(title="hi"), _Device("d-1"))
        assert isinstance(refused.error, TransportError)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(grace=0.5), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_check_provider_refuses_a_hook_that_is_not_a_method() -> None:
    plugin = _MutualTlsPush("https://push.example", None)
    plugin.client_cert_urls = "https://push.example"  # type: ignore[assignment,method-assign]
    with pytest.raises(ConfigurationError, match=r"_MutualTlsPush\.client_cert_urls must be a method"):
        check_provider(plugin, origin="providers[0]")
