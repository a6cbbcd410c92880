"""The provider-neutral notification model: ``Notification`` and ``Action``.

A ``Notification`` is described once and rendered by each provider's encoder. Every field is checked
when the object is built, so an invalid notification cannot exist; limits that depend on the provider
(payload size, collapse-id length) are checked when it is rendered. ``docs/mapping.md`` shows where each
field lands for APNs, FCM and Web Push.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from unipush import _validate as v
from unipush._errors import ValidationError

if TYPE_CHECKING:
    # The option blocks live with their providers (apns/, fcm/, webpush/), whose packages import this
    # module: importing them here at run time would make the model depend on the providers. The
    # isinstance check in Notification.__post_init__ imports them when a block is actually given.
    from unipush.apns._options import ApnsOptions
    from unipush.fcm._options import FcmOptions
    from unipush.webpush._options import WebPushOptions

__all__ = ["Action", "Notification", "Priority"]

Priority = Literal["high", "normal"]

RESERVED_DATA_KEYS = frozenset({"aps", "unipush"})


@dataclass(frozen=True, slots=True)
class Action:
    """A button on the notification: ``Action("track", "Track")``.

    ``id`` is reported back to the app when the button is pressed (APNs: an action identifier of the
    notification's ``category``, which the app registers; Web Push: the notification action's
    ``action``). ``deep_link`` is where a click on this button leads on Web Push (APNs and Android decide
    in app code, so it is carried in the data for them). ``id`` and ``title`` may be positional, as
    the public contract shows; the model is otherwise keyword-only.
    """

    id: str
    title: str
    icon: str | None = None
    deep_link: str | None = None

    def __post_init__(self) -> None:
        v.required_str("action.id", self.id)
        v.required_str("action.title", self.title)
        v.optional_media_url("action.icon", self.icon)
        v.optional_url("action.deep_link", self.deep_link, schemes=None)


def _check_option_blocks(notification: Notification) -> None:
    """Each option block is its provider's class (imported here: see the ``TYPE_CHECKING`` block)."""
    from unipush.apns._options import ApnsOptions
    from unipush.fcm._options import FcmOptions
    from unipush.webpush._options import WebPushOptions

    kinds: tuple[tuple[str, type], ...] = (("apns", ApnsOptions), ("fcm", FcmOptions), ("webpush", WebPushOptions))
    for name, kind in kinds:
        block = getattr(notification, name)
        if block is not None and not isinstance(block, kind):
            raise ValidationError(name, f"must be a {kind.__name__}, got {type(block).__name__}")


def _empty_data() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True, slots=True)
class Notification:
    """One notification, described once for every provider.

    All fields are optional; a notification must carry something to show (``title``, ``body``) or be a
    silent push (``content_available=True`` and/or ``data``). ``ttl`` accepts int seconds or a
    ``timedelta`` and is stored as int seconds. ``expires_at`` (an aware datetime) is when the
    notification stops being worth showing: a client does not send it after then, and the TTL it
    sends never reaches past it (``ttl_at``; docs/policies.md). ``data`` is string to string, as FCM requires.
    Provider-specific settings go in ``apns=``, ``fcm=`` and ``webpush=`` option blocks.
    """

    title: str | None = None
    subtitle: str | None = None
    body: str | None = None
    image: str | None = None
    icon: str | None = None
    deep_link: str | None = None
    actions: Sequence[Action] = ()
    category: str | None = None
    thread_id: str | None = None
    badge: int | None = None
    sound: str | None = None
    collapse_key: str | None = None
    ttl: int | timedelta | None = None
    expires_at: datetime | None = None
    priority: Priority | None = None
    data: Mapping[str, str] = field(default_factory=_empty_data)
    content_available: bool = False
    apns: ApnsOptions | None = None
    fcm: FcmOptions | None = None
    webpush: WebPushOptions | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        # Empty strings are refused rather than sent: APNs counts "" as no alert while FCM and browsers
        # would show an empty line, so the same notification would behave differently per platform.
        for name in ("title", "subtitle", "body", "sound", "category", "thread_id"):
            v.optional_str(name, getattr(self, name))
        # The collapse key is sent as a header (apns-collapse-id, and by FCM to APNs), so CR, LF, NUL
        # or surrounding spaces could split or alter the request (RFC 9110 §5.5, RFC 9113 §8.2.1).
        v.optional_header("collapse_key", self.collapse_key)
        v.optional_media_url("image", self.image)
        v.optional_media_url("icon", self.icon)
        v.optional_url("deep_link", self.deep_link, schemes=None)
        v.optional_int("badge", self.badge, minimum=0, maximum=2**31 - 1)
        set_(self, "ttl", v.ttl_seconds("ttl", self.ttl))
        v.aware_datetime("expires_at", self.expires_at)
        v.one_of("priority", self.priority, ("high", "normal"))
        set_(self, "data", v.str_mapping("data", self.data))
        for key in self.data:
            if key in RESERVED_DATA_KEYS or key.startswith("unipush."):
                # "aps" is the APNs dictionary; "unipush" / "unipush.*" carry unipush's own values
                # (image, deep link, action links) on every platform (docs/mapping.md).
                raise ValidationError("data", f"the key {key!r} is reserved (aps, unipush, unipush.*)")
        if not isinstance(self.content_available, bool):
            raise ValidationError("content_available", f"must be a bool, got {type(self.content_available).__name__}")
        set_(self, "actions", _check_actions(self.actions))
        if self.apns is not None or self.fcm is not None or self.webpush is not None:
            _check_option_blocks(self)

    @property
    def ttl_seconds(self) -> int | None:
        """``ttl`` as int seconds (it is normalised at construction), or ``None`` when unset."""
        ttl = self.ttl
        assert not isinstance(ttl, timedelta)  # normalised in __post_init__
        return ttl

    def ttl_at(self, now: datetime) -> int | None:
        """The TTL to send at ``now``: ``ttl``, cut so that it never reaches past ``expires_at``.

        Whole seconds rounded down (``now + ttl_at(now) <= expires_at``), 0 once ``expires_at`` has
        passed, at most 28 days; ``None`` when neither is set (the provider's default applies).
        """
        ttl = self.ttl_seconds
        if self.expires_at is None:
            return ttl
        left = max(0, min(v.MAX_TTL_SECONDS, int((self.expires_at - now).total_seconds())))
        return left if ttl is None else min(ttl, left)

    @property
    def has_alert(self) -> bool:
        """Whether the notification shows something (a title, subtitle or body)."""
        return bool(self.title or self.subtitle or self.body)

    def to_dict(self) -> dict[str, Any]:
        """This notification as plain JSON data (form v1, ``{"v": 1, ...}``) for a queue or a database.

        Only the fields that differ from their defaults appear; datetimes are ISO-8601 strings, bytes
        base64url (``docs/serialization.md``). ``Notification.from_dict`` reads it back.
        """
        from unipush._serialize import notification_to_dict  # imported late: it imports this module

        return notification_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """Rebuild a notification from ``to_dict()`` output (form v1), checked like the constructor.

        Raises:
            ValidationError: an unknown key, a missing or other ``v``, a value of the wrong JSON type,
                or what the constructors refuse; the field is the key path, e.g.
                ``notification.apns.interruption_level``.
        """
        from unipush._serialize import notification_from_dict

        return notification_from_dict(data)


def _check_actions(actions: object) -> tuple[Action, ...]:
    if isinstance(actions, (str, bytes)) or not isinstance(actions, Sequence):
        raise ValidationError("actions", f"must be a sequence of Action, got {type(actions).__name__}")
    seen: set[str] = set()
    for index, action in enumerate(actions):
        if not isinstance(action, Action):
            raise ValidationError(f"actions[{index}]", f"must be an Action, got {type(action).__name__}")
        if action.id in seen:
            raise ValidationError(f"actions[{index}].id", f"duplicates id {action.id!r}")
        seen.add(action.id)
    return tuple(actions)
