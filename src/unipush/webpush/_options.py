"""``WebPushOptions``: settings that only mean something for Web Push (RFC 8030 + the Notifications API).

Every field is optional. The notification fields (``require_interaction``, ``renotify``, ``silent``,
``vibrate``, ``lang``, ``dir``, ``badge``, ``timestamp``) are the Notifications API options of the same
meaning and land in the Declarative Web Push ``notification`` object; ``urgency``, ``topic`` and
``extra_headers`` are RFC 8030 request headers; ``payload_format`` chooses what the encrypted body is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from unipush import _validate as v
from unipush._errors import ValidationError

__all__ = ["OWNED_HEADERS", "PayloadFormat", "Urgency", "WebPushOptions", "check_topic"]

Urgency = Literal["very-low", "low", "normal", "high"]
PayloadFormat = Literal["declarative", "json", "raw"]

_URGENCIES: tuple[str, ...] = ("very-low", "low", "normal", "high")
_FORMATS: tuple[str, ...] = ("declarative", "json", "raw")
_DIRS: tuple[str, ...] = ("auto", "ltr", "rtl")

OWNED_HEADERS = frozenset(
    {
        "ttl",
        "urgency",
        "topic",
        "authorization",
        "content-encoding",
        "content-type",
        "content-length",
        # Legacy ``aesgcm`` headers (draft-ietf-webpush-encryption-04): sending them next to an aes128gcm
        # body would make a service try the wrong decoding, so they are unipush's too.
        "crypto-key",
        "encryption",
    }
)
"""Request headers unipush sets itself; ``extra_headers`` may not name them (case-insensitive)."""

# RFC 8030 §5.4: a topic is at most 32 characters from the URL- and filename-safe base64 alphabet.
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
# RFC 9110 §5.1: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# BCP 47, loosely: letters for the primary subtag, then alphanumeric subtags of up to 8 characters.
_LANG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
_UNSIGNED_LONG_MAX = 2**32 - 1


def check_topic(field_name: str, topic: str) -> str:
    """Return ``topic`` if it is a Topic header value every push service accepts, else raise.

    RFC 8030 §5.4 allows 1 to 32 base64url characters. Apple's push service also answers
    ``400 BadWebPushTopic`` when the length is 1 more than a multiple of 4 (no base64 string has that
    length), so those are refused here rather than by one service at send time.
    """
    if not _TOPIC.fullmatch(topic):
        raise ValidationError(
            field_name, f"must be 1 to 32 characters of A-Z a-z 0-9 - _ (RFC 8030 §5.4), got {topic!r}"
        )
    if len(topic) % 4 == 1:
        raise ValidationError(
            field_name, f"length {len(topic)} is 1 more than a multiple of 4, which Apple's push service rejects"
        )
    return topic


def _empty_headers() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True, slots=True)
class WebPushOptions:
    """Web Push-only settings for one notification: ``Notification(..., webpush=WebPushOptions(...))``.

    Args:
        urgency: RFC 8030 ``Urgency`` header (``"very-low"``, ``"low"``, ``"normal"``, ``"high"``).
            Overrides the one derived from ``Notification.priority``.
        topic: RFC 8030 ``Topic`` header, used as is. Without it the topic is derived from
            ``Notification.collapse_key``. At most 32 base64url characters, and not a length of
            ``4k + 1`` (Apple rejects those).
        require_interaction: keep the notification on screen until the user acts on it.
        renotify: alert again when this notification replaces one with the same tag; needs a tag,
            which is ``Notification.collapse_key``.
        silent: show the notification without sound or vibration. Cannot be combined with ``vibrate``.
        vibrate: a vibration pattern in milliseconds (vibrate, pause, vibrate...).
        lang: the language of the title and body, a BCP 47 tag such as ``"en-GB"``.
        dir: text direction: ``"auto"``, ``"ltr"`` or ``"rtl"``.
        badge: URL of the small monochrome badge icon (not the app badge count, which is
            ``Notification.badge``).
        timestamp: when the event happened (an aware ``datetime``); sent as epoch milliseconds.
        mutable: Declarative Web Push ``mutable``: let the site's service worker, if any, rewrite the
            notification before it is shown.
        payload_format: ``"declarative"`` (default; the W3C Declarative Web Push JSON, shown by
            Safari 18.4+ without a service worker), ``"json"`` (the same members without the
            ``web_push`` marker, for a service worker to render) or ``"raw"`` (``raw_payload`` as is).
        raw_payload: the exact bytes to encrypt and send; required with ``payload_format="raw"`` and
            refused otherwise.
        extra_headers: more request headers, e.g. ``{"X-WNS-Type": "wns/raw"}`` for Windows endpoints.
            Names are lower-cased; headers unipush owns (``OWNED_HEADERS``) are refused.
    """

    urgency: Urgency | None = None
    topic: str | None = None
    require_interaction: bool | None = None
    renotify: bool | None = None
    silent: bool | None = None
    vibrate: Sequence[int] = ()
    lang: str | None = None
    dir: Literal["auto", "ltr", "rtl"] | None = None
    badge: str | None = None
    timestamp: datetime | None = None
    mutable: bool | None = None
    payload_format: PayloadFormat = "declarative"
    raw_payload: bytes | None = None
    extra_headers: Mapping[str, str] = field(default_factory=_empty_headers)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        v.one_of("webpush.urgency", self.urgency, _URGENCIES)
        topic = v.optional_str("webpush.topic", self.topic)
        if topic is not None:
            check_topic("webpush.topic", topic)
        for name in ("require_interaction", "renotify", "silent", "mutable"):
            v.optional_bool(f"webpush.{name}", getattr(self, name))
        set_(self, "vibrate", _check_vibrate(self.vibrate))
        lang = v.optional_str("webpush.lang", self.lang)
        if lang is not None and not _LANG.fullmatch(lang):
            raise ValidationError("webpush.lang", f"must be a BCP 47 language tag such as 'en-GB', got {lang!r}")
        v.one_of("webpush.dir", self.dir, _DIRS)
        v.optional_media_url("webpush.badge", self.badge)
        # Sent as epoch milliseconds, an unsigned EpochTimeStamp in the Notifications API.
        v.aware_datetime("webpush.timestamp", self.timestamp)
        # Notifications API, "create a notification": silent together with a vibration pattern is a
        # TypeError, so the browser would refuse the notification.
        if self.silent and self.vibrate:
            raise ValidationError("webpush.vibrate", "cannot be combined with silent=True (Notifications API)")
        v.one_of("webpush.payload_format", self.payload_format, _FORMATS)
        if self.payload_format == "raw":
            if not isinstance(self.raw_payload, bytes):
                raise ValidationError(
                    "webpush.raw_payload",
                    f"must be bytes when payload_format='raw', got {type(self.raw_payload).__name__}",
                )
        elif self.raw_payload is not None:
            raise ValidationError("webpush.raw_payload", "is only used with payload_format='raw'")
        set_(self, "extra_headers", _check_headers(self.extra_headers))

    @property
    def timestamp_ms(self) -> int | None:
        """``timestamp`` as integer milliseconds since the Unix epoch (the Notifications API unit)."""
        if self.timestamp is None:
            return None
        return int(self.timestamp.timestamp() * 1000)


def _check_vibrate(value: object) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError("webpush.vibrate", f"must be a sequence of int milliseconds, got {type(value).__name__}")
    for index, item in enumerate(value):
        v.optional_int(f"webpush.vibrate[{index}]", item, minimum=0, maximum=_UNSIGNED_LONG_MAX)
    return tuple(value)


def _check_headers(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationError("webpush.extra_headers", f"must be a mapping of str to str, got {type(value).__name__}")
    headers: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValidationError("webpush.extra_headers", f"{name!r} is not a valid HTTP header name")
        lowered = name.lower()
        if lowered in OWNED_HEADERS:
            raise ValidationError(
                f"webpush.extra_headers[{name!r}]", "is set by unipush; use the matching option instead"
            )
        if lowered in headers:
            raise ValidationError(f"webpush.extra_headers[{name!r}]", "is given twice (header names ignore case)")
        if not isinstance(item, str):
            raise ValidationError(f"webpush.extra_headers[{name!r}]", f"must be a string, got {type(item).__name__}")
        headers[lowered] = v.check_header_value(f"webpush.extra_headers[{name!r}]", item)
    return MappingProxyType(headers)
