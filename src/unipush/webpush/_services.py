"""What each known push service needs beyond RFC 8030: a small table keyed by endpoint host.

Every push service speaks RFC 8030 + RFC 8291 + RFC 8292, and most of what differs between them is
already sent the strictest way for all of them (aes128gcm only, a VAPID ``sub`` that is a real
contact, a Topic that Apple accepts, a body of at most 4096 bytes). What remains is per service:

- **Microsoft WNS** (Edge on Windows, ``*.notify.windows.com``) answers ``400`` with an empty body and
  ``X-WNS-Error-Description: Ttl value conflicts with X-WNS-Cache-Policy.`` unless the two agree:
  ``TTL: 0`` needs ``X-WNS-Cache-Policy: no-cache``, a positive TTL ``cache``; without the header WNS
  assumes ``cache`` (Microsoft, "Push notification service request and response headers";
  web-push-libs/pywebpush#162, SherClockHolmes/webpush-go#66). The rule adds the matching header.
- The other facts (which HTTP versions a service is known to answer, its retention cap, whether it
  honours Topic and Urgency) are recorded for the docs and for code that wants them
  (``WebPush.push_service_for``); only ``max_body`` is enforced, before sending.

``prepare`` applies the first rule whose host matches the endpoint (``WebPush(push_service_rules=...)``
replaces the table; ``()`` turns it off). A header given per notification
(``WebPushOptions(extra_headers=...)``) always wins over a rule's.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import cast

from unipush._errors import ConfigurationError

__all__ = ["PUSH_SERVICE_RULES", "PushServiceRule", "rule_for_host"]

WNS_CACHE_POLICY = "x-wns-cache-policy"


@dataclass(frozen=True, kw_only=True, slots=True)
class PushServiceRule:
    """One push service's needs beyond RFC 8030, matched by the subscription endpoint's host.

    Args:
        name: who runs it, for messages and docs (``"Microsoft WNS (Edge on Windows)"``).
        hosts: host names it serves; each also matches its subdomains (``"notify.windows.com"``
            matches ``wns2-pn1p.notify.windows.com``).
        wns_cache_policy: add ``X-WNS-Cache-Policy`` agreeing with ``TTL`` (``no-cache`` for 0,
            ``cache`` otherwise) unless the notification sets the header itself.
        max_body: the largest encrypted body it takes, in bytes; a bigger one is refused before sending
            (``PayloadTooLargeError``). RFC 8030 §7.2 makes 4096 the floor every service accepts.
        http1: whether the service is known to answer HTTP/1.1 (``None``: not confirmed in the public
            record). Informational: known for all four built-in rules because HTTP/1.1-only clients
            (pywebpush over ``requests``, Node's ``web-push``) deliver to them.
        http2: whether the service is known to negotiate HTTP/2 (``None``: not confirmed).
            Informational.
        topic: whether it honours ``Topic`` (RFC 8030 §5.4); ``None`` when not documented.
            Informational: the header is sent either way (unknown headers are ignored).
        urgency: whether it honours ``Urgency`` (RFC 8030 §5.3); ``None`` when not documented.
            Informational, as ``topic``.
        max_ttl: the longest it keeps a message, in seconds (``None``: not published). Informational:
            RFC 8030 §5.2 lets a service keep a message for less than asked, and it says so in its
            answer's ``TTL``, so a longer TTL is not an error.
        notes: anything else worth knowing, with its source.
    """

    name: str
    hosts: tuple[str, ...]
    wns_cache_policy: bool = False
    max_body: int = 4096
    http1: bool | None = None
    http2: bool | None = None
    topic: bool | None = None
    urgency: bool | None = None
    max_ttl: int | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        given: object = self.hosts  # typed as a tuple; a caller may still pass one str or a list
        hosts: tuple[object, ...] = (given,) if isinstance(given, str) else tuple(cast(Iterable[object], given))
        if not hosts or not all(isinstance(h, str) and h.strip(".") for h in hosts):
            raise ConfigurationError(f"PushServiceRule {self.name!r}: hosts must be non-empty host names")
        object.__setattr__(self, "hosts", tuple(str(h).lower().strip(".") for h in hosts))
        max_body: object = self.max_body
        if type(max_body) is not int or max_body < 1:
            raise ConfigurationError(f"PushServiceRule {self.name!r}: max_body must be an int >= 1")

    def matches(self, host: str) -> bool:
        """Whether ``host`` (an endpoint's host name) is served by this rule."""
        host = host.lower().rstrip(".")
        return any(host == name or host.endswith("." + name) for name in self.hosts)

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add what this service needs to ``headers`` (lower-case names, ``ttl`` already set). Pure."""
        if self.wns_cache_policy and WNS_CACHE_POLICY not in headers:
            # WNS reads TTL 0 as "do not cache" and needs the policy to say the same (else 400).
            headers[WNS_CACHE_POLICY] = "no-cache" if headers.get("ttl", "").strip() == "0" else "cache"


PUSH_SERVICE_RULES: tuple[PushServiceRule, ...] = (
    PushServiceRule(
        name="Microsoft WNS (Edge on Windows)",
        hosts=("notify.windows.com",),
        wns_cache_policy=True,
        http1=True,
        notes=(
            "400 'Ttl value conflicts with X-WNS-Cache-Policy' in X-WNS-Error-Description (empty body) when "
            "TTL and X-WNS-Cache-Policy disagree; WNS's default policy is cache (pywebpush#162, webpush-go#66). "
            "Optional X-WNS-Type can be sent with WebPushOptions(extra_headers=...)."
        ),
    ),
    PushServiceRule(
        name="Apple (Safari, iOS and iPadOS Home Screen web apps)",
        hosts=("web.push.apple.com",),
        http1=True,
        topic=True,
        urgency=True,
        notes=(
            "VAPID sub must be a reachable mailto:/https: contact (403 BadJwtToken otherwise); aes128gcm only; "
            "400 BadWebPushTopic (a Topic of length 1 mod 4 too), BadUrgency, BadTtl; 413 over 4096 bytes; "
            "iOS delivers only to web apps added to the Home Screen."
        ),
    ),
    PushServiceRule(
        name="Mozilla autopush (Firefox)",
        hosts=("push.services.mozilla.com",),
        http1=True,
        topic=True,
        urgency=True,
        max_ttl=30 * 24 * 3600,
        notes=(
            "JSON errors {code, errno, error, message}: errno 111/112 missing or bad TTL, 113 bad Topic, "
            "104 (413) too large, 102 (404) and 103/105/106 (410) dead; TTL capped at 30 days."
        ),
    ),
    PushServiceRule(
        name="Google FCM (Chrome, Chromium browsers)",
        hosts=("fcm.googleapis.com",),
        http1=True,
        http2=True,
        topic=True,
        urgency=True,
        max_ttl=28 * 24 * 3600,
        notes=(
            "Plain RFC 8030 + VAPID (no FCM key); 404/410 dead, 403 VAPID key mismatch, 413 over 4096 bytes; "
            "keeps messages at most 4 weeks; the host also serves FCM HTTP v1 over HTTP/2."
        ),
    ),
)
"""The rules ``WebPush`` applies by default (docs/webpush.md has them as a table)."""


def rule_for_host(rules: tuple[PushServiceRule, ...], host: str | None) -> PushServiceRule | None:
    """The first rule of ``rules`` that serves ``host``, or ``None``."""
    if host is None:
        return None
    for rule in rules:
        if rule.matches(host):
            return rule
    return None
