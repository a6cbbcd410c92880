"""The I/O-free core both clients share: provider registry, routing, rendering."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

import httpx

from unipush._errors import ConfigurationError, ValidationError
from unipush._model import Notification
from unipush._provider import Provider
from unipush._results import PreparedRequest, SendResult
from unipush._retry import RetryPolicy
from unipush._sending import Sender
from unipush._targets import Target
from unipush._transport import HttpxTransport, Transport, make_ssl_context

__all__ = ["BaseClient", "ClientCore", "providers_from"]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ClientCore:
    """Routes targets to providers and renders requests. Holds no connection and does no I/O."""

    def __init__(self, providers: Iterable[Provider], *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._providers: dict[str, Provider] = {}
        self._routes: dict[type[Target], Provider] = {}
        self._clock = clock
        for provider in providers:
            self.add(provider)

    def add(self, provider: Provider) -> None:
        """Register ``provider``; its target types route to it. A name may be registered once."""
        if not isinstance(provider, Provider):
            raise ConfigurationError(f"{provider!r} does not implement unipush.Provider")
        if provider.name in self._providers:
            raise ConfigurationError(f"provider {provider.name!r} is configured twice")
        self._providers[provider.name] = provider
        for target_type in provider.target_types:
            self._routes[target_type] = provider

    @property
    def providers(self) -> dict[str, Provider]:
        """The configured providers by name."""
        return dict(self._providers)

    def provider_for(self, target: Target) -> Provider:
        """The provider that serves ``target``; ``ConfigurationError`` if none is configured."""
        provider = self._routes.get(type(target))
        if provider is None:
            for target_type, candidate in self._routes.items():
                if isinstance(target, target_type):
                    return candidate
            if not isinstance(target, Target):
                raise ValidationError("target", f"must be a unipush Target, got {type(target).__name__}")
            raise ConfigurationError(
                f"no provider configured for {type(target).__name__} (provider {target.provider!r}); "
                f"pass {target.provider}=... to the client"
            )
        return provider

    def render(self, notification: Notification, target: Target) -> PreparedRequest:
        """Prepare the request for ``target`` without sending it."""
        if not isinstance(notification, Notification):
            raise ValidationError("notification", f"must be a Notification, got {type(notification).__name__}")
        return self.provider_for(target).prepare(notification, target, now=self._clock())


def providers_from(
    *,
    apns: Provider | None,
    fcm: Provider | None,
    webpush: Provider | None,
    providers: Iterable[Provider],
) -> list[Provider]:
    """The providers a client was given, keyword configs first; checks each keyword got its own kind."""
    chosen: list[Provider] = []
    for keyword, provider in (("apns", apns), ("fcm", fcm), ("webpush", webpush)):
        if provider is None:
            continue
        if getattr(provider, "name", None) != keyword:
            raise ConfigurationError(f"{keyword}= expects a {keyword} provider config, got {type(provider).__name__}")
        chosen.append(provider)
    chosen.extend(providers)
    if not chosen:
        raise ConfigurationError("no provider configured: pass apns=, fcm=, webpush= or providers=")
    return chosen


class BaseClient:
    """What ``PushClient`` and ``AsyncPushClient`` share: configuration, routing and ``render``.

    ``verify`` is a CA bundle path or an ``ssl.SSLContext`` (default: the system CAs); ``timeout`` is
    per request in seconds; ``retry`` a ``RetryPolicy``; ``concurrency`` the most requests in flight in
    ``send_many``/``stream``; ``on_invalid_token(result)`` runs once per dead token; ``http_client``
    replaces the built-in HTTP/2 engine with your ``httpx`` client (for proxies and custom networking).
    """

    def __init__(
        self,
        *,
        apns: Provider | None = None,
        fcm: Provider | None = None,
        webpush: Provider | None = None,
        providers: Iterable[Provider] = (),
        verify: str | ssl.SSLContext | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 100,
        on_invalid_token: Callable[[SendResult], object] | None = None,
        http_client: httpx.Client | httpx.AsyncClient | None = None,
        connections_per_origin: int = 1,
    ) -> None:
        self._core = ClientCore(providers_from(apns=apns, fcm=fcm, webpush=webpush, providers=providers))
        if type(concurrency) is not int or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be > 0 seconds or None, got {timeout!r}")
        if on_invalid_token is not None and not callable(on_invalid_token):
            raise ConfigurationError("on_invalid_token must be callable")
        if http_client is not None and not isinstance(http_client, (httpx.Client, httpx.AsyncClient)):
            raise ConfigurationError("http_client must be an httpx.Client or httpx.AsyncClient")
        try:
            # Two contexts: the engine pins ALPN to h2 on its own, and httpx (OAuth token requests)
            # rewrites ALPN on the context it is given. A context passed by the user is shared.
            self._ssl_context = make_ssl_context(verify)
            self._auth_ssl_context = make_ssl_context(verify)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"verify: {exc}") from exc
        self._timeout = timeout
        self._retry = retry if retry is not None else RetryPolicy()
        self._concurrency = concurrency
        self._on_invalid_token = on_invalid_token
        self._http_client = http_client
        self._connections_per_origin = connections_per_origin

    @property
    def providers(self) -> dict[str, Provider]:
        """The configured providers by name (``"apns"``, ``"fcm"``, ``"webpush"``, plugins...)."""
        return self._core.providers

    def render(self, notification: Notification, target: Target) -> PreparedRequest:
        """What would be sent to ``target``, without sending it (no I/O, no OAuth token fetch)."""
        return self._core.render(notification, target)

    def _make_sender(self) -> Sender:
        """A sender bound to the running event loop (the engine's connections belong to it)."""
        from unipush._engine import Engine  # imported on first send: render needs no network code

        transport: Transport
        if self._http_client is not None:
            transport = HttpxTransport(self._http_client)
        else:
            transport = Engine(ssl_context=self._ssl_context, connections_per_origin=self._connections_per_origin)
        return Sender(
            self._core, transport, ssl_context=self._auth_ssl_context, timeout=self._timeout, retry=self._retry
        )
