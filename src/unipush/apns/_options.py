"""APNs option block: the settings that exist only on Apple platforms.

``ApnsOptions`` goes in ``Notification(apns=...)``. Everything is optional; the Apple payload builder
(``unipush._payload.apple``, which the APNs and FCM encoders share) infers what it can from the
provider-neutral fields and uses these to add or override. Keys follow Apple's "Generating a remote
notification" payload reference and the ActivityKit push documentation ("Starting and updating Live
Activities with ActivityKit push notifications").

All values are checked here, so an ``ApnsOptions`` that exists is one APNs can accept; errors name the
field as ``apns.<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from unipush import _validate as v
from unipush._errors import ValidationError

__all__ = [
    "ApnsOptions",
    "ApnsPushType",
    "InterruptionLevel",
    "LiveActivityEvent",
    "PushTypeName",
]


class ApnsPushType(str, Enum):
    """The values of the ``apns-push-type`` header (Apple: "Sending notification requests to APNs").

    The push type decides the ``apns-topic`` suffix and what the device does with the payload; it must
    match the payload or APNs refuses the request (``InvalidPushType``) or the device drops it.
    """

    ALERT = "alert"
    BACKGROUND = "background"
    LOCATION = "location"
    VOIP = "voip"
    COMPLICATION = "complication"
    FILEPROVIDER = "fileprovider"
    MDM = "mdm"
    LIVEACTIVITY = "liveactivity"
    PUSHTOTALK = "pushtotalk"
    WIDGETS = "widgets"
    CONTROLS = "controls"

    def __str__(self) -> str:
        return self.value


PushTypeName = Literal[
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
    "widgets",
    "controls",
]
"""The push type names accepted wherever an ``ApnsPushType`` is expected."""

InterruptionLevel = Literal["passive", "active", "time-sensitive", "critical"]
"""``aps.interruption-level`` (iOS 15+)."""

LiveActivityEvent = Literal["start", "update", "end"]
"""``aps.event`` of a Live Activity push."""

_INTERRUPTION_LEVELS: tuple[str, ...] = ("passive", "active", "time-sensitive", "critical")
_EVENTS: tuple[str, ...] = ("start", "update", "end")
_PRIORITIES = (1, 5, 10)

# Fields that mean something only inside a Live Activity push (an ``aps.event``).
_LIVE_ACTIVITY_FIELDS = (
    "content_state",
    "timestamp",
    "stale_date",
    "dismissal_date",
    "attributes_type",
    "attributes",
    "input_push_token",
    "input_push_channel",
)
# ActivityKit reads these only when the push starts an activity (iOS 17.2+ push-to-start; the
# input-push-* keys are iOS 18); an update or end that carries them is a caller mistake.
_START_ONLY_FIELDS = ("attributes_type", "attributes", "input_push_token", "input_push_channel")


@dataclass(frozen=True, kw_only=True, slots=True)
class ApnsOptions:
    """APNs-only settings for one notification.

    Alert and presentation:
        push_type: overrides the inferred ``apns-push-type`` (``ApnsPushType`` or its name). The encoder
            infers ``liveactivity`` when ``event`` is set, ``background`` for a silent push and ``alert``
            otherwise.
        interruption_level: ``passive`` | ``active`` | ``time-sensitive`` | ``critical`` (iOS 15+).
        relevance_score: 0 to 1; orders notifications in the summary. For a Live Activity (``event`` set)
            any number: it orders the app's activities against each other.
        target_content_id: the window or content to bring forward when the notification is opened.
        filter_criteria: matched against the user's Focus filters.
        critical_sound: ``True`` or a volume from 0 to 1 turns ``sound`` into a critical-alert sound
            dict (``{"critical": 1, "name": sound or "default", "volume": ...}``). Needs Apple's
            critical-alert entitlement; cannot be combined with a non-critical ``interruption_level``.
        title_loc_key, title_loc_args, subtitle_loc_key, subtitle_loc_args, loc_key, loc_args: localised
            alert strings from the app's ``Localizable.strings``; ``*_args`` need their key.
        launch_image: the launch image shown when the app is opened from the notification.
        mutable_content: send ``mutable-content: 1`` even without an image, so the app's Notification
            Service Extension runs.

    Live Activities (``event`` set; push type ``liveactivity``):
        event: ``start`` | ``update`` | ``end``.
        content_state: the JSON the app decodes as its ``ContentState`` (required for start and update).
        timestamp: when the content was produced (aware ``datetime`` or UNIX seconds); defaults to the
            send time. ActivityKit ignores a push older than the last one it applied.
        stale_date: when the system marks the content as outdated.
        dismissal_date: when an ended activity leaves the Lock Screen (``end`` only).
        attributes_type, attributes: the ``ActivityAttributes`` type name and its JSON (``start`` only,
            both required to start an activity).
        input_push_token: ask the new activity for its own update token (``start`` only, iOS 18).
        input_push_channel: subscribe the new activity to a broadcast channel id (``start`` only, iOS 18).

    Other:
        extra: custom top-level payload keys beside ``aps`` (JSON values; not ``aps`` or ``unipush``).
        priority: overrides ``apns-priority`` (1, 5 or 10). Background pushes refuse 10, Live Activities
            take 5 or 10, push-to-talk pushes 10.
    """

    push_type: ApnsPushType | PushTypeName | None = None
    interruption_level: InterruptionLevel | None = None
    relevance_score: float | None = None
    target_content_id: str | None = None
    filter_criteria: str | None = None
    critical_sound: bool | float | None = None
    title_loc_key: str | None = None
    title_loc_args: Sequence[str] = ()
    subtitle_loc_key: str | None = None
    subtitle_loc_args: Sequence[str] = ()
    loc_key: str | None = None
    loc_args: Sequence[str] = ()
    launch_image: str | None = None
    mutable_content: bool = False
    event: LiveActivityEvent | None = None
    content_state: Mapping[str, Any] | None = None
    timestamp: datetime | int | None = None
    stale_date: datetime | int | None = None
    dismissal_date: datetime | int | None = None
    attributes_type: str | None = None
    attributes: Mapping[str, Any] | None = None
    input_push_token: bool = False
    input_push_channel: str | None = None
    extra: Mapping[str, Any] | None = None
    priority: Literal[1, 5, 10] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "push_type", _push_type(self.push_type))
        v.one_of("apns.interruption_level", self.interruption_level, _INTERRUPTION_LEVELS)
        for name in (
            "target_content_id",
            "filter_criteria",
            "title_loc_key",
            "subtitle_loc_key",
            "loc_key",
            "launch_image",
            "attributes_type",
            "input_push_channel",
        ):
            v.optional_str(f"apns.{name}", getattr(self, name))
        for key_name, args_name in (
            ("title_loc_key", "title_loc_args"),
            ("subtitle_loc_key", "subtitle_loc_args"),
            ("loc_key", "loc_args"),
        ):
            args = v.str_tuple(f"apns.{args_name}", getattr(self, args_name))
            set_(self, args_name, args)
            # The *-loc-args are format arguments of the *-loc-key string; alone they mean nothing.
            if args and getattr(self, key_name) is None:
                raise ValidationError(f"apns.{args_name}", f"needs apns.{key_name}")
        set_(self, "critical_sound", _critical_sound(self.critical_sound))
        if self.critical_sound is not None and self.interruption_level not in (None, "critical"):
            raise ValidationError(
                "apns.critical_sound",
                f"is a critical alert and cannot use interruption_level {self.interruption_level!r}",
            )
        for name in ("mutable_content", "input_push_token"):
            if not isinstance(getattr(self, name), bool):
                raise ValidationError(f"apns.{name}", f"must be a bool, got {type(getattr(self, name)).__name__}")
        v.one_of("apns.event", self.event, _EVENTS)
        # Apple, "Generating a remote notification": relevance-score is 0 to 1 for a notification. For a
        # Live Activity it only ranks the app's activities against each other (which one the Dynamic
        # Island shows), and ActivityKit's push documentation allows any number (e.g. 100 and 50).
        live = self.event is not None
        set_(
            self,
            "relevance_score",
            v.optional_number(
                "apns.relevance_score", self.relevance_score, minimum=None if live else 0, maximum=None if live else 1
            ),
        )
        for name in ("content_state", "attributes", "extra"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, v.json_mapping(f"apns.{name}", value))
        for name in ("timestamp", "stale_date", "dismissal_date"):
            set_(self, name, _unix_seconds(f"apns.{name}", getattr(self, name)))
        _check_extra_keys(self.extra)
        _check_priority(self.priority)
        self._check_live_activity()

    def _check_live_activity(self) -> None:
        event = self.event
        if event is None:
            if self.push_type is ApnsPushType.LIVEACTIVITY:
                raise ValidationError("apns.event", "is required when apns.push_type is 'liveactivity'")
            for name in _LIVE_ACTIVITY_FIELDS:
                if _is_set(getattr(self, name)):
                    raise ValidationError(f"apns.{name}", "is a Live Activity field and needs apns.event")
            return
        if self.push_type not in (None, ApnsPushType.LIVEACTIVITY):
            raise ValidationError(
                "apns.push_type", f"must be 'liveactivity' (or unset) when apns.event is set, got {self.push_type}"
            )
        if event != "start":
            for name in _START_ONLY_FIELDS:
                if _is_set(getattr(self, name)):
                    raise ValidationError(f"apns.{name}", f"is only valid with apns.event='start', got {event!r}")
        else:
            # ActivityKit cannot create an activity without its attributes type, attributes and state.
            for name in ("attributes_type", "attributes", "content_state"):
                if getattr(self, name) is None:
                    raise ValidationError(f"apns.{name}", "is required to start a Live Activity (apns.event='start')")
        if self.priority is not None and self.priority not in (5, 10):
            # ActivityKit push documentation: a Live Activity push uses apns-priority 5 or 10.
            raise ValidationError("apns.priority", f"must be 5 or 10 for a Live Activity push, got {self.priority}")
        if event == "update" and self.content_state is None:
            raise ValidationError("apns.content_state", "is required to update a Live Activity")
        if event != "end" and self.dismissal_date is not None:
            raise ValidationError("apns.dismissal_date", f"is only valid with apns.event='end', got {event!r}")


def _check_priority(value: object) -> None:
    if value is not None and (isinstance(value, bool) or value not in _PRIORITIES):
        raise ValidationError("apns.priority", f"must be 1, 5 or 10, got {value!r}")


def _is_set(value: object) -> bool:
    return value is not None and value is not False


def _push_type(value: object) -> ApnsPushType | None:
    if value is None or isinstance(value, ApnsPushType):
        return value
    if isinstance(value, str):
        try:
            return ApnsPushType(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(p.value) for p in ApnsPushType)
    raise ValidationError("apns.push_type", f"must be one of {allowed}, got {value!r}")


def _critical_sound(value: object) -> bool | float | None:
    if value is None or value is False:
        return None
    if value is True:
        return True
    # A volume: Apple's critical sound dict takes 0.0 (silent) to 1.0 (full volume).
    return v.optional_number("apns.critical_sound", value, minimum=0, maximum=1)


def _unix_seconds(field: str, value: object) -> int | None:
    """Normalise an aware ``datetime`` or int UNIX seconds to int seconds (ActivityKit uses whole seconds),
    from 1970 to the end of year 9999."""
    if value is None:
        return None
    if isinstance(value, datetime):
        checked = v.aware_datetime(field, value)
        assert checked is not None
        return int(checked.timestamp())
    return v.optional_int(field, value, minimum=0, maximum=v.LATEST_UNIX_SECONDS)


def _check_extra_keys(extra: Mapping[str, Any] | None) -> None:
    for key in extra or ():
        # "aps" is Apple's; "unipush" is where unipush puts what it adds (image, deep link, actions).
        if key in ("aps", "unipush") or key.startswith("unipush.") or not key:
            raise ValidationError("apns.extra", f"cannot use the reserved key {key!r}")
