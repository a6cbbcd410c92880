"""The payload an Apple app receives, whichever service carries it: APNs directly, or FCM's ``message.apns``.

Pure: the clock comes in as ``now``, nothing is read or written. The direct APNs encoder
(``unipush.apns._encode``) and the FCM encoder (``unipush.fcm._encode``) both call ``build``, so a
notification means the same thing on an iPhone whichever way it travels, and Apple's rules (push type,
priority, critical sound, localisation, Live Activity keys) exist once.

Where each field goes (Apple: "Generating a remote notification", "Sending notification requests to APNs"):

==========================  ====================================================================
``title`` ``subtitle``      ``aps.alert.title`` / ``aps.alert.subtitle`` / ``aps.alert.body``
``body``                    (the alert is always the dictionary form)
``badge`` ``sound``         ``aps.badge`` / ``aps.sound`` (a critical-sound dict with
                            ``apns.critical_sound``)
``thread_id`` ``category``  ``aps.thread-id`` / ``aps.category`` (the app registers the category's
                            actions; ``Action.id`` is the action identifier it reports back)
``content_available``       ``aps.content-available: 1``
``image``                   ``unipush.image`` plus ``aps.mutable-content: 1`` on alert pushes
``deep_link``               ``unipush.deep_link``
``actions``                 ``unipush.actions``: ``{action id: deep link}`` for actions with a link
``data``                    top-level custom keys beside ``aps``
``collapse_key``            ``apns-collapse-id`` header (at most 64 bytes of UTF-8)
``ttl``                     ``apns-expiration`` = now + ttl (28 days when unset; ``0`` for ttl 0)
``priority``                ``apns-priority``: high 10, normal 5, unset: no header (Apple's default
                            is 10) except background pushes, which are always 5
``icon``                    not used: iOS shows the app icon
==========================  ====================================================================

**Images need app code.** APNs does not download images. When ``image`` is set the payload carries
``mutable-content: 1`` and the URL under the custom key ``unipush`` → ``image``; the app's Notification
Service Extension reads ``request.content.userInfo["unipush"]["image"]``, downloads the file and attaches
it as a ``UNNotificationAttachment``. Deep links and per-action links are read the same way from
``userInfo["unipush"]["deep_link"]`` and ``userInfo["unipush"]["actions"][actionIdentifier]``.

**Push type.** ``apns.push_type`` wins; otherwise ``liveactivity`` when ``apns.event`` is set, ``alert``
when there is anything to show (alert text, localised keys, badge or sound), and ``background`` for a
silent push (``content_available`` or data only). A background push always carries
``content-available: 1`` and priority 5, because APNs refuses priority 10 for it (``BadPriority``) and
iOS does not wake the app for a background push without ``content-available``. The push type must match
the payload, so an explicit ``alert`` with nothing to show is refused.

**Live Activities and push-to-talk.** A ``start`` needs an alert; a Live Activity's sound is sent as
``aps.alert.sound`` (ActivityKit push documentation). Push-to-talk pushes go with ``apns-priority: 10``
and ``apns-expiration: 0`` (Apple, "Creating a Push to Talk app").

**One builder.** ``build`` applies all of this and returns an ``ApnsParts``; ``render`` adds the
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from unipush._errors import ValidationError
from unipush._model import Notification
from unipush._validate import DEFAULT_TTL_SECONDS, aware_datetime, plain_json
from unipush.apns._options import ApnsOptions, ApnsPushType

__all__ = [
    "ALERT_OPTION_KEYS",
    "APS_OPTION_KEYS",
    "LIVE_ACTIVITY_KEYS",
    "MAX_COLLAPSE_ID_BYTES",
    "TOPIC_SUFFIXES",
    "ApnsParts",
    "build",
    "infer_push_type",
    "priority",
    "unipush_key",
]

MAX_COLLAPSE_ID_BYTES = 64
"""``apns-collapse-id`` may not exceed 64 bytes (longer ones get ``400 BadCollapseId``)."""

TOPIC_SUFFIXES: Mapping[ApnsPushType, str] = {
    ApnsPushType.ALERT: "",
    ApnsPushType.BACKGROUND: "",
    ApnsPushType.LOCATION: ".location-query",
    ApnsPushType.VOIP: ".voip",
    ApnsPushType.COMPLICATION: ".complication",
    ApnsPushType.FILEPROVIDER: ".pushkit.fileprovider",
    # MDM pushes use the UID from the MDM certificate's subject as the topic: configure it as is.
    ApnsPushType.MDM: "",
    ApnsPushType.LIVEACTIVITY: ".push-type.liveactivity",
    ApnsPushType.PUSHTOTALK: ".voip-ptt",
    ApnsPushType.WIDGETS: ".push-type.widgets",
    ApnsPushType.CONTROLS: ".push-type.controls",
}
"""What each push type appends to the bundle ID to form ``apns-topic``."""
_RESERVED_KEYS = ("aps", "unipush")
_EMPTY_OPTIONS = ApnsOptions()

APS_OPTION_KEYS: tuple[tuple[str, str], ...] = (
    ("target_content_id", "target-content-id"),
    ("interruption_level", "interruption-level"),
    ("relevance_score", "relevance-score"),
    ("filter_criteria", "filter-criteria"),
)
"""``ApnsOptions`` fields copied as they are into ``aps`` (option name, ``aps`` key). The FCM encoder and
``docs/mapping.md`` read the same table."""

ALERT_OPTION_KEYS: tuple[tuple[str, str], ...] = (
    ("launch_image", "launch-image"),
    ("title_loc_key", "title-loc-key"),
    ("title_loc_args", "title-loc-args"),
    ("subtitle_loc_key", "subtitle-loc-key"),
    ("subtitle_loc_args", "subtitle-loc-args"),
    ("loc_key", "loc-key"),
    ("loc_args", "loc-args"),
)
"""``ApnsOptions`` fields that go into ``aps.alert`` (option name, alert key), after title, subtitle, body."""

LIVE_ACTIVITY_KEYS: tuple[tuple[str, str], ...] = (
    ("timestamp", "timestamp"),
    ("event", "event"),
    ("content_state", "content-state"),
    ("stale_date", "stale-date"),
    ("dismissal_date", "dismissal-date"),
    ("attributes_type", "attributes-type"),
    ("attributes", "attributes"),
    ("input_push_token", "input-push-token"),
    ("input_push_channel", "input-push-channel"),
)
"""``ApnsOptions`` Live Activity fields and their ``aps`` keys (ActivityKit push documentation)."""


@dataclass(frozen=True, slots=True)
class ApnsParts:
    """What every carrier of an APNs push shares: the push type, the payload and the headers.

    ``headers`` has ``apns-push-type``, ``apns-expiration`` and, when they apply, ``apns-priority`` and
    ``apns-collapse-id``; the direct encoder adds ``apns-topic``, ``apns-id`` and ``content-type``, and
    the FCM encoder puts these in ``message.apns.headers`` (FCM sets the topic itself).
    """

    push_type: ApnsPushType
    payload: dict[str, Any]
    headers: dict[str, str]


def infer_push_type(notification: Notification, *, shown: bool = False, carried_data: bool = False) -> ApnsPushType:
    """The ``apns-push-type`` for ``notification`` (see the module docstring for the rules).

    ``shown`` and ``carried_data`` are for a carrier that adds to the APNs push (FCM): it shows an alert
    of its own (``message.notification``), or it delivers data beside ``aps`` (``message.data``).
    """
    options = notification.apns or _EMPTY_OPTIONS
    if options.push_type is not None:
        return ApnsPushType(options.push_type)
    if options.event is not None:
        return ApnsPushType.LIVEACTIVITY
    if shown or _is_visible(notification, options):
        return ApnsPushType.ALERT
    if notification.content_available or notification.data or options.extra or carried_data:
        return ApnsPushType.BACKGROUND
    raise ValidationError(
        "notification",
        "has nothing to send to APNs: set a title, body, badge or sound, content_available=True, or data",
    )


def build(notification: Notification, *, now: datetime, shown: bool = False, carried_data: bool = False) -> ApnsParts:
    """The push type, payload and headers of ``notification``: the one place Apple's rules are applied.

    The direct APNs encoder and the FCM encoder (``message.apns``) both call this, so a notification
    means the same thing on an iPhone whichever way it travels.

    Args:
        notification: what to send.
        now: the send time (aware), the base of ``apns-expiration`` and the Live Activity ``timestamp``.
        shown: the carrier shows an alert itself (FCM's ``message.notification``, which FCM copies into
            ``aps.alert``), so the push is an alert push even if the payload has nothing to show.
        carried_data: the carrier delivers data beside ``aps`` itself (FCM copies ``message.data`` to the
            top level of the APNs payload), so ``data`` is left out of the payload and the push is not
            empty even without ``Notification.data``.
    """
    aware_datetime("now", now)
    options = notification.apns or _EMPTY_OPTIONS
    push_type = infer_push_type(notification, shown=shown, carried_data=carried_data)
    aps = _aps(notification, options, push_type, now, shown=shown)
    payload: dict[str, Any] = {"aps": aps}
    if not carried_data:
        for key, value in notification.data.items():
            if key in _RESERVED_KEYS or key.startswith("unipush."):
                raise ValidationError("data", f"cannot use the reserved key {key!r}")
            payload[key] = value
    for key, value in (options.extra or {}).items():
        if key in notification.data:
            raise ValidationError("apns.extra", f"key {key!r} is also in data")
        payload[key] = plain_json(value)
    ours = unipush_key(notification)
    if ours:
        payload["unipush"] = ours
    return ApnsParts(push_type, payload, _headers(notification, options, push_type, now))


def _is_visible(notification: Notification, options: ApnsOptions) -> bool:
    return (
        notification.has_alert
        or notification.badge is not None
        or notification.sound is not None
        or options.title_loc_key is not None
        or options.subtitle_loc_key is not None
        or options.loc_key is not None
        or options.critical_sound is not None
    )


def _headers(
    notification: Notification, options: ApnsOptions, push_type: ApnsPushType, now: datetime
) -> dict[str, str]:
    ttl = notification.ttl_at(now)  # never past expires_at (docs/policies.md)
    if push_type is ApnsPushType.PUSHTOTALK:
        # Apple, "Creating a Push to Talk app" (receiving audio): a push-to-talk push is delivered at
        # once or never, so apns-expiration is 0 and apns-priority 10.
        if notification.ttl_seconds not in (None, 0):
            raise ValidationError(
                "ttl",
                f"must be 0 (or unset) for a push-to-talk push (apns-expiration 0), got {notification.ttl_seconds}",
            )
        ttl = 0
    elif ttl is None:
        ttl = DEFAULT_TTL_SECONDS
    headers = {
        "apns-push-type": push_type.value,
        # A nonzero expiration makes APNs store and retry until then; "0" means deliver once or drop.
        "apns-expiration": "0" if ttl == 0 else str(int(now.timestamp()) + ttl),
    }
    value = priority(notification, options, push_type)
    if value is not None:
        headers["apns-priority"] = str(value)
    if notification.collapse_key is not None:
        size = len(notification.collapse_key.encode("utf-8"))
        if size > MAX_COLLAPSE_ID_BYTES:
            raise ValidationError(
                "collapse_key",
                f"must be at most {MAX_COLLAPSE_ID_BYTES} bytes of UTF-8 for APNs (apns-collapse-id), got {size}",
            )
        headers["apns-collapse-id"] = notification.collapse_key
    return headers


def priority(notification: Notification, options: ApnsOptions, push_type: ApnsPushType) -> int | None:
    """The ``apns-priority`` for ``push_type``, or ``None`` for no header (APNs's default, 10).

    Raises ``ValidationError`` for a priority Apple refuses for that push type.
    """
    background = push_type is ApnsPushType.BACKGROUND
    if push_type is ApnsPushType.PUSHTOTALK:
        # Apple, "Creating a Push to Talk app": push-to-talk pushes use apns-priority 10.
        if options.priority not in (None, 10):
            raise ValidationError("apns.priority", f"must be 10 for a push-to-talk push, got {options.priority}")
        if notification.priority == "normal":
            raise ValidationError("priority", "must be 'high' (or unset) for a push-to-talk push (apns-priority 10)")
        return 10
    if options.priority is not None:
        if background and options.priority != 5:
            # Apple, "Sending notification requests to APNs": background notifications must use 5.
            raise ValidationError(
                "apns.priority", f"must be 5 for a background push (APNs answers BadPriority), got {options.priority}"
            )
        # A Live Activity's 5-or-10 rule is checked by ApnsOptions, which sees event and priority together.
        return options.priority
    if background:
        # Apple: background pushes must use priority 5, even when the notification asks for "high".
        return 5
    if notification.priority == "high":
        return 10
    if notification.priority == "normal":
        return 5
    return None  # no header: APNs applies its default (10)


def unipush_key(notification: Notification) -> dict[str, Any]:
    """The value of the ``"unipush"`` custom key an iOS app reads (image, deep link, action links).

    The FCM encoder puts the same object in ``apns.payload``, so an app reads one place whether the
    push came from APNs directly or through FCM.
    """
    ours: dict[str, Any] = {}
    if notification.image is not None:
        ours["image"] = notification.image
    if notification.deep_link is not None:
        ours["deep_link"] = notification.deep_link
    links = {action.id: action.deep_link for action in notification.actions if action.deep_link is not None}
    if links:
        ours["actions"] = links
    return ours


def _aps(
    notification: Notification, options: ApnsOptions, push_type: ApnsPushType, now: datetime, *, shown: bool
) -> dict[str, Any]:
    aps: dict[str, Any] = {}
    alert = _alert(notification, options)
    sound = _sound(notification, options)
    live_activity = push_type is ApnsPushType.LIVEACTIVITY
    if push_type is ApnsPushType.BACKGROUND and (alert or notification.badge is not None or sound is not None):
        # Apple: a background notification carries no alert, sound or badge, only content-available.
        raise ValidationError("apns.push_type", "'background' pushes cannot carry an alert, badge or sound")
    if push_type is ApnsPushType.ALERT and not (shown or alert or notification.badge is not None or sound is not None):
        # Apple, "Sending notification requests to APNs": the push type must match the payload; an alert
        # push with nothing to show ({"aps": {}}) is not one.
        raise ValidationError(
            "apns.push_type",
            "'alert' needs something to show (a title, body, badge, sound or apns loc key); "
            "for a silent push use content_available=True",
        )
    if live_activity:
        if options.event == "start" and not alert:
            # ActivityKit, "Construct the payload that starts a Live Activity": the alert is required.
            raise ValidationError(
                "apns.event",
                "'start' needs an alert: set a title or body (or an apns loc key) to start a Live Activity",
            )
        if sound is not None:
            # ActivityKit push payloads play a sound only as part of the alert: aps.alert.sound.
            if not alert:
                raise ValidationError(
                    "sound", "a Live Activity plays its sound with its alert: set a title or body too"
                )
            alert["sound"] = sound
            sound = None
    if alert:
        aps["alert"] = alert
    if notification.badge is not None:
        aps["badge"] = notification.badge
    if sound is not None:
        aps["sound"] = sound
    if notification.thread_id is not None:
        aps["thread-id"] = notification.thread_id
    if notification.category is not None:
        aps["category"] = notification.category
    # Apple, "Pushing background updates to your App": a background push is delivered only with
    # content-available: 1, so every push with nothing to show carries it (also through FCM).
    if notification.content_available or push_type is ApnsPushType.BACKGROUND:
        aps["content-available"] = 1
    # The Notification Service Extension runs only for alert pushes with mutable-content: 1.
    if options.mutable_content or (notification.image is not None and push_type is ApnsPushType.ALERT):
        aps["mutable-content"] = 1
    for name, key in APS_OPTION_KEYS:
        value = getattr(options, name)
        if value is not None:
            aps[key] = value
    if options.event is not None:
        _live_activity(aps, options, now)
    if push_type in (ApnsPushType.WIDGETS, ApnsPushType.CONTROLS):
        # WidgetKit / control reload pushes are {"aps": {"content-changed": true}}.
        aps["content-changed"] = True
    return aps


def _alert(notification: Notification, options: ApnsOptions) -> dict[str, Any]:
    alert: dict[str, Any] = {}
    for key, value in (
        ("title", notification.title),
        ("subtitle", notification.subtitle),
        ("body", notification.body),
    ):
        if value is not None:
            alert[key] = value
    for name, key in ALERT_OPTION_KEYS:
        option: Any = getattr(options, name)
        if isinstance(option, tuple):
            option = list(option) or None  # the *-loc-args: sent only when there are some
        if option is not None:
            alert[key] = option
    return alert


def _sound(notification: Notification, options: ApnsOptions) -> str | dict[str, Any] | None:
    critical = options.critical_sound
    if critical is None:
        return notification.sound
    sound: dict[str, Any] = {"critical": 1, "name": notification.sound or "default"}
    if critical is not True:
        sound["volume"] = critical
    return sound


def _live_activity(aps: dict[str, Any], options: ApnsOptions, now: datetime) -> None:
    for name, key in LIVE_ACTIVITY_KEYS:
        value = getattr(options, name)
        if name == "timestamp" and value is None:
            # ActivityKit drops a push whose timestamp is older than the last applied one, so always send one.
            value = int(now.timestamp())
        if value is None or value is False:
            continue
        if value is True:
            value = 1  # input-push-token: 1
        elif isinstance(value, datetime):
            value = int(value.timestamp())  # ApnsOptions normalises dates to int seconds already
        elif isinstance(value, Mapping):
            value = plain_json(value)
        aps[key] = value
