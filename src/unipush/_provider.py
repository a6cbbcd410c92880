"""The ``Provider`` protocol: the stable contract between the clients and a push service.

Every provider, built-in (``APNs``, ``FCM``, ``WebPush``) or plugin, is an object with four members and
one optional hook. The clients own all I/O (connections, TLS, HTTP/2, timeouts, retries, callbacks); a
provider only turns a notification into bytes and bytes into an answer, which is what keeps it small
and testable without a network. The contract is a ``typing.Protocol``: a plugin needs no base class and
no import beyond the types it returns.

Members (stable since 0.1; additions will be optional, as ``authorize`` is)
---------------------------------------------------------------------------

``name: str``
    A short, unique, lower-case name (``"apns"``, ``"expo"``). It keys ``client.providers``, appears on
    every ``SendResult.provider`` and in logs, and must equal the name of the plugin's entry point in
    the ``unipush.providers`` group. A plain class attribute is fine.

``target_types: tuple[type[Target], ...]``
    The ``Target`` subclasses this provider serves. The client routes a target to the provider that
    lists its type (or a base class of it); two configured providers may not claim the same type.

``prepare(notification, target, *, now) -> PreparedRequest``
    Render the complete HTTP request for one target: method, absolute URL, lower-case headers, the
    exact body bytes, and ``payload`` (the JSON before any encryption, for ``client.render``). Pure:
    no network, no sleeping, no clock other than ``now`` (an aware UTC ``datetime`` the client passes),
    no global state. It may sign a credential locally and cache it on the provider (APNs provider
    tokens, VAPID JWTs) and draw the randomness a protocol requires (an ``apns-id``, an encryption
    salt). The client calls it once per send and resends the same request on every retry. It raises
    ``ValidationError`` (naming the field) for what the service would refuse, ``PayloadTooLargeError``
    for what is over its size limit; nothing is sent then.

``parse(request, status_code, headers, body) -> Outcome``
    Decode the service's answer to ``request`` (the request as sent, credential included): ``headers``
    has lower-case names, ``body`` is the whole body. Pure, and total: it must return an ``Outcome``
    for any status and any bytes (an HTML error page from a proxy, an empty body), never raise. The
    ``Outcome`` says ``ok``; for a failure it carries a ``ProviderError`` (or a subclass:
    ``InvalidTokenError``, ``RateLimitedError``, ``AuthenticationError``) with a provider-specific
    ``reason`` enum member, ``token_invalid`` for a dead token (the client then calls
    ``on_invalid_token`` once), ``retryable`` for answers that may succeed later (429, 5xx), with
    ``retry_after`` in seconds when the service says, and ``refresh_credential`` to have the client
    re-mint the credential through ``authorize`` and resend once.

``authorize(request, *, refresh, ssl_context) -> PreparedRequest`` (optional, plain or ``async def``)
    Attach a credential that needs I/O or must be fresh at send time; see ``SupportsAuthorize``.
    Providers without it send ``prepare``'s request as it is.

``client_cert() -> ClientCertificate | None`` and ``client_cert_urls() -> tuple[str, ...]`` (optional)
    A TLS client certificate presented in the handshake to the hosts of those URLs, for a service that
    authenticates the connection rather than the request (APNs certificate auth); see
    ``SupportsClientCertificate``. The client reads both once, when it opens its connections.

A provider that can be pointed elsewhere takes a ``base_url=`` option (a proxy, the sandbox, a test
server) and exposes it as a ``base_url`` property, as the built-ins and the Expo example do; the usual
``client_cert_urls`` is ``(self.base_url,)``.

The helpers a provider needs to do its job without reimplementing HTTP details (``Retry-After``,
header lookup, a total JSON reader, compact JSON bodies, the ``Outcome`` builders ``success`` and
``failure``) are public in ``unipush.provider``, next to these protocols.

Concurrency: one provider object serves every send of a client, and may be shared by several clients.
``prepare``, ``parse`` and ``authorize`` run on the client's event loop (``PushClient`` runs its own loop
on a private thread), and ``prepare`` also runs in the caller's thread for ``client.render``, so they
must be safe to call from several threads at once: keep them free of mutable state apart from caches
that are guarded by a lock or filled idempotently. None of them may block: anything slow belongs in an
``async def authorize``.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from unipush._errors import ConfigurationError, ProviderError, ValidationError
from unipush._results import Outcome
from unipush._targets import Target

if TYPE_CHECKING:
    from unipush._model import Notification
    from unipush._results import PreparedRequest

__all__ = [
    "ClientCertificate",
    "Provider",
    "SupportsAuthorize",
    "SupportsClientCertificate",
    "check_provider",
    "dumps_json",
    "failure",
    "load_json",
    "success",
]


@runtime_checkable
class Provider(Protocol):
    """A push service: a name, the target types it serves, a pure ``prepare`` and a pure ``parse``.

    This is a stable, public protocol (see the ``unipush._provider`` module documentation and
    ``docs/plugins.md``): implement it to add a push service, register the class or a factory under
    the ``unipush.providers`` entry-point group, and ``PushClient(providers=["<name>"])`` sends
    through it like a built-in. The optional ``authorize`` hook is described by ``SupportsAuthorize``.
    """

    @property
    def name(self) -> str:
        """A short unique name (``"apns"``, ``"fcm"``, ``"webpush"``, ``"expo"``...)."""
        ...

    @property
    def target_types(self) -> tuple[type[Target], ...]:
        """The ``Target`` subclasses this provider serves; the client routes on them."""
        ...

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        """Render the request for one target (pure). Raises ``ValidationError`` for what the provider refuses."""
        ...

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Decode the provider's answer to ``request`` (pure, never raises)."""
        ...


@runtime_checkable
class SupportsAuthorize(Protocol):
    """The optional auth hook of a ``Provider``: attach a credential at send time.

    The client calls ``authorize`` before every attempt, on its event loop, with the request from
    ``prepare`` (or, with ``refresh=True``, the request the service just refused). It returns the
    request to send, normally ``request.with_headers({"authorization": ...})``. It may be a plain
    method, which must return at once (read a cache, sign locally), or an ``async def`` that awaits
    I/O such as an OAuth token exchange (``FCM`` does); either way it must not block the loop.

    ``refresh`` is True once after ``parse`` returned an ``Outcome`` with ``refresh_credential``:
    mint a new credential, unless the one in ``request`` was already replaced by a concurrent send, so
    that a burst of refusals costs one refresh. ``ssl_context`` is the client's ``verify=`` context,
    for the provider's own token requests. Raise ``TransportError`` when the credential cannot be
    fetched (the client then retries like any transport failure) and ``ConfigurationError`` when it
    can never be.
    """

    def authorize(
        self, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext
    ) -> PreparedRequest | Awaitable[PreparedRequest]:
        """Return ``request`` with its credential attached (plain or awaitable)."""
        ...


@runtime_checkable
class SupportsClientCertificate(Protocol):
    """The optional TLS client certificate hook of a ``Provider`` (APNs certificate-based auth).

    Apple, "Establishing a certificate-based connection to APNs": the certificate is presented in the TLS
    handshake, so it belongs to the connections to the provider's own hosts and no other. When a client
    opens its connections it calls ``client_cert()``; for a certificate (not ``None``) it makes one TLS
    context holding it (on top of the client's ``verify=``) for the host and port of every URL in
    ``client_cert_urls()``. Both are read once per client, not per send.
    """

    def client_cert(self) -> ClientCertificate | None:
        """The certificate to present, or ``None`` when this configuration does not use one."""
        ...

    def client_cert_urls(self) -> tuple[str, ...]:
        """The URLs whose hosts are sent the certificate: usually ``(self.base_url,)``."""
        ...


@dataclass(frozen=True, slots=True, repr=False)
class ClientCertificate:
    """A validated TLS client certificate, for a provider that authenticates with one (APNs certificate auth).

    ``cert_pem`` is the certificate chain (leaf first) and ``key_pem`` its unencrypted PKCS#8 private key,
    both PEM. ``repr`` shows neither. ``APNs(cert=...)`` makes one from a ``.p12`` or PEM file; a plugin
    builds its own and returns it from ``client_cert()`` (``SupportsClientCertificate``).
    """

    cert_pem: bytes
    key_pem: bytes
    subject: str
    not_valid_after: datetime

    def load_into(self, context: ssl.SSLContext) -> None:
        """Install the certificate and key in ``context``.

        ``ssl`` reads client certificates only from files, so they are written to a private temporary file
        (mode 0600) that is deleted straight after loading.
        """
        fd, path = tempfile.mkstemp(prefix="unipush-cert-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.cert_pem + self.key_pem)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)

    def __repr__(self) -> str:
        return f"ClientCertificate(subject={self.subject!r}, not_valid_after={self.not_valid_after.isoformat()!r})"


def success(status_code: int = 200, *, message_id: str | None = None) -> Outcome:
    """The ``Outcome`` of an accepted request: ``ok`` with the service's id for the message, if any."""
    return Outcome(ok=True, status_code=status_code, message_id=message_id)


def failure(
    error: ProviderError,
    *,
    token_invalid: bool = False,
    retryable: bool = False,
    refresh_credential: bool = False,
) -> Outcome:
    """The ``Outcome`` of a refused request, its facts taken from ``error`` so they are set once.

    ``status_code``, ``reason``, ``retry_after`` and ``invalidated_at`` come from the ``ProviderError``
    (or subclass: ``InvalidTokenError``, ``RateLimitedError``, ``AuthenticationError``); the flags say
    what the client does next: ``token_invalid`` (the token is dead: ``on_invalid_token`` runs once),
    ``retryable`` (resend later, after ``retry_after`` seconds when the service said), and
    ``refresh_credential`` (re-mint the credential through ``authorize`` and resend once).
    """
    return Outcome(
        ok=False,
        status_code=error.status_code,
        error=error,
        reason=error.reason,
        token_invalid=token_invalid,
        invalidated_at=error.invalidated_at,
        retry_after=error.retry_after,
        retryable=retryable,
        refresh_credential=refresh_credential,
    )


def load_json(body: bytes | str) -> Any:
    """``body`` parsed as JSON, or ``None`` when it is not JSON (an HTML page from a proxy, bad UTF-8).

    Total, as ``parse`` must be: it never raises, whatever the bytes.
    """
    try:
        return json.loads(body)
    except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def dumps_json(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON bytes (no spaces, no ASCII escapes): the body the built-ins send.

    The size of the result is the size on the wire, so a provider checks its payload limit on it.

    Raises:
        ValidationError: the value holds text that UTF-8 cannot carry (a lone surrogate) or a number
            JSON has no form for (NaN, infinity).
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("payload", "contains text that is not valid Unicode (a lone surrogate)") from None
    except ValueError:
        raise ValidationError("payload", "contains a number JSON cannot carry (NaN or infinity)") from None


def check_provider(candidate: object, *, origin: str) -> Provider:
    """Return ``candidate`` if it satisfies ``Provider``; else raise ``ConfigurationError`` saying what is wrong.

    ``isinstance(x, Provider)`` only checks that the members exist; this also checks their shape, so
    a plugin mistake is reported when the client is built, not on the first send. ``origin`` says
    where the object came from (``"providers[0]"``, ``"plugin 'expo' (unipush_expo:Expo)"``).
    """
    kind = type(candidate).__name__
    missing = [m for m in ("name", "target_types", "prepare", "parse") if not hasattr(candidate, m)]
    if missing:
        raise ConfigurationError(f"{origin}: {kind} does not implement unipush.Provider (missing {', '.join(missing)})")
    name = getattr(candidate, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{origin}: {kind}.name must be a non-empty string, got {name!r}")
    target_types = getattr(candidate, "target_types", None)
    if not isinstance(target_types, tuple) or not target_types:
        raise ConfigurationError(
            f"{origin}: {kind}.target_types must be a non-empty tuple of Target subclasses, got {target_types!r}"
        )
    for target_type in target_types:
        if not (isinstance(target_type, type) and issubclass(target_type, Target)):
            raise ConfigurationError(
                f"{origin}: {kind}.target_types must hold unipush.Target subclasses, got {target_type!r}"
            )
    for method in ("prepare", "parse", "authorize", "client_cert", "client_cert_urls"):
        if hasattr(candidate, method) and not callable(getattr(candidate, method)):
            raise ConfigurationError(f"{origin}: {kind}.{method} must be a method")
    assert isinstance(candidate, Provider)  # the members checked above are exactly the protocol's
    return candidate
