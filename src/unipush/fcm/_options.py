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
# RFC 9110 §5.1: a field name is a token.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# google.protobuf.Duration: at most 315,576,000,000 seconds (10,000 years).
_MAX_DURATION_SECONDS = 315_576_000_000


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

    iOS Live Activities: ``live_activity_token`` is the activity's push token (or the app's push-to-start
    token) for a notification with ``apns.event`` sent to an ``FcmDevice``; it becomes
    ``message.apns.live_activity_token`` (FCM, "Get started with Live Activity").

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
    live_activity_token: str | None = None
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
            "live_activity_token",
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
        # Sent as an RFC 3339 UTC time, so it must be aware and convertible to UTC.
        v.aware_datetime("fcm.event_time", self.event_time)
        if self.vibrate_timings is not None:
            set_(self, "vibrate_timings", _check_timings("fcm.vibrate_timings", self.vibrate_timings))
        set_(self, "title_loc_args", v.str_tuple("fcm.title_loc_args", self.title_loc_args))
        set_(self, "body_loc_args", v.str_tuple("fcm.body_loc_args", self.body_loc_args))
        _check_pattern(
            "fcm.analytics_label", self.analytics_label, _ANALYTICS_LABEL, "1-50 characters from [a-zA-Z0-9-_.~%]"
        )
        for name in ("android", "apns", "webpush", "message"):
            raw = getattr(self, name)
            if raw is not None:
                set_(self, name, _frozen_json(f"fcm.{name}", raw))
        for name, raw in (("apns", self.apns), ("webpush", self.webpush)):
            if raw is not None:
                _check_raw_headers(f"fcm.{name}", raw)
        for name in ("apns", "webpush"):
            inner = (self.message or {}).get(name)
            if isinstance(inner, Mapping):
                _check_raw_headers(f"fcm.message.{name}", inner)
        if self.message is not None:
            clash = sorted(_TARGET_KEYS.intersection(self.message))
            if clash:
                raise ValidationError("fcm.message", f"must not set the recipient ({', '.join(clash)}); use a target")


def _check_pattern(field: str, value: object, pattern: re.Pattern[str], rule: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationError(field, f"must be {rule}, got {value!r}")


def _check_timings(field: str, value: object) -> tuple[float | timedelta, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(field, f"must be a sequence of seconds or timedeltas, got {type(value).__name__}")
    for index, item in enumerate(value):
        if isinstance(item, timedelta):
            if not timedelta(0) <= item <= timedelta(seconds=_MAX_DURATION_SECONDS):
                raise ValidationError(
                    f"{field}[{index}]", f"must be between 0 and {_MAX_DURATION_SECONDS} seconds, got {item}"
                )
        else:
            v.optional_number(f"{field}[{index}]", item, minimum=0, maximum=_MAX_DURATION_SECONDS)
    return tuple(value)


def _check_raw_headers(field: str, raw: Mapping[str, Any]) -> None:
    """Check the ``headers`` of a raw ``apns`` / ``webpush`` block, which FCM sends on as HTTP headers.

    ``ApnsConfig.headers`` and ``WebpushConfig.headers`` are ``map<string, string>`` in the v1 reference;
    FCM forwards them to APNs or the push service, so they get the same CR/LF/NUL check as unipush's own
    headers (RFC 9110 §5.5). ``None`` deletes a header unipush set (see the deep-merge rule).
    """
    headers = raw.get("headers")
    if headers is None:
        return
    if not isinstance(headers, Mapping):
        raise ValidationError(f"{field}.headers", f"must be a mapping, got {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValidationError(f"{field}.headers", f"{name!r} is not a valid HTTP header name (RFC 9110 §5.1)")
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"{field}.headers[{name!r}]", f"must be a string, got {type(value).__name__}")
        v.check_header_value(f"{field}.headers[{name!r}]", value)


def _frozen_json(field: str, value: object) -> Mapping[str, Any]:
    # A deep copy, so later changes to the caller's dict cannot alter a frozen options block.
    checked = v.json_mapping(field, value)
    return MappingProxyType(copy.deepcopy(dict(checked)))
