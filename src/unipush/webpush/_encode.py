"""Pure Web Push encoder: the payload JSON (W3C Declarative Web Push) and the RFC 8030 headers.

Where each ``Notification`` field lands (``payload_format="declarative"``, the default)::

    title             notification.title        (required: a declarative message has a title)
    body              notification.body
    deep_link         notification.navigate     (falls back to WebPush(default_navigate=...); with
                      neither, the message is sent without the "web_push" marker, for unipush-sw.js)
    collapse_key      notification.tag  and the Topic header (as is when valid, else a hash)
    image, icon       notification.image, notification.icon
    actions           notification.actions: [{action, title, navigate, icon}], navigate falling back
                      to the notification's own
    data              notification.data (an object of strings)
    badge             app_badge (top level, an integer)
    ttl               TTL header (28 days when unset; "0" is sent as such)
    priority          Urgency header: high / normal (webpush.urgency overrides)
    webpush.*         lang, dir, badge, vibrate, timestamp (ms), renotify, silent,
                      requireInteraction, mutable

Not carried, because the Notifications API has no such thing: ``subtitle``, ``sound``, ``category``,
``thread_id``. ``content_available`` has no effect: browsers make every push show a notification
(the Push API's ``userVisibleOnly``), so a push without an alert is refused in the declarative format
(see ``declarative_payload``); with ``payload_format="json"`` it is delivered to your service worker,
which must still show something.

Member names follow the Push API Editor's Draft ("declarative push message", merged in
w3c/push-api#385): the notification members are those of ``NotificationOptions``, so the spec spells
``requireInteraction`` in camelCase on purpose. ``app_badge`` is the top-level integer of
w3c/push-api#402, which current WebKit reads. ``mutable`` is a top-level member in the spec, but the
shipped parsers of WebKit (bug 296770) and Firefox read it inside ``notification``; both places are
written, since every parser ignores members it does not know.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from unipush._errors import ValidationError
from unipush._model import Notification
from unipush._options.webpush import WebPushOptions
from unipush._validate import DEFAULT_TTL_SECONDS
from unipush.webpush._crypto import b64url_encode

__all__ = [
    "DECLARATIVE_MARKER",
    "NOTIFICATION_OPTION_MEMBERS",
    "declarative_payload",
    "derive_topic",
    "encode_headers",
    "encode_payload",
    "json_payload",
    "notification_options",
]

DECLARATIVE_MARKER = 8030
"""The value of ``web_push`` that marks a declarative push message (the RFC number of Web Push)."""

_DEFAULT_OPTIONS = WebPushOptions()
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCY_FOR_PRIORITY = {"high": "high", "normal": "normal"}


def _options(notification: Notification) -> WebPushOptions:
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
    options = _options(notification)
    ttl = notification.ttl_seconds if now is None else notification.ttl_at(now)
    headers = {"ttl": str(DEFAULT_TTL_SECONDS if ttl is None else ttl)}
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
    options = _options(notification)
    members: dict[str, Any] = {}
    for _, member, value_of in NOTIFICATION_OPTION_MEMBERS:
        if member in skip:
            continue
        value = value_of(notification, options)
        if value is not None:
            members[member] = value
    return members


def _notification_members(notification: Notification, navigate: str | None) -> dict[str, Any]:
    options = _options(notification)
    members: dict[str, Any] = {}
    if notification.title is not None:
        members["title"] = notification.title
    if notification.body is not None:
        members["body"] = notification.body
    if navigate is not None:
        members["navigate"] = navigate
    members.update(notification_options(notification))
    if notification.data:
        members["data"] = dict(notification.data)
    if notification.actions:
        actions = []
        for action in notification.actions:
            item: dict[str, Any] = {"action": action.id, "title": action.title}
            action_navigate = action.deep_link or navigate
            if action_navigate is not None:
                item["navigate"] = action_navigate
            if action.icon is not None:
                item["icon"] = action.icon
            actions.append(item)
        members["actions"] = actions
    if options.mutable is not None:
        # Where WebKit and Firefox read it today; the spec's top-level copy is added by the caller.
        members["mutable"] = options.mutable
    return members


def _with_top_level(notification: Notification, message: dict[str, Any]) -> dict[str, Any]:
    if notification.badge is not None:
        message["app_badge"] = notification.badge
    mutable = _options(notification).mutable
    if mutable is not None:
        message["mutable"] = mutable
    return message


def _require_visible(notification: Notification) -> None:
    """A browser shows every push as a notification, and the notification needs a title."""
    if not notification.has_alert:
        raise ValidationError(
            "content_available" if notification.content_available else "title",
            "Web Push cannot send a silent push: browsers make every push show a notification (Push API "
            "userVisibleOnly). Give it a title, or use WebPushOptions(payload_format='json') and have your "
            "service worker show one",
        )
    if not notification.title:
        raise ValidationError(
            "title", "is required by Declarative Web Push (or use WebPushOptions(payload_format='json'))"
        )


def declarative_payload(notification: Notification, *, default_navigate: str | None = None) -> dict[str, Any]:
    """The Declarative Web Push message for ``notification``.

    A declarative message must have a ``title`` and a ``navigate`` URL, or browsers do not treat it as
    one. ``navigate`` is ``Notification.deep_link``, else ``default_navigate`` (``WebPush(
    default_navigate=...)``, typically the site's home page). ``encode_payload`` sends a notification
    with neither in the service-worker form instead (``json_payload``); called directly, this raises.

    Raises:
        ValidationError: no alert (silent pushes do not exist on the web), no title, no navigate URL,
            or ``renotify`` without a tag.
    """
    _require_visible(notification)
    navigate = notification.deep_link or default_navigate
    if navigate is None:
        raise ValidationError(
            "deep_link",
            "Declarative Web Push needs a URL to open on click: set Notification.deep_link, "
            "or WebPush(default_navigate='https://your.site/')",
        )
    message: dict[str, Any] = {
        "web_push": DECLARATIVE_MARKER,
        "notification": _notification_members(notification, navigate),
    }
    return _with_top_level(notification, message)


def json_payload(notification: Notification, *, default_navigate: str | None = None) -> dict[str, Any]:
    """The same members as ``declarative_payload`` without the ``web_push`` marker, for a service worker.

    Browsers never display it by themselves, so nothing is required: a message without a title or a
    navigate URL (a data-only push) is allowed, and your service worker decides what to show.
    """
    navigate = notification.deep_link or default_navigate
    message: dict[str, Any] = {"notification": _notification_members(notification, navigate)}
    return _with_top_level(notification, message)


def encode_payload(
    notification: Notification, *, default_navigate: str | None = None
) -> tuple[dict[str, Any] | None, bytes]:
    """The payload as a JSON-ready dict (``None`` for raw) and the plaintext bytes to encrypt.

    ``payload_format="declarative"`` (the default) gives the declarative message when a URL to open
    is known (``deep_link`` or ``default_navigate``), and the service-worker form (``json_payload``,
    no ``web_push`` marker) when none is: a notification without a URL still reaches the browser.

    JSON is compact and UTF-8 (not ASCII-escaped), so the size checked against the 3993-byte limit
    is the size sent.
    """
    options = _options(notification)
    if options.payload_format == "raw":
        assert options.raw_payload is not None  # WebPushOptions checks it
        return None, options.raw_payload
    if options.payload_format == "json":
        payload = json_payload(notification, default_navigate=default_navigate)
    elif notification.deep_link is None and default_navigate is None:
        # The Push API's declarative message must have a navigate URL (a browser with native support
        # would not show one without it). With no URL to give, send what unipush-sw.js shows: the same
        # members without the "web_push" marker (a click then opens nothing). Browsers without a
        # service worker of ours show neither form, so the title is still required.
        _require_visible(notification)
        payload = json_payload(notification)
    else:
        payload = declarative_payload(notification, default_navigate=default_navigate)
    return payload, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
