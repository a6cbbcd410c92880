"""``FcmOptions``: settings that only FCM HTTP v1 understands.

Field names follow the FCM v1 reference (``projects.messages``, AndroidConfig / AndroidNotification),
in snake_case as Google's docs show them. Everything is checked when the block is built and every error
names the field as ``fcm.<name>``. What the model does not cover can still be reached through the raw
``android``, ``apns``, ``webpush`` and ``message`` mappings, which the encoder deep-merges last.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from unipush import _validate as v
from unipush._errors import ValidationError

__all__ = ["FcmOptions", "NotificationPriority", "Visibility"]

NotificationPriority = Literal["min", "low", "default", "high", "max"]
Visibility = Literal["private", "public", "secret"]

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# FCM's rule for analytics labels (FcmOptions.analytics_label in the v1 reference): 1-50 characters
# from this set.
_ANALYTICS_LABEL = re.compile(r"[a-zA-Z0-9\-_.~%]{1,50}")
# The keys of ``message`` that pick the recipient; the target object owns them.
_TARGET_KEYS = frozenset({"token", "topic", "condition", "fid"})


@dataclass(frozen=True, kw_only=True, slots=True)
class FcmOptions:
    """FCM-only settings for a ``Notification`` (``Notification(fcm=FcmOptions(...))``).

    Android notification settings (they land in ``message.android.notification`` and only apply to a
    message that shows something):

    * ``channel_id``: the Android notification channel (created by the app; FCM falls back to the
      manifest's default channel when it is missing).
    * ``icon``: a drawable resource name in the app, not a URL (``Notification.icon`` is the URL used
      for web notifications).
    * ``color``: the icon colour as ``#rrggbb``.
    * ``tag``: notifications with the same tag replace each other in the drawer. Defaults to
      ``Notification.collapse_key``.
    * ``click_action``: the intent action launched when the notification is tapped.
    * ``notification_priority``: ``"min"`` ... ``"max"`` (``PRIORITY_MIN`` ... ``PRIORITY_MAX``), how
      much attention the notification asks for. This is unrelated to delivery priority
      (``Notification.priority``).
    * ``visibility``: lock-screen visibility: ``"private"``, ``"public"`` or ``"secret"``.
    * ``notification_count``: how many items this notification stands for (launcher badges).
      ``Notification.badge`` is not copied here because an APNs badge is an absolute count and this is not.
    * ``sticky``, ``local_only``, ``ticker``, ``event_time`` (an aware ``datetime``), ``vibrate_timings``
      (seconds or ``timedelta``s, alternating off/on), ``default_sound``.
    * ``title_loc_key`` / ``title_loc_args`` / ``body_loc_key`` / ``body_loc_args``: string resources
      localised on the device. A notification with a loc key counts as visible even without a title.

    Android delivery settings (``message.android``): ``direct_boot_ok`` and ``restricted_package_name``.

    Message settings: ``analytics_label`` (``message.fcm_options.analytics_label``, 1-50 characters from
    ``[a-zA-Z0-9-_.~%]``) and ``validate_only`` (a dry run: FCM checks the message but does not deliver it).

    Raw overrides: ``android``, ``apns`` and ``webpush`` are deep-merged into those blocks, then
    ``message`` is deep-merged into the whole message. Mappings are merged key by key, any other value
    replaces what unipush rendered, and ``None`` removes the key. unipush does not check what the raw
    mappings contain beyond "is JSON", except that ``message`` may not set the recipient (``token``,
    ``topic``, ``condition``, ``fid``). The target decides the recipient.
    """

    channel_id: str | None = None
    icon: str | None = None
    color: str | None = None
    tag: str | None = None
    click_action: str | None = None
    notification_priority: NotificationPriority | None = None
    visibility: Visibility | None = None
    notification_count: int | None = None
    sticky: bool | None = None
    local_only: bool | None = None
    ticker: str | None = None
    event_time: datetime | None = None
    vibrate_timings: Sequence[float | timedelta] | None = None
    default_sound: bool | None = None
    title_loc_key: str | None = None
    title_loc_args: Sequence[str] = ()
    body_loc_key: str | None = None
    body_loc_args: Sequence[str] = ()
    direct_boot_ok: bool | None = None
    restricted_package_name: str | None = None
    analytics_label: str | None = None
    validate_only: bool = False
    android: Mapping[str, Any] | None = None
    apns: Mapping[str, Any] | None = None
    webpush: Mapping[str, Any] | None = None
    message: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in (
            "channel_id",
            "icon",
            "tag",
            "click_action",
            "ticker",
            "title_loc_key",
            "body_loc_key",
            "restricted_package_name",
        ):
            v.optional_str(f"fcm.{name}", getattr(self, name))
        _check_pattern("fcm.color", self.color, _COLOR, "a colour in #rrggbb form")
        v.one_of("fcm.notification_priority", self.notification_priority, ("min", "low", "default", "high", "max"))
        v.one_of("fcm.visibility", self.visibility, ("private", "public", "secret"))
        # notification_count is an int32 in the v1 schema.
        v.optional_int("fcm.notification_count", self.notification_count, minimum=0, maximum=2**31 - 1)
        for name in ("sticky", "local_only", "default_sound", "direct_boot_ok"):
            v.optional_bool(f"fcm.{name}", getattr(self, name))
        if not isinstance(self.validate_only, bool):
            raise ValidationError("fcm.validate_only", f"must be a bool, got {type(self.validate_only).__name__}")
        if self.event_time is not None:
            if not isinstance(self.event_time, datetime):
                raise ValidationError("fcm.event_time", f"must be a datetime, got {type(self.event_time).__name__}")
            if self.event_time.utcoffset() is None:
                raise ValidationError("fcm.event_time", "must be timezone-aware (it is sent as an RFC 3339 UTC time)")
        if self.vibrate_timings is not None:
            set_(self, "vibrate_timings", _check_timings("fcm.vibrate_timings", self.vibrate_timings))
        set_(self, "title_loc_args", _str_tuple("fcm.title_loc_args", self.title_loc_args))
        set_(self, "body_loc_args", _str_tuple("fcm.body_loc_args", self.body_loc_args))
        _check_pattern(
            "fcm.analytics_label", self.analytics_label, _ANALYTICS_LABEL, "1-50 characters from [a-zA-Z0-9-_.~%]"
        )
        for name in ("android", "apns", "webpush", "message"):
            raw = getattr(self, name)
            if raw is not None:
                set_(self, name, _frozen_json(f"fcm.{name}", raw))
        if self.message is not None:
            clash = sorted(_TARGET_KEYS.intersection(self.message))
            if clash:
                raise ValidationError("fcm.message", f"must not set the recipient ({', '.join(clash)}); use a target")


def _check_pattern(field: str, value: object, pattern: re.Pattern[str], rule: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationError(field, f"must be {rule}, got {value!r}")


def _str_tuple(field: str, value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(field, f"must be a sequence of strings, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(f"{field}[{index}]", f"must be a string, got {type(item).__name__}")
    return tuple(value)


def _check_timings(field: str, value: object) -> tuple[float | timedelta, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(field, f"must be a sequence of seconds or timedeltas, got {type(value).__name__}")
    for index, item in enumerate(value):
        if isinstance(item, timedelta):
            if item < timedelta(0):
                raise ValidationError(f"{field}[{index}]", f"must not be negative, got {item}")
        else:
            v.optional_number(f"{field}[{index}]", item, minimum=0)
    return tuple(value)


def _frozen_json(field: str, value: object) -> Mapping[str, Any]:
    # A deep copy, so later changes to the caller's dict cannot alter a frozen options block.
    checked = v.json_mapping(field, value)
    return MappingProxyType(copy.deepcopy(dict(checked)))
