"""``WebPush``: the Web Push provider configuration, which is also the provider itself."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from unipush._credentials import CredentialStore
from unipush._errors import ConfigurationError, PayloadTooLargeError, ValidationError
from unipush._model import Notification
from unipush._payload.web import encode_headers, ttl_header
from unipush._results import Outcome, PreparedRequest
from unipush._targets import Target
from unipush._validate import optional_url, service_url
from unipush.webpush._crypto import MAX_BODY_SIZE, MAX_PLAINTEXT_SIZE, encrypt
from unipush.webpush._decode import parse_response
from unipush.webpush._encode import DECLARATIVE_MARKER, encode_payload
from unipush.webpush._services import PUSH_SERVICE_RULES, PushServiceRule, rule_for_host
from unipush.webpush._target import WebPushSubscription
from unipush.webpush._vapid import DEFAULT_VAPID_EXPIRATION, VapidKeySource, VapidSigner

__all__ = ["WebPush"]

logger = logging.getLogger("unipush")


def _check_base_url(base_url: object) -> str | None:
    if base_url is None:
        return None
    # The shared check: an http(s) URL with a host and a valid port, no query or fragment, and a
    # ConfigurationError (not urlsplit's ValueError) for "https://[::1".
    return service_url("WebPush", "base_url", base_url)


def _check_default_navigate(url: object) -> str | None:
    try:
        return optional_url("default_navigate", url)
    except ValidationError as exc:
        raise ConfigurationError(f"WebPush default_navigate {exc.message}") from None


def _check_rules(rules: object) -> tuple[PushServiceRule, ...]:
    if isinstance(rules, (str, bytes, PushServiceRule)) or not isinstance(rules, Iterable):
        raise ConfigurationError(
            f"WebPush push_service_rules must be a sequence of PushServiceRule, got {type(rules).__name__}"
        )
    checked = tuple(rules)
    for rule in checked:
        if not isinstance(rule, PushServiceRule):
            raise ConfigurationError(
                f"WebPush push_service_rules must hold PushServiceRule objects, got {type(rule).__name__}"
            )
    return checked


@dataclass(frozen=True, slots=True)
class _Message:
    """What a notification is on Web Push before encryption, the same for every subscription."""

    payload: dict[str, Any] | None  # the JSON before encryption; None for a raw payload
    plaintext: bytes  # within MAX_PLAINTEXT_SIZE
    headers: dict[str, str]  # the notification's RFC 8030 headers; copied per request
    unmarked: bool  # declarative format asked, but sent without the web_push marker (no URL to open)


def _options_format(notification: Notification) -> str:
    return notification.webpush.payload_format if notification.webpush is not None else "declarative"


class WebPush:
    """Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm encryption (RFC 8291): the provider.

    Args:
        vapid_private_key: the application server's P-256 key, in any form ``load_vapid_private_key``
            accepts (a PEM file path, PEM text, DER bytes, base64url raw key, or a key object).
        subject: the VAPID contact, ``mailto:ops@example.com`` or ``https://example.com/contact``.
        base_url: send every request to this origin (and path prefix) instead of the endpoint's own,
            keeping the endpoint's path and query: ``base_url + path[?query]``. For an egress proxy,
            the sandbox or a test server. The VAPID ``aud`` is still the endpoint's origin, so a proxy
            that forwards to the real service keeps working.
        vapid_expiration: lifetime of each VAPID JWT, 1 minute to 24 hours (default 12 hours); a token
            is re-signed once half of it has passed.
        default_navigate: the URL a click opens when a notification has no ``deep_link``. A declarative
            Web Push message must have one; a notification with neither is sent in the service-worker
            form instead (the same JSON without the ``web_push`` marker), which ``unipush-sw.js`` shows
            and a click on which opens nothing.
        allow_local_endpoints: send to subscriptions whose endpoint is this machine (``localhost``,
            ``*.localhost``, ``127.x.y.z``, ``[::1]``, with ``http://`` or ``https://``), for local
            testing; the sandbox and ``unipush.testing`` turn it on. Off by default: subscriptions come
            from browsers, i.e. from anyone, and a loopback endpoint makes the server call itself, so
            ``prepare`` refuses it (``ValidationError`` naming ``endpoint``). Private and other
            non-public addresses are refused by ``WebPushSubscription`` whatever this says.
        push_service_rules: what known push services need beyond RFC 8030, matched by endpoint host
            (default ``PUSH_SERVICE_RULES``: Microsoft WNS's ``X-WNS-Cache-Policy``, and each
            service's body limit). The first matching rule applies; pass your own sequence to add or
            replace rules (``(my_rule, *PUSH_SERVICE_RULES)``), or ``()`` to apply none.

    Raises:
        ConfigurationError: the key, subject, expiration, ``base_url``, ``default_navigate`` or
            ``push_service_rules`` is unusable.
    """

    __slots__ = ("_allow_local_endpoints", "_base_url", "_default_navigate", "_last_message", "_rules", "_signer")

    def __init__(
        self,
        *,
        vapid_private_key: VapidKeySource,
        subject: str,
        base_url: str | None = None,
        vapid_expiration: timedelta = DEFAULT_VAPID_EXPIRATION,
        default_navigate: str | None = None,
        allow_local_endpoints: bool = False,
        push_service_rules: Iterable[PushServiceRule] = PUSH_SERVICE_RULES,
    ) -> None:
        self._signer = VapidSigner(vapid_private_key, subject, expiration=vapid_expiration)
        self._base_url = _check_base_url(base_url)
        self._default_navigate = _check_default_navigate(default_navigate)
        if not isinstance(allow_local_endpoints, bool):
            raise ConfigurationError(
                f"WebPush allow_local_endpoints must be True or False, got {type(allow_local_endpoints).__name__}"
            )
        self._allow_local_endpoints = allow_local_endpoints
        self._rules = _check_rules(push_service_rules)
        # The last notification's message: (notification, _Message). Only encryption differs per
        # subscription, so a batch renders the plaintext and headers once; see prepare. Replaced whole,
        # so a reader on another thread sees an old entry or a new one, both valid for their key.
        self._last_message: tuple[Notification, _Message] | None = None

    @property
    def name(self) -> str:
        """``"webpush"``."""
        return "webpush"

    # A class attribute, not a property: ``unipush.target_from_dict`` reads it from the entry point's
    # class without building the provider (src/unipush/_serialize.py).
    target_types: tuple[type[Target], ...] = (WebPushSubscription,)
    """``(WebPushSubscription,)``."""

    @property
    def application_server_key(self) -> str:
        """The VAPID public key (base64url) to pass to ``pushManager.subscribe({applicationServerKey})``."""
        return self._signer.application_server_key

    @property
    def signer(self) -> VapidSigner:
        """The VAPID signer and its per-audience token cache."""
        return self._signer

    @property
    def base_url(self) -> str | None:
        """The origin requests are redirected to, if any."""
        return self._base_url

    @property
    def default_navigate(self) -> str | None:
        """The click URL used when a notification has no ``deep_link``."""
        return self._default_navigate

    @property
    def allow_local_endpoints(self) -> bool:
        """Whether subscriptions on this machine (``localhost``, ``127.x.y.z``, ``[::1]``) are sent to."""
        return self._allow_local_endpoints

    @property
    def push_service_rules(self) -> tuple[PushServiceRule, ...]:
        """The per-push-service rules ``prepare`` applies, first match wins."""
        return self._rules

    def push_service_for(self, subscription: WebPushSubscription | str) -> PushServiceRule | None:
        """The rule that applies to ``subscription`` (or an endpoint URL), by its endpoint's host; else ``None``.

        The endpoint's own host decides, not ``base_url``: a proxy or the sandbox in between does not
        change which service the message is for.
        """
        endpoint = subscription.endpoint if isinstance(subscription, WebPushSubscription) else subscription
        try:
            host = urlsplit(endpoint).hostname
        except ValueError:
            return None
        return rule_for_host(self._rules, host)

    def url_for(self, subscription: WebPushSubscription) -> str:
        """Where the request for ``subscription`` is sent: its endpoint, or ``base_url`` + its path."""
        if self._base_url is None:
            return subscription.endpoint
        parts = urlsplit(subscription.endpoint)
        return f"{self._base_url}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")

    def prepare(
        self,
        notification: Notification,
        target: Target,
        *,
        now: datetime,
        salt: bytes | None = None,
        sender_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> PreparedRequest:
        """Render the encrypted, VAPID-signed request for one subscription.

        ``salt`` and ``sender_key`` fix the otherwise random encryption inputs, for reproducible tests
        only. ``payload`` on the result is the JSON before encryption (``None`` for a raw payload).

        The payload is a Declarative Web Push message (``payload["web_push"] == 8030``) whenever a URL
        to open is known (``deep_link`` or ``default_navigate``). Without one, it is the service-worker
        form: the same ``{"notification": {...}}`` without the ``web_push`` marker, which
        ``unipush-sw.js`` shows (a click closes it and opens nothing); a DEBUG line on the ``unipush``
        logger says so.

        Raises:
            ValidationError: the notification cannot be sent as Web Push (see ``declarative_payload``),
                the target is not a ``WebPushSubscription``, or its endpoint is this machine and
                ``allow_local_endpoints`` is off.
            PayloadTooLargeError: the plaintext is over 3993 bytes.
        """
        if not isinstance(target, WebPushSubscription):
            raise ValidationError("target", f"WebPush serves WebPushSubscription, got {type(target).__name__}")
        if target.is_loopback and not self._allow_local_endpoints:
            raise ValidationError(
                "endpoint",
                f"points at this machine ({target.short()}): loopback endpoints are refused unless "
                "WebPush(allow_local_endpoints=True), for local testing",
            )
        # The plaintext and the headers depend on the notification (and this configuration) only: rendered
        # once for a batch, not once per subscription. The notification is frozen, so its identity is a
        # sound key.
        last = self._last_message
        if last is not None and last[0] is notification:
            message = last[1]
        else:
            message = self._message(notification)
            self._last_message = (notification, message)
        payload, plaintext = message.payload, message.plaintext
        if message.unmarked:
            logger.debug(
                "webpush %s: no deep_link and no default_navigate, so sent without the declarative "
                "marker: unipush-sw.js shows it, a click opens nothing",
                target.short(),
            )
        body = encrypt(plaintext, target.p256dh_bytes, target.auth_bytes, salt=salt, sender_private_key=sender_key)
        if len(body) > MAX_BODY_SIZE:  # cannot happen after the plaintext check; kept as a guard
            raise PayloadTooLargeError("payload", len(body), MAX_BODY_SIZE, "webpush")
        headers = dict(message.headers)
        if notification.expires_at is not None:
            # Rendered once per notification, but the TTL left before expires_at depends on the send time.
            headers["ttl"] = ttl_header(notification, now)
        rule = self.push_service_for(target)
        if rule is not None:
            if len(body) > rule.max_body:
                raise PayloadTooLargeError("payload", len(body), rule.max_body, f"webpush ({rule.name})")
            rule.apply(headers)  # after the notification's own headers, which it never overrides
        # The token from memory; none yet when it must come from a credential store (I/O), which
        # ``authorize`` then reads off the event loop.
        authorization = self._signer.cached_authorization(target.endpoint, now=now)
        if authorization is not None:
            headers["authorization"] = authorization
        return PreparedRequest(
            provider=self.name,
            target=target,
            method="POST",
            url=self.url_for(target),
            headers=headers,
            body=body,
            payload=payload,
            credential_pending=authorization is None,
        )

    def _message(self, notification: Notification) -> _Message:
        payload, plaintext = encode_payload(notification, default_navigate=self._default_navigate)
        if len(plaintext) > MAX_PLAINTEXT_SIZE:
            field = "payload" if payload is not None else "webpush.raw_payload"
            raise PayloadTooLargeError(field, len(plaintext), MAX_PLAINTEXT_SIZE, "webpush")
        declarative = _options_format(notification) == "declarative"
        unmarked = declarative and payload is not None and payload.get("web_push") != DECLARATIVE_MARKER
        return _Message(payload, plaintext, encode_headers(notification), unmarked)

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Decode the push service's answer (see ``parse_response``)."""
        return parse_response(status_code, headers, body)

    def authorize(
        self, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext
    ) -> PreparedRequest | Awaitable[PreparedRequest]:
        """The ``Provider`` auth hook: attach the VAPID header ``prepare`` left to send time (it had to come
        from the credential store, read here on a worker thread); anything else is returned as it is."""
        if not request.credential_pending or not isinstance(request.target, WebPushSubscription):
            return request
        return self._authorize_later(request, request.target.endpoint)

    async def _authorize_later(self, request: PreparedRequest, endpoint: str) -> PreparedRequest:
        now = datetime.now(timezone.utc)
        header = await asyncio.to_thread(self._signer.authorization, endpoint, now=now)
        return request.with_headers({"authorization": header})

    def use_credential_store(self, store: CredentialStore) -> None:
        """Share the VAPID tokens (one per push service) through ``store`` (``PushClient(credential_store=...)``)."""
        self._signer.use_store(store)

    def __repr__(self) -> str:
        return (
            f"WebPush(subject={self._signer.subject!r}, "
            f"application_server_key={self._signer.application_server_key!r}, base_url={self._base_url!r}"
            + (", allow_local_endpoints=True)" if self._allow_local_endpoints else ")")
        )
