"""Render a ``Notification`` as an FCM HTTP v1 ``messages:send`` request body.

``encode`` is pure: the clock comes in as ``now`` and nothing is read or written. It returns
``{"message": {...}}``, plus ``"validate_only": true`` for a dry run. Field names are snake_case, as the
FCM reference shows them (the proto3 JSON mapping accepts them as well as lowerCamelCase).

Where each field lands
    * Recipient: ``token`` / ``topic`` / ``condition``, from the target.
    * ``message.notification`` {title, body, image}: FCM shows it on Android and web and copies it to
      the APNs alert.
    * ``message.data``: the user's ``data`` plus unipush's own values under ``unipush.`` keys:
      ``unipush.deep_link``, ``unipush.image`` and ``unipush.actions`` (compact JSON: a list of
      ``{"id", "title", "icon"?, "deep_link"?}``). An app reads them the same way on every platform.
    * ``message.android``: ``collapse_key``, ``priority`` (HIGH/NORMAL), ``ttl`` ("Ns"), and a
      ``notification`` block with sound, the tag (``fcm.tag``, else the collapse key) and the
      ``FcmOptions`` fields.
    * ``message.apns``: what ``unipush._payload.apple.build`` makes (the same code as a direct APNs push,
      ``ApnsOptions`` included): ``headers`` (``apns-push-type``, ``apns-expiration``, ``apns-priority``,
      ``apns-collapse-id``; FCM sets ``apns-topic``), ``payload`` (``aps``, ``apns.extra``, ``unipush``),
      ``live_activity_token`` for a Live Activity, and ``fcm_options.image``.
    * ``message.webpush``: the Web Push headers of ``unipush._payload.web`` (``TTL``, ``Urgency``, ``Topic``, extra
      headers), ``notification`` (its Notifications API options, from ``NOTIFICATION_OPTION_MEMBERS``, and
      actions) and ``fcm_options.link`` (the deep link, when it is https).
    * What FCM cannot carry is a ``ValidationError`` naming the option (``option_paths`` lists where
      every option goes; ``docs/mapping.md`` is generated from it).

Data-only messages
    A notification without anything to show (no title, subtitle, body or localisation key) is sent
    as a *data message*: no ``notification`` block and no Android/Web notification. FCM requires
    ``apns-priority: 5`` for data-only messages to iOS (``Message.data`` in the v1 reference), and Apple
    requires 5 for background pushes, so the APNs headers always carry 5 for these, whatever
    ``priority`` says. A data message with nothing to show is an APNs background push and carries
    ``content-available: 1`` whether or not ``content_available`` is set: it is what the direct APNs
    encoder sends, and iOS hands a background push to the app only with it (Apple, "Pushing background
    updates to your App"), so without it the data would never reach a backgrounded iOS app.

Size rule
    FCM rejects a message that is too big with INVALID_ARGUMENT. Its ErrorCode reference gives the
    limit as "4096 bytes for most messages, or 2048 bytes in the case of messages to topics", counting
    "both the keys and the values" of the payload. unipush measures exactly that payload: the UTF-8
    bytes of every key and value in ``message.data`` plus every key and value of
    ``message.notification`` (title, body, image). The measure is taken on the final message, after the
    raw overrides are merged. A condition is delivered through topics, so condition messages get the
    2048-byte topic limit. The ``android``, ``apns`` and ``webpush`` blocks are not counted. FCM does not
    document them as part of the measure, but APNs still applies its own 4 KB limit to the payload FCM
    forwards to iOS.

Data keys
    FCM reserves ``from``, ``message_type`` and every key starting with ``google.`` or ``gcm.``. unipush
    also refuses ``collapse_key``: FCM accepts it but overwrites the value with its own (ErrorCode
    reference, "Invalid data key"), which would lose the user's value without telling them. Use
    ``Notification.collapse_key`` instead. As for every provider, ``aps``, ``unipush`` and ``unipush.*``
    are reserved for unipush.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# The shared payload modules (unipush._payload) read the APNs and Web Push option blocks, and those
# providers' packages import the shared modules in turn: initialise both packages before FCM uses them,
# so the shared modules are first loaded from inside their providers, whichever package is imported first.
import unipush.apns
import unipush.webpush  # noqa: F401
from unipush._errors import PayloadTooLargeError, ValidationError
from unipush._model import Notification
from unipush._payload.apple import ALERT_OPTION_KEYS, APS_OPTION_KEYS, LIVE_ACTIVITY_KEYS, TOPIC_SUFFIXES
from unipush._payload.apple import build as apns_build
from unipush._payload.web import NOTIFICATION_OPTION_MEMBERS, encode_headers, notification_options
from unipush._validate import DEFAULT_TTL_SECONDS, plain_json
from unipush.apns._options import ApnsPushType
from unipush.fcm._options import FcmOptions
from unipush.fcm._target import FcmCondition, FcmDevice, FcmTarget, FcmTopic
from unipush.webpush._options import WebPushOptions

__all__ = [
    "FCM_APNS_PUSH_TYPES",
    "MAX_PAYLOAD_BYTES",
    "MAX_TOPIC_PAYLOAD_BYTES",
    "WEBPUSH_HEADER_NAMES",
    "MessageParts",
    "encode",
    "message_parts",
    "option_paths",
    "payload_size",
    "render",
]

MAX_PAYLOAD_BYTES = 4096
"""FCM's payload limit for a message to a token (ErrorCode reference, INVALID_ARGUMENT)."""

MAX_TOPIC_PAYLOAD_BYTES = 2048
"""FCM's payload limit for a message to a topic. unipush applies it to conditions too."""

FCM_APNS_PUSH_TYPES = (ApnsPushType.ALERT, ApnsPushType.BACKGROUND, ApnsPushType.LIVEACTIVITY)
"""The APNs push types FCM can carry (``apns.push_type`` of any other is a ``ValidationError``)."""

WEBPUSH_HEADER_NAMES = {"ttl": "TTL", "urgency": "Urgency", "topic": "Topic"}
"""The Web Push encoder's RFC 8030 headers as ``message.webpush.headers`` spells them; extra headers keep
their (lower-case) names."""

_NO_OPTIONS = FcmOptions()
_FCM_OWNS_WEBPUSH_HEADERS = frozenset({"content-encoding", "content-type"})
_SENT_IN_MESSAGE_NOTIFICATION = frozenset({"image"})
_WEBPUSH_REFUSED: tuple[tuple[str, Callable[[WebPushOptions], bool]], ...] = (
    ("webpush.mutable", lambda o: o.mutable is not None),
    ("webpush.payload_format", lambda o: o.payload_format == "raw"),
)
_WEBPUSH_REFUSED_WHY = {
    "webpush.mutable": "is a Declarative Web Push member, and FCM's web messages are shown by the Firebase "
    "service worker, which has no such option: leave it unset for FCM",
    "webpush.payload_format": "'raw' cannot be sent through FCM: FCM builds the web message from its own "
    "fields (WebpushConfig) and has no raw body",
}

_RESERVED_DATA_KEYS = frozenset({"from", "message_type", "collapse_key", "aps", "unipush"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.", "unipush.")

_NOTIFICATION_PRIORITY = {
    "min": "PRIORITY_MIN",
    "low": "PRIORITY_LOW",
    "default": "PRIORITY_DEFAULT",
    "high": "PRIORITY_HIGH",
    "max": "PRIORITY_MAX",
}
_VISIBILITY = {"private": "PRIVATE", "public": "PUBLIC", "secret": "SECRET"}


def encode(notification: Notification, target: FcmTarget, *, now: datetime) -> dict[str, Any]:
    """Build the JSON body of ``POST /v1/projects/{project}/messages:send`` for one target.

    Args:
        notification: what to send.
        target: the recipient: a token, a topic or a condition.
        now: the current time (aware). Used only to turn the TTL into the absolute ``apns-expiration``.

    Returns:
        ``{"message": {...}}``, with ``"validate_only": True`` when ``fcm.validate_only`` is set.

    Raises:
        ValidationError: a reserved data key, a collapse key too long for APNs, or a naive ``now``.
        PayloadTooLargeError: the payload is over FCM's limit (see the module docstring for the rule).
    """
    return render(message_parts(notification, target, now=now), target)[0]


@dataclass(frozen=True, slots=True)
class MessageParts:
    """The FCM message of one notification without its recipient, rendered once for every target.

    Everything in a message but ``token``/``topic``/``condition`` depends only on the notification, on
    whether the recipient is one device (the size limit, Live Activities) and on ``now`` to the second
    (``apns-expiration``), so a batch to many devices renders it once and ``render`` adds the recipient.
    ``rest`` is shared by the payloads made from it: treat a ``PreparedRequest.payload`` as read-only.
    """

    rest: dict[str, Any]
    """The message's members after the recipient, in order."""
    tail: bytes
    """The JSON that follows the recipient member in the body, through the final ``}``."""
    validate_only: bool
    """Whether the body carries ``"validate_only": true``."""


def message_parts(notification: Notification, target: FcmTarget, *, now: datetime) -> MessageParts:
    """Everything of the message for ``target`` but the recipient; see ``MessageParts`` and ``encode``.

    Raises:
        ValidationError, PayloadTooLargeError: as ``encode``.
    """
    if now.utcoffset() is None:
        raise ValidationError("now", "must be a timezone-aware datetime")
    opts = notification.fcm or _NO_OPTIONS
    _check_data_keys(notification.data)
    visible = notification.has_alert or bool(opts.title_loc_key or opts.body_loc_key)
    ttl = notification.ttl_at(now)  # never past expires_at (docs/policies.md)
    ttl = DEFAULT_TTL_SECONDS if ttl is None else ttl

    message: dict[str, Any] = {}
    if visible:
        shown = _drop_none(title=notification.title, body=notification.body, image=notification.image)
        if shown:
            message["notification"] = shown
    data = _data(notification)
    if data:
        message["data"] = data
    if opts.analytics_label is not None:
        message["fcm_options"] = {"analytics_label": opts.analytics_label}
    # Each platform block always carries at least the TTL, so all three are always present.
    message["android"] = _android(notification, opts, visible, ttl)
    message["apns"] = _apns(notification, target, opts, visible, bool(data), now)
    message["webpush"] = _webpush(notification, visible, now)

    for block in ("android", "apns", "webpush"):
        raw = getattr(opts, block)
        if raw:
            message[block] = _merge(message.get(block, {}), raw)
    if opts.message:
        # FcmOptions refuses a raw message that sets the recipient, so the recipient stays first.
        message = _merge(message, opts.message)

    _check_size(message, target)
    # The body is json.dumps({"message": {recipient, **rest}, ...}) with compact separators, written as
    # the recipient member followed by this tail: the same bytes, serialised once per notification.
    rest_json = json.dumps(message, separators=(",", ":"), ensure_ascii=False)[1:] if message else "}"
    tail = ("," + rest_json if message else rest_json) + (',"validate_only":true}' if opts.validate_only else "}")
    return MessageParts(rest=message, tail=tail.encode("utf-8"), validate_only=bool(opts.validate_only))


def render(parts: MessageParts, target: FcmTarget) -> tuple[dict[str, Any], bytes]:
    """The payload (``{"message": {...}}``) and the exact body bytes for ``target``, from ``parts``."""
    name, value = _recipient(target)
    message = {name: value}
    message.update(parts.rest)
    payload: dict[str, Any] = {"message": message}
    if parts.validate_only:
        payload["validate_only"] = True
    member = f'{{"message":{{"{name}":{json.dumps(value, ensure_ascii=False)}'
    return payload, member.encode("utf-8") + parts.tail


def option_paths() -> tuple[tuple[str, str], ...]:
    """Where each iOS and web option lands in an FCM message: ``(option, path in message)``.

    Made from the tables the encoders read (``APS_OPTION_KEYS``, ``ALERT_OPTION_KEYS``,
    ``LIVE_ACTIVITY_KEYS``, ``NOTIFICATION_OPTION_MEMBERS``, ``WEBPUSH_HEADER_NAMES``), so the table in
    ``docs/mapping.md`` that ``tests/test_mapping_doc.py`` checks against it is the code's own.
    """
    carried = ", ".join(p.value for p in FCM_APNS_PUSH_TYPES)
    rows: list[tuple[str, str]] = [
        ("apns.push_type", f"`apns.headers.apns-push-type` ({carried}; any other push type: error)"),
        ("apns.priority", "`apns.headers.apns-priority` (always 5 on an FCM data message)"),
    ]
    rows += [(f"apns.{name}", f"`apns.payload.aps.{key}`") for name, key in APS_OPTION_KEYS]
    rows.append(("apns.critical_sound", '`apns.payload.aps.sound` = `{"critical": 1, "name": …, "volume": …}`'))
    rows += [(f"apns.{name}", f"`apns.payload.aps.alert.{key}`") for name, key in ALERT_OPTION_KEYS]
    rows.append(("apns.mutable_content", "`apns.payload.aps.mutable-content: 1`"))
    rows += [(f"apns.{name}", f"`apns.payload.aps.{key}`") for name, key in LIVE_ACTIVITY_KEYS]
    rows.append(("apns.extra", "`apns.payload.<key>` (beside `aps`)"))
    rows.append(("fcm.live_activity_token", "`apns.live_activity_token` (Live Activity pushes to an `FcmDevice`)"))
    rows.append(("webpush.urgency", f"`webpush.headers.{WEBPUSH_HEADER_NAMES['urgency']}`"))
    rows.append(("webpush.topic", f"`webpush.headers.{WEBPUSH_HEADER_NAMES['topic']}`"))
    rows.append(("webpush.extra_headers", "`webpush.headers.<name>` (lower-case)"))
    rows += [
        (name, f"`webpush.notification.{member}` (notification messages)")
        for name, member, _ in NOTIFICATION_OPTION_MEMBERS
        if name.startswith("webpush.")
    ]
    rows += [(name, "error: " + _WEBPUSH_REFUSED_WHY[name]) for name, _ in _WEBPUSH_REFUSED]
    return tuple(rows)


def payload_size(message: Mapping[str, Any]) -> int:
    """The bytes FCM counts against its limit: keys and values of ``data`` and ``notification``."""
    size = 0
    for block in ("data", "notification"):
        section = message.get(block)
        if isinstance(section, Mapping):
            for key, value in section.items():
                size += len(str(key).encode()) + len(_text(value).encode())
    return size


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _recipient(target: FcmTarget) -> tuple[str, str]:
    if isinstance(target, FcmDevice):
        return "token", target.token
    if isinstance(target, FcmTopic):
        return "topic", target.name
    if isinstance(target, FcmCondition):
        return "condition", target.expr
    raise ValidationError("target", f"FCM cannot send to {type(target).__name__}")


def _check_data_keys(data: Mapping[str, str]) -> None:
    for key in data:
        if key in _RESERVED_DATA_KEYS or key.startswith(_RESERVED_DATA_PREFIXES):
            if key == "collapse_key":
                why = "FCM overwrites it with its own value; use Notification.collapse_key"
            elif key == "aps" or key == "unipush" or key.startswith("unipush."):
                why = "it is reserved for unipush"
            else:
                why = "FCM reserves it (from, message_type, google.*, gcm.*)"
            raise ValidationError("data", f"key {key!r} is not allowed: {why}")


def _data(notification: Notification) -> dict[str, str]:
    data = dict(notification.data)
    if notification.deep_link is not None:
        data["unipush.deep_link"] = notification.deep_link
    if notification.image is not None:
        data["unipush.image"] = notification.image
    if notification.actions:
        actions = [_drop_none(id=a.id, title=a.title, icon=a.icon, deep_link=a.deep_link) for a in notification.actions]
        data["unipush.actions"] = json.dumps(actions, separators=(",", ":"), ensure_ascii=False)
    return data


def _android(notification: Notification, opts: FcmOptions, visible: bool, ttl: int) -> dict[str, Any]:
    android: dict[str, Any] = {}
    if notification.collapse_key is not None:
        android["collapse_key"] = notification.collapse_key
    if notification.priority is not None:
        android["priority"] = "HIGH" if notification.priority == "high" else "NORMAL"
    # AndroidConfig.ttl is a google.protobuf.Duration, written in JSON as seconds with an "s" suffix.
    android["ttl"] = f"{ttl}s"
    if opts.restricted_package_name is not None:
        android["restricted_package_name"] = opts.restricted_package_name
    if opts.direct_boot_ok is not None:
        android["direct_boot_ok"] = opts.direct_boot_ok
    if visible:
        shown = _android_notification(notification, opts)
        if shown:
            android["notification"] = shown
    return android


def _android_notification(notification: Notification, opts: FcmOptions) -> dict[str, Any]:
    shown = _drop_none(
        channel_id=opts.channel_id,
        icon=opts.icon,
        color=opts.color,
        # AndroidNotification.tag: a newer notification with the same tag replaces the shown one,
        # which is what collapse_key promises.
        tag=opts.tag if opts.tag is not None else notification.collapse_key,
        click_action=opts.click_action,
        sound=notification.sound or None,
        default_sound=opts.default_sound,
        notification_priority=_NOTIFICATION_PRIORITY.get(opts.notification_priority or ""),
        visibility=_VISIBILITY.get(opts.visibility or ""),
        notification_count=opts.notification_count,
        sticky=opts.sticky,
        local_only=opts.local_only,
        ticker=opts.ticker,
        event_time=_timestamp(opts.event_time) if opts.event_time is not None else None,
        title_loc_key=opts.title_loc_key,
        body_loc_key=opts.body_loc_key,
    )
    if opts.vibrate_timings is not None:
        shown["vibrate_timings"] = [_duration(t) for t in opts.vibrate_timings]
    if opts.title_loc_args:
        shown["title_loc_args"] = list(opts.title_loc_args)
    if opts.body_loc_args:
        shown["body_loc_args"] = list(opts.body_loc_args)
    return shown


def _apns(
    notification: Notification, target: FcmTarget, opts: FcmOptions, visible: bool, carried_data: bool, now: datetime
) -> dict[str, Any]:
    # The APNs part is built by the builder the APNs encoder uses too, so Apple's rules (push type, priority,
    # critical sound, localisation, Live Activity keys) are the same code whichever way the push goes.
    parts = apns_build(notification, now=now, shown=visible, carried_data=carried_data)
    push_type = parts.push_type
    if push_type not in FCM_APNS_PUSH_TYPES:
        # FCM sets apns-topic to the app's bundle ID and reaches the app's APNs device token only: a push
        # type that needs another token (PushKit, widgets) or a topic suffix cannot go through it.
        raise ValidationError(
            "apns.push_type",
            f"{push_type.value!r} cannot be sent through FCM, which carries alert, background and liveactivity "
            f"pushes only (a {push_type.value} push needs apns-topic <bundle>{TOPIC_SUFFIXES[push_type]} and its own "
            "token): send it with APNs directly",
        )
    live = push_type is ApnsPushType.LIVEACTIVITY
    headers = parts.headers
    if live:
        # FCM, "Get started with Live Activity": a Live Activity push goes to the app's FCM registration
        # token with the activity's push token (or push-to-start token) in apns.live_activity_token.
        if not isinstance(target, FcmDevice):
            raise ValidationError(
                "apns.event",
                f"a Live Activity push goes through FCM to one device (FcmDevice), not {type(target).__name__}",
            )
        if opts.live_activity_token is None:
            raise ValidationError(
                "fcm.live_activity_token", "is required to send a Live Activity push (apns.event) through FCM"
            )
    elif opts.live_activity_token is not None:
        raise ValidationError("fcm.live_activity_token", "is only used with a Live Activity push (apns.event)")
    if not visible and not live:
        # FCM, "Set the priority of a message": data messages to Apple devices must use priority 5, and
        # FCM rejects high priority with INVALID_ARGUMENT. Apple also requires 5 for background pushes.
        explicit = (notification.apns.priority if notification.apns else None) or 5
        if explicit != 5:
            raise ValidationError(
                "apns.priority", f"must be 5 for an FCM data message to Apple devices, got {explicit}"
            )
        headers["apns-priority"] = "5"

    payload = parts.payload
    aps = payload["aps"]
    alert = aps.get("alert")
    if visible and not live and alert is not None and set(alert) <= {"title", "body"}:
        # FCM copies message.notification's title and body into aps.alert itself. An alert dictionary is
        # sent only when it carries more (subtitle, localisation keys), and then whole, so what iOS shows
        # does not depend on how FCM merges the two.
        del aps["alert"]
    if not aps:
        del payload["aps"]
    apns: dict[str, Any] = {"headers": headers}
    if live:
        apns["live_activity_token"] = opts.live_activity_token
    if visible and notification.image is not None:
        # iOS shows an image only through a Notification Service Extension, which runs only for
        # mutable-content pushes; FCM's iOS SDK extension helper reads apns.fcm_options.image.
        apns["fcm_options"] = {"image": notification.image}
    if payload:
        # "unipush" is the same object as a direct APNs push, so the iOS app has one place to read.
        apns["payload"] = payload
    return apns


def _webpush(notification: Notification, visible: bool, now: datetime) -> dict[str, Any]:
    options = notification.webpush
    if options is not None:
        for name, refused in _WEBPUSH_REFUSED:
            if refused(options):
                raise ValidationError(name, _WEBPUSH_REFUSED_WHY[name])
    # The Web Push encoder's headers: TTL (always; RFC 8030 section 5.2), Urgency, Topic and the extra
    # headers, minus the encryption headers, which FCM sets for its own body.
    headers: dict[str, str] = {}
    for name, value in encode_headers(notification, now=now).items():
        if name not in _FCM_OWNS_WEBPUSH_HEADERS:
            headers[WEBPUSH_HEADER_NAMES.get(name, name)] = value
    webpush: dict[str, Any] = {"headers": headers}
    if visible:
        # The Notifications API options, from the same table as Declarative Web Push; the image is in
        # message.notification, which FCM applies to the web too.
        shown = notification_options(notification, skip=_SENT_IN_MESSAGE_NOTIFICATION)
        if notification.actions:
            shown["actions"] = [_drop_none(action=a.id, title=a.title, icon=a.icon) for a in notification.actions]
        if shown:
            webpush["notification"] = shown
        # WebpushFcmOptions.link: "For all URL values, HTTPS is required."
        if notification.deep_link is not None and notification.deep_link.lower().startswith("https://"):
            webpush["fcm_options"] = {"link": notification.deep_link}
    elif options is not None:
        for name, member, value_of in NOTIFICATION_OPTION_MEMBERS:
            if name.startswith("webpush.") and value_of(notification, options) is not None:
                raise ValidationError(
                    name,
                    f"has no web notification to go in (webpush.notification.{member}): this FCM message is a "
                    "data message (no title or body)",
                )
    return webpush


def _check_size(message: Mapping[str, Any], target: FcmTarget) -> None:
    limit = MAX_PAYLOAD_BYTES if isinstance(target, FcmDevice) else MAX_TOPIC_PAYLOAD_BYTES
    size = payload_size(message)
    if size > limit:
        raise PayloadTooLargeError("payload", size, limit, "fcm")


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``: mappings merge, ``None`` deletes, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = plain_json(value)
    return merged


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _timestamp(moment: datetime) -> str:
    """An RFC 3339 UTC timestamp as protobuf writes one: "Z", and 0, 3 or 6 fractional digits."""
    utc = moment.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond % 1000:
        text += f".{utc.microsecond:06d}"
    elif utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def _duration(value: float | timedelta) -> str:
    """A protobuf Duration in JSON form: seconds with up to 9 decimals and an ``s`` suffix."""
    if isinstance(value, timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        seconds, fraction = divmod(micros, 1_000_000)
        return f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") + "s"
    return f"{value:.9f}".rstrip("0").rstrip(".") + "s"
