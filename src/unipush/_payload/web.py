"""What a web app's push carries, whichever service delivers it: Web Push directly, or FCM's ``message.webpush``.

Pure. The RFC 8030 message headers (``TTL``, ``Urgency``, ``Topic`` and the extra headers) and the
Notifications API options (``NotificationOptions`` members: ``lang``, ``dir``, ``tag``, ``image``,
``icon``, ``badge``, ``vibrate``, ``timestamp``, ``renotify``, ``silent``, ``requireInteraction``) are
made here once: the Web Push encoder (``unipush.webpush._encode``) puts them in the encrypted
Declarative Web Push message and its request headers, and the FCM encoder (``unipush.fcm._encode``) in
``message.webpush.headers`` and ``message.webpush.notification``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from unipush._errors import ValidationError
from unipush._model import Notification
from unipush._validate import DEFAULT_TTL_SECONDS
from unipush.webpush._crypto import b64url_encode
from unipush.webpush._options import WebPushOptions

__all__ = ["NOTIFICATION_OPTION_MEMBERS", "derive_topic", "encode_headers", "notification_options", "options_of"]

_DEFAULT_OPTIONS = WebPushOptions()
# RFC 8030 section 5.4: a Topic is at most 32 characters of the URL- and filename-safe base64 alphabet.
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCY_FOR_PRIORITY = {"high": "high", "normal": "normal"}


def options_of(notification: Notification) -> WebPushOptions:
    """The notification's ``WebPushOptions``, or the defaults when it has none."""
    return notification.webpush or _DEFAULT_OPTIONS


def derive_topic(collapse_key: str) -> str:
    """The RFC 8030 ``Topic`` for a collapse key.

    A key that already is a valid topic (at most 32 base64url characters, and not of a length
    ``4k + 1``, which Apple rejects) is used as is, so it stays readable in logs. Any other key becomes
    the base64url of the first 24 bytes of its SHA-256: 32 characters, stable across processes and
    releases, and colliding only by chance (2^-96 per pair).
    """
    if _TOPIC.fullmatch(collapse_key) and len(collapse_key) % 4 != 1:
        return collapse_key
    return b64url_encode(hashlib.sha256(collapse_key.encode("utf-8")).digest()[:24])


def encode_headers(notification: Notification, *, now: datetime | None = None) -> dict[str, str]:
    """The RFC 8030 headers for ``notification``, without ``authorization`` (lower-case names).

    ``ttl`` is always present, as RFC 8030 §5.2 requires (a push service answers 400 without it):
    ``Notification.ttl``, or ``DEFAULT_TTL_SECONDS`` (28 days) when unset, so 0 is only ever sent
    when asked for. With ``now``, the TTL never reaches past ``expires_at`` (``Notification.ttl_at``).
    """
    options = options_of(notification)
    headers = {"ttl": ttl_header(notification, now)}
    # RFC 8030 §5.3; no priority means the service default ("normal"), so no header is sent.
    urgency = options.urgency or _URGENCY_FOR_PRIORITY.get(notification.priority or "")
    if urgency is not None:
        headers["urgency"] = urgency
    # RFC 8030 §5.4: a newer message with the same topic replaces one not yet delivered.
    topic = options.topic
    if topic is None and notification.collapse_key is not None:
        topic = derive_topic(notification.collapse_key)
    if topic is not None:
        headers["topic"] = topic
    # RFC 8291 §4 / RFC 8188 §2: the body is one aes128gcm record; it is opaque bytes to the service.
    headers["content-encoding"] = "aes128gcm"
    headers["content-type"] = "application/octet-stream"
    headers.update(options.extra_headers)
    return headers


def ttl_header(notification: Notification, now: datetime | None) -> str:
    """The ``TTL`` header's value at ``now`` (RFC 8030 §5.2): never past ``expires_at`` when ``now`` is given."""
    ttl = notification.ttl_seconds if now is None else notification.ttl_at(now)
    return str(DEFAULT_TTL_SECONDS if ttl is None else ttl)


def _renotify(notification: Notification, options: WebPushOptions) -> bool | None:
    # Notifications API, "create a notification": renotify without a tag is a TypeError.
    if options.renotify and notification.collapse_key is None:
        raise ValidationError("webpush.renotify", "needs a tag: set Notification.collapse_key")
    return options.renotify


NOTIFICATION_OPTION_MEMBERS: tuple[tuple[str, str, Callable[[Notification, WebPushOptions], Any]], ...] = (
    ("webpush.lang", "lang", lambda n, o: o.lang),
    ("webpush.dir", "dir", lambda n, o: o.dir),
    ("collapse_key", "tag", lambda n, o: n.collapse_key),
    ("image", "image", lambda n, o: n.image),
    ("icon", "icon", lambda n, o: n.icon),
    ("webpush.badge", "badge", lambda n, o: o.badge),
    ("webpush.vibrate", "vibrate", lambda n, o: list(o.vibrate) or None),
    ("webpush.timestamp", "timestamp", lambda n, o: o.timestamp_ms),
    ("webpush.renotify", "renotify", _renotify),
    ("webpush.silent", "silent", lambda n, o: o.silent),
    ("webpush.require_interaction", "requireInteraction", lambda n, o: o.require_interaction),
)
"""The Notifications API options (``NotificationOptions`` members) a notification sets: (field, member,
value). Declarative Web Push and FCM's ``webpush.notification`` both use this table, and
``docs/mapping.md`` is checked against it."""


def notification_options(notification: Notification, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The ``NotificationOptions`` members of ``notification`` (``NOTIFICATION_OPTION_MEMBERS``), in order.

    ``skip`` names members the caller sends elsewhere (FCM sends ``image`` in ``message.notification``).
    """
    options = options_of(notification)
    members: dict[str, Any] = {}
    for _, member, value_of in NOTIFICATION_OPTION_MEMBERS:
        if member in skip:
            continue
        value = value_of(notification, options)
        if value is not None:
            members[member] = value
    return members
