"""The I/O-free core both clients share: provider registry, routing, rendering."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from unipush._errors import ConfigurationError, ValidationError
from unipush._model import Notification
from unipush._provider import Provider
from unipush._results import PreparedRequest
from unipush._targets import Target

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
    """What ``PushClient`` and ``AsyncPushClient`` share: configuration, routing and ``render``."""

    def __init__(
        self,
        *,
        apns: Provider | None = None,
        fcm: Provider | None = None,
        webpush: Provider | None = None,
        providers: Iterable[Provider] = (),
    ) -> None:
        self._core = ClientCore(providers_from(apns=apns, fcm=fcm, webpush=webpush, providers=providers))

    @property
    def providers(self) -> dict[str, Provider]:
        """The configured providers by name (``"apns"``, ``"fcm"``, ``"webpush"``, plugins...)."""
        return self._core.providers

    def render(self, notification: Notification, target: Target) -> PreparedRequest:
        """What would be sent to ``target``, without sending it (no I/O, no OAuth token fetch)."""
        return self._core.render(notification, target)
