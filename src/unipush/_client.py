"""The I/O-free core both clients share: provider registry, routing, rendering."""

from __future__ import annotations

import functools
import inspect
import os
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import cast
from urllib.parse import urlsplit

import httpx

from unipush._credentials import CredentialStore, check_store
from unipush._errors import ConfigurationError, UnipushError, ValidationError
from unipush._foreign import foreign_error
from unipush._model import Notification
from unipush._plugins import ProviderSpec, resolve_providers
from unipush._provider import Provider, SupportsClientCertificate, check_provider
from unipush._pruning import PruningGuard
from unipush._results import PreparedRequest, SendResult
from unipush._retry import RetryPolicy
from unipush._sending import Sender
from unipush._targets import Target
from unipush._telemetry import check_result_hook
from unipush._transport import HttpxTransport, Transport, make_ssl_context
from unipush.policies import PolicyChain, PolicyStore, SendPolicy

__all__ = [
    "BaseClient",
    "ClientCore",
    "check_batch",
    "check_pairs",
    "check_request",
    "providers_from",
    "use_credential_store",
]

# What a request must look like before it reaches the engine, which splits the URL by position.
# RFC 9110 §4.2 / RFC 3986 §3: an absolute http(s) URL with a host (a name, IPv4, or [IPv6]), an
# optional port, and a path of printable ASCII only (percent-encoded: no space, no control character).
_URL = re.compile(r"https?://(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(?:/[\x21-\x7e]*)?\Z")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 §5.6.2: method and field names
_BAD_FIELD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # RFC 9110 §5.5, RFC 9113 §8.2.1: no CR, LF, NUL
_TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_NAMES = re.compile(rf"(?:{_TCHAR}+(?:\n{_TCHAR}+)*)?")  # field names joined by "\n": one regex per request
# Each provider sends a handful of distinct header-name sets, so the ones already checked are remembered
# (bounded: a plugin that varies its names is checked every time, never grows this without limit).
_CHECKED_NAMES: set[str] = set()
_CHECKED_NAMES_MAX = 256
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})


def _kind(value: object) -> str:
    return type(value).__name__


def check_request(provider: str, request: object) -> PreparedRequest:
    """``request`` if it is a ``PreparedRequest`` the transport can send; else a one-line unipush error.

    ``ConfigurationError`` for a request no input could make right (a relative URL, a bad method or
    header name, wrong types), ``ValidationError`` for a control character in a header value.

    A plugin's ``prepare`` is code unipush does not control: a relative URL, a
    method or header the engine cannot encode would otherwise fail deep in the transport with a
    foreign exception. The URL is never quoted (it may hold a token or a key).
    """

    def refuse(what: str) -> ConfigurationError:
        return ConfigurationError(f"provider {provider!r} prepared an unusable request: {what}")

    if not isinstance(request, PreparedRequest):
        raise refuse(f"prepare must return a PreparedRequest, got {_kind(request)}")
    # Typed as plain objects: a plugin's dataclass fields hold whatever it put there.
    url: object = request.url
    method: object = request.method
    headers: object = request.headers
    body: object = request.body
    if not isinstance(url, str):
        raise refuse(f"url must be a str, got {_kind(url)}")
    match = _URL.match(url)
    if match is None:
        if not url.startswith(("https://", "http://")):
            scheme = url.partition(":")[0] if ":" in url else ""
            raise refuse(
                "url must be an absolute https:// or http:// URL"
                + (f", not {scheme.lower()!r}" if scheme.isalpha() else " (it is relative)")
            )
        raise refuse("url must have a host and a path of printable ASCII (percent-encode the rest)")
    port = match.group(1)
    if port is not None and not 0 < int(port) < 65536:
        raise refuse(f"url port {port} is out of range")
    if not (type(method) is str and method in _METHODS) and (
        not isinstance(method, str) or _TOKEN.match(method) is None
    ):
        raise refuse(f"method must be an HTTP method name, got {method!r}"[:120])
    if type(headers) is not MappingProxyType and not isinstance(headers, Mapping):  # PreparedRequest's own: fast
        raise refuse(f"headers must be a mapping, got {_kind(headers)}")
    # The hot path: every request of every send passes here, so all names and all values are checked
    # at once; only a request that fails is walked field by field, for the message.
    try:
        names, values = "\n".join(headers), "".join(headers.values())
    except TypeError:
        names = values = ""
    if values and _BAD_FIELD_VALUE.search(values) is None:
        if names in _CHECKED_NAMES:
            return _checked_body(request, body, refuse)
        if _NAMES.fullmatch(names) is not None:
            if len(_CHECKED_NAMES) < _CHECKED_NAMES_MAX:
                _CHECKED_NAMES.add(names)
            return _checked_body(request, body, refuse)
    for name, value in cast(Mapping[object, object], headers).items():
        if not isinstance(name, str) or _TOKEN.match(name) is None:
            raise refuse(f"header name {name!r} is not a valid field name"[:120])
        if not isinstance(value, str):
            raise refuse(f"header {name!r} must have a str value, got {_kind(value)}")
        if _BAD_FIELD_VALUE.search(value) is not None:
            # Most likely from the input (a collapse key, a topic): a value error, not a broken provider.
            raise ValidationError(f"{provider} header {name}", "holds a control character (CR, LF, NUL...)")
    return _checked_body(request, body, refuse)


def _checked_body(
    request: PreparedRequest, body: object, refuse: Callable[[str], ConfigurationError]
) -> PreparedRequest:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise refuse(f"body must be bytes, got {_kind(body)}")
    return request


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@functools.cache
def _system_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The engine's and the credential requests' TLS contexts for the system CAs, made once per process."""
    return make_ssl_context(None), make_ssl_context(None)


class ClientCore:
    """Routes targets to providers and renders requests. Holds no connection and does no I/O.

    It is the ``Router`` the sending loop (``_sending.Sender``) is given.
    """

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

    def prepare(self, notification: Notification, target: Target) -> tuple[Provider, PreparedRequest]:
        """Route ``target`` and render its request: the one path ``send``, batches and ``render`` share.

        Raises only ``ValidationError``/``ConfigurationError``: a wrong argument type, no provider for
        the target, a provider refusing the input, a provider (a plugin) raising anything else, or a
        prepared request the transport could not send (``check_request``).
        """
        given: object = notification  # typed Notification for callers; a batch item may be anything
        if not isinstance(given, Notification):
            hint = (
                " (build one with Notification(...) or Notification.from_dict(...))"
                if isinstance(given, Mapping)
                else ""
            )
            raise ValidationError("notification", f"must be a unipush Notification, got {_kind(given)}{hint}")
        provider = self.provider_for(target)
        try:
            request = provider.prepare(notification, target, now=self._clock())
        except UnipushError:
            raise
        except Exception as exc:
            raise foreign_error(provider.name, "render", exc) from exc
        return provider, check_request(provider.name, request)

    def render(self, notification: Notification, target: Target) -> PreparedRequest:
        """Prepare the request for ``target`` without sending it."""
        return self.prepare(notification, target)[1]


def check_batch(notification: object, targets: object) -> None:
    """``send_many``'s arguments as a whole: raise before anything is sent if the call cannot work."""
    if not isinstance(notification, Notification):
        raise ValidationError("notification", f"send_many takes one Notification, got {type(notification).__name__}")
    if isinstance(targets, Target):
        raise ValidationError(
            "targets", f"send_many takes an iterable of targets, got one {type(targets).__name__}: pass [target]"
        )
    if isinstance(targets, (str, bytes)) or not _iterable(targets):
        raise ValidationError("targets", f"send_many takes an iterable of targets, got {type(targets).__name__}")


def check_pairs(pairs: object) -> None:
    """``stream``'s argument as a whole: an iterable (or async iterable) of pairs, not one pair."""
    if type(pairs) is tuple and len(pairs) == 2 and isinstance(pairs[0], Notification):
        raise ValidationError("pairs", "stream takes an iterable of (notification, target) pairs, got one pair")
    if isinstance(pairs, (str, bytes)) or not (_iterable(pairs) or hasattr(pairs, "__aiter__")):
        raise ValidationError(
            "pairs", f"stream takes an iterable of (notification, target) pairs, got {type(pairs).__name__}"
        )


def _iterable(value: object) -> bool:
    return hasattr(value, "__iter__") or hasattr(value, "__getitem__")


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


def use_credential_store(providers: Iterable[Provider], store: CredentialStore) -> None:
    """Hand ``store`` to every provider that shares credentials (an optional ``use_credential_store`` method)."""
    for provider in providers:
        hook = getattr(provider, "use_credential_store", None)
        if callable(hook):
            hook(store)


class BaseClient:
    """What ``PushClient`` and ``AsyncPushClient`` share: configuration, routing and ``render``.

    ``providers`` takes provider objects, names of installed providers (``"expo"``: built by the
    plugin's factory with no options, so it reads its settings from environment variables or defaults)
    and ``(name, options)`` pairs (``("expo", {"access_token": ...})``); see ``unipush.load_provider``.
    ``verify`` is a CA bundle path or an ``ssl.SSLContext`` (default: the system CAs); ``timeout`` is
    per request in seconds; ``retry`` a ``RetryPolicy``; ``concurrency`` the most requests in flight in
    ``send_many``/``stream``; ``on_invalid_token(result)`` runs once per dead token; ``on_result(result)``
    once per final result of ``send``/``send_many``/``stream`` (docs/monitoring.md); ``http_client``
    replaces the built-in HTTP/2 engine with your ``httpx`` client (for proxies and custom networking).
    ``credential_store`` shares provider tokens beyond this process (``FileStore()`` for one machine,
    ``RedisStore(url)`` for a fleet; default: one ``MemoryStore`` for the whole process); see
    docs/credentials.md.
    ``pruning_guard`` (default ``PruningGuard()``) keeps a misconfiguration (wrong APNs environment or
    topic, another Firebase project) from reporting every token as dead; ``None`` trusts every answer
    (docs/pruning-tokens.md).
    ``policies`` are send policies applied in order before rendering (quiet hours, frequency caps,
    de-duplication), their counts kept in ``policy_store`` (default: in memory); docs/policies.md.
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
        transport: Transport | None = None,
        connections_per_origin: int = 1,
        credential_store: CredentialStore | None = None,
        pruning_guard: PruningGuard | None = PruningGuard(),  # noqa: B008 - frozen, so one shared default is safe
        policies: Iterable[SendPolicy] = (),
        policy_store: PolicyStore | None = None,
        on_result: Callable[[SendResult], object] | None = None,
    ) -> None:
        self._core = ClientCore(providers_from(apns=apns, fcm=fcm, webpush=webpush, providers=providers))
        self._policies = PolicyChain(policies, policy_store)  # docs/policies.md; expires_at even with none
        if credential_store is not None:
            use_credential_store(self._core.providers.values(), check_store(credential_store))
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
        if transport is not None:
            if http_client is not None:
                raise ConfigurationError("give http_client= or transport=, not both")
            if not (callable(getattr(transport, "request", None)) and callable(getattr(transport, "aclose", None))):
                raise ConfigurationError(
                    f"transport must implement unipush.transports.Transport (async request and aclose), "
                    f"got {type(transport).__name__}"
                )
        try:
            # Two contexts: the engine pins ALPN to h2 on its own, and httpx (OAuth token requests)
            # rewrites ALPN on the context it is given. A context passed by the user is shared.
            if verify is None:
                # The system CAs: loading them costs ~70 ms a context, so every client of the process
                # shares one pair (each role always writes the same ALPN list into its own).
                self._ssl_context, self._auth_ssl_context = _system_contexts()
            else:
                self._ssl_context = make_ssl_context(verify)
                self._auth_ssl_context = make_ssl_context(verify)
            self._verify = verify
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"verify: {exc}") from exc
        self._timeout = timeout
        self._retry = retry if retry is not None else RetryPolicy()
        self._concurrency = concurrency
        self._on_invalid_token = on_invalid_token
        self._on_result = check_result_hook(on_result, async_ok=self._accepts_async_callbacks, client=type(self))
        self._http_client = http_client
        self._transport = transport
        self._connections_per_origin = connections_per_origin
        if pruning_guard is not None and not isinstance(pruning_guard, PruningGuard):
            raise ConfigurationError(
                f"pruning_guard must be a PruningGuard or None, got {type(pruning_guard).__name__}"
            )
        self._pruning = None if pruning_guard is None else pruning_guard.watch()
        self._closed = False  # set for good by close()/aclose(): a closed client does not reopen
        self._active: set[object] = set()  # PushClient: the batches in progress, failed at close()

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
            # The optional hook of unipush.provider.SupportsClientCertificate (APNs certificate auth).
            if not isinstance(provider, SupportsClientCertificate):
                continue
            certificate = provider.client_cert()
            if certificate is None:
                continue
            for url in provider.client_cert_urls():
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
        if self._transport is not None:
            transport = self._transport
        elif self._http_client is not None:
            transport = HttpxTransport(self._http_client)
        else:
            transport = Engine(
                ssl_context=self._ssl_context,
                connections_per_origin=self._connections_per_origin,
                origin_ssl_contexts=self._client_cert_contexts(),
            )
        return Sender(
            self._core,
            transport,
            ssl_context=self._auth_ssl_context,
            timeout=self._timeout,
            retry=self._retry,
            pruning=self._pruning,
            policies=self._policies,
        )
