"""The I/O-free core both clients share: provider registry, routing, rendering."""

from __future__ import annotations

import inspect
import os
import ssl
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx

from unipush._errors import ConfigurationError, ValidationError
from unipush._model import Notification
from unipush._plugins import ProviderSpec, resolve_providers
from unipush._provider import Provider, check_provider
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
        """Register ``provider``; its target types route to it. A name and a target type may be registered once."""
        check_provider(provider, origin="provider")
        if provider.name in self._providers:
            raise ConfigurationError(f"provider {provider.name!r} is configured twice")
        for target_type in provider.target_types:
            owner = self._routes.get(target_type)
            if owner is not None:
                raise ConfigurationError(
                    f"{target_type.__name__} is served by both {owner.name!r} and {provider.name!r}: configure one"
                )
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
            name = getattr(target, "provider", "?")
            how = f"{name}=..." if name in ("apns", "fcm", "webpush") else f"providers=[{name!r}] (an installed plugin)"
            raise ConfigurationError(
                f"no provider configured for {type(target).__name__} (provider {name!r}); pass {how} to the client"
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
    providers: Iterable[ProviderSpec],
) -> list[Provider]:
    """The providers a client was given, keyword configs first; checks each keyword got its own kind."""
    chosen: list[Provider] = []
    for keyword, provider in (("apns", apns), ("fcm", fcm), ("webpush", webpush)):
        if provider is None:
            continue
        if getattr(provider, "name", None) != keyword:
            raise ConfigurationError(f"{keyword}= expects a {keyword} provider config, got {type(provider).__name__}")
        chosen.append(provider)
    chosen.extend(resolve_providers(providers))
    if not chosen:
        raise ConfigurationError("no provider configured: pass apns=, fcm=, webpush= or providers=")
    return chosen


class BaseClient:
    """What ``PushClient`` and ``AsyncPushClient`` share: configuration, routing and ``render``.

    ``providers`` takes provider objects, names of installed providers (``"expo"``: built by the
    plugin's factory with no options, so it reads its settings from environment variables or defaults)
    and ``(name, options)`` pairs (``("expo", {"access_token": ...})``); see ``unipush.load_provider``.
    ``verify`` is a CA bundle path or an ``ssl.SSLContext`` (default: the system CAs); ``timeout`` is
    per request in seconds; ``retry`` a ``RetryPolicy``; ``concurrency`` the most requests in flight in
    ``send_many``/``stream``; ``on_invalid_token(result)`` runs once per dead token; ``http_client``
    replaces the built-in HTTP/2 engine with your ``httpx`` client (for proxies and custom networking).
    """

    _accepts_async_callbacks = True

    def __init__(
        self,
        *,
        apns: Provider | None = None,
        fcm: Provider | None = None,
        webpush: Provider | None = None,
        providers: Iterable[ProviderSpec] = (),
        verify: str | os.PathLike[str] | ssl.SSLContext | None = None,
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
        if (
            on_invalid_token is not None
            and not self._accepts_async_callbacks
            and inspect.iscoroutinefunction(on_invalid_token)
        ):
            raise ConfigurationError(
                f"{type(self).__name__} needs a plain on_invalid_token function; use AsyncPushClient for async"
            )
        if http_client is not None and not isinstance(http_client, (httpx.Client, httpx.AsyncClient)):
            raise ConfigurationError("http_client must be an httpx.Client or httpx.AsyncClient")
        try:
            # Two contexts: the engine pins ALPN to h2 on its own, and httpx (OAuth token requests)
            # rewrites ALPN on the context it is given. A context passed by the user is shared.
            self._ssl_context = make_ssl_context(verify)
            self._auth_ssl_context = make_ssl_context(verify)
            self._verify = verify
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

    def _client_cert_contexts(self) -> dict[tuple[str, int], ssl.SSLContext]:
        """A TLS context with the client certificate for each provider using certificate auth (APNs).

        Apple, "Establishing a certificate-based connection to APNs": the certificate is presented in
        the TLS handshake, so it belongs to the connections to that provider's host and no other.
        """
        contexts: dict[tuple[str, int], ssl.SSLContext] = {}
        for provider in self._core.providers.values():
            cert_of = getattr(provider, "client_cert", None)
            certificate = cert_of() if callable(cert_of) else None
            if certificate is None:
                continue
            # APNs also has its channel-management host (broadcast channels), with the same certificate.
            for url in (getattr(provider, "base_url", ""), getattr(provider, "manage_base_url", "")):
                parts = urlsplit(str(url))
                if parts.hostname is None:
                    continue
                context = make_ssl_context(self._verify)
                certificate.load_into(context)
                contexts[(parts.hostname, parts.port or 443)] = context
        return contexts

    def _make_sender(self) -> Sender:
        """A sender bound to the running event loop (the engine's connections belong to it)."""
        from unipush._engine import Engine  # imported on first send: render needs no network code

        transport: Transport
        if self._http_client is not None:
            transport = HttpxTransport(self._http_client)
        else:
            transport = Engine(
                ssl_context=self._ssl_context,
                connections_per_origin=self._connections_per_origin,
                origin_ssl_contexts=self._client_cert_contexts(),
            )
        return Sender(
            self._core, transport, ssl_context=self._auth_ssl_context, timeout=self._timeout, retry=self._retry
        )
