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

Concurrency: one provider object serves every send of a client, and may be shared by several clients.
``prepare``, ``parse`` and ``authorize`` run on the client's event loop (``PushClient`` runs its own loop
on a private thread), and ``prepare`` also runs in the caller's thread for ``client.render``, so they
must be safe to call from several threads at once: keep them free of mutable state apart from caches
that are guarded by a lock or filled idempotently. None of them may block: anything slow belongs in an
``async def authorize``.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from unipush._errors import ConfigurationError
from unipush._targets import Target

if TYPE_CHECKING:
    from unipush._model import Notification
    from unipush._results import Outcome, PreparedRequest

__all__ = ["Provider", "SupportsAuthorize", "check_provider"]


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
    for method in ("prepare", "parse", "authorize"):
        if hasattr(candidate, method) and not callable(getattr(candidate, method)):
            raise ConfigurationError(f"{origin}: {kind}.{method} must be a method")
    assert isinstance(candidate, Provider)  # the members checked above are exactly the protocol's
    return candidate
