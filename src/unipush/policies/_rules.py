"""The send policies: ``QuietHours``, ``FrequencyCap``, ``Deduplicate`` (and expiry, which is always on).

A policy is pure: ``evaluate(notification, target, now)`` reads the notification, the target and the
clock, and answers ``None`` (it does not apply), a ``Refusal`` (not sent: why, and until when), or a
``Claim`` (sent only if the store admits one more under a key). The client's ``PolicyChain`` does the
store I/O, in the declared order, so the same rules run against memory or Redis.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from unipush._errors import ConfigurationError, ValidationError
from unipush._foreign import describe
from unipush._model import Notification
from unipush._targets import Target

__all__ = ["Claim", "Deduplicate", "FrequencyCap", "QuietHours", "Refusal", "SendPolicy", "time_sensitive"]

Zone = str | tzinfo
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class Refusal(NamedTuple):
    """Why a policy keeps a notification from being sent: the policy's name, a message, when it may go."""

    policy: str
    message: str
    until: datetime | None = None


class Claim(NamedTuple):
    """A policy's request to the store: admit one more under ``key`` (at most ``limit`` per ``window`` s).

    A named tuple, like ``Refusal``: one is made per send, and a frozen dataclass costs several times more.
    """

    key: str
    limit: int
    window: float
    refusal: Refusal  # the answer when the store says no


def default_recipient(target: Target) -> str:
    """The recipient of a target when the application names none: the device (provider and token)."""
    return f"{target.provider}:{target.key}"


def time_sensitive(notification: Notification) -> bool:
    """Whether ``notification`` is time-sensitive: APNs ``interruption_level`` ``time-sensitive`` or ``critical``.

    Pass it as ``QuietHours(..., bypass=time_sensitive)`` to let those through quiet hours (Apple,
    "UNNotificationInterruptionLevel": a time-sensitive notification breaks through Focus, which is
    the user's own quiet time).
    """
    options = notification.apns
    return options is not None and options.interruption_level in ("time-sensitive", "critical")


class SendPolicy(ABC):
    """Base class of the send policies a client applies before rendering (``docs/policies.md``).

    ``name`` is the result's ``reason`` when the policy refuses, and the prefix of its store keys: two
    policies of one client have two names.
    """

    name: str

    @abstractmethod
    def evaluate(self, notification: Notification, target: Target, now: datetime) -> Refusal | Claim | None:
        """``None`` (send), a ``Refusal`` (do not send) or a ``Claim`` the store must admit first."""


def _check_name(name: object) -> str:
    if not isinstance(name, str) or _NAME.match(name) is None:
        raise ConfigurationError(f"policy name must be 1-64 letters, digits, '_', '.' or '-', got {name!r}")
    return name


def _seconds(what: str, window: object) -> float:
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = window  # compared before float(): an int too large for a float is refused, not an OverflowError
    else:
        raise ConfigurationError(f"{what} window must be a timedelta or seconds, got {type(window).__name__}")
    if not 0 < seconds <= 366 * 86400:
        raise ConfigurationError(
            f"{what} window must be more than 0 seconds and at most 366 days, got {seconds!r}"[:200]
        )
    return float(seconds)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _callable(what: str, value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(f"{what} must be callable, got {type(value).__name__}")


def _ask(policy: str, what: str, function: Callable[[object], object], argument: object) -> object:
    """Call the application's ``function``; its failure is a ``ConfigurationError`` naming the policy."""
    try:
        return function(argument)
    except Exception as exc:
        raise ConfigurationError(f"send policy {policy!r}: the {what} function raised {describe(exc)}") from exc


def _key_part(policy: str, what: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if type(value) is int:  # a user id straight from the database
        return str(value)
    raise ConfigurationError(
        f"send policy {policy!r}: the {what} function must return a str, an int or None, got {value!r}"[:200]
    )


def _time(what: str, value: object) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ConfigurationError(f"quiet hours {what} is a wall-clock time: give it without tzinfo")
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigurationError(f"quiet hours {what} must be a datetime.time or 'HH:MM', got {value!r}"[:200])


@lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def resolve_zone(field: str, zone: object) -> tzinfo:
    """``zone`` (an IANA name such as ``"Europe/Berlin"``, or a ``tzinfo``) as a ``tzinfo``."""
    if isinstance(zone, tzinfo):
        return zone
    if isinstance(zone, str):
        try:
            return _zone(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(field, f"is not a known IANA time zone: {zone!r}"[:200]) from None
    raise ValidationError(field, f"must be an IANA time zone name or a tzinfo, got {type(zone).__name__}")


class QuietHours(SendPolicy):
    """No pushes from ``start`` to ``end`` in the recipient's own time zone (``"22:00"``, ``"08:00"``).

    Args:
        start: when the quiet time begins, local wall-clock time (a ``datetime.time`` or ``"HH:MM"``).
        end: when it ends; before ``start`` means the window spans midnight (22:00 to 08:00).
        zone: the recipient's time zone: a function of the target returning an IANA name
            (``"America/New_York"``), a ``tzinfo`` or ``None`` (then ``default_zone``); or one zone for
            every target.
        default_zone: the zone of a target whose function answered ``None`` (default UTC).
        defer: ``False`` (default) drops the notification; ``True`` defers it: the result's
            ``deferred_until`` is when the window ends, the time to send it again (a Celery ``eta``).
        bypass: a function of the notification; when it says ``True`` quiet hours do not apply
            (``time_sensitive``, or ``lambda n: n.priority == "high"``).
        name: the result's ``reason`` when this policy refuses.

    Local times come from ``zoneinfo``, so the window follows daylight-saving changes: "until 08:00" is
    08:00 on the recipient's wall clock, however many hours the night had. An end time that does not
    exist that day (in a spring-forward gap) is read with the offset before the gap, i.e. just after it.
    """

    def __init__(
        self,
        start: time | str = "22:00",
        end: time | str = "08:00",
        *,
        zone: Callable[[Target], Zone | None] | Zone = "UTC",
        default_zone: Zone = "UTC",
        defer: bool = False,
        bypass: Callable[[Notification], bool] | None = None,
        name: str = "quiet_hours",
    ) -> None:
        self.name = _check_name(name)
        self.start = _time("start", start)
        self.end = _time("end", end)
        if self.start == self.end:
            raise ConfigurationError(f"quiet hours start and end are both {self.start}: give a window")
        if not isinstance(defer, bool):
            raise ConfigurationError(f"quiet hours defer must be a bool, got {type(defer).__name__}")
        _callable("quiet hours bypass", bypass)
        try:
            self.default_zone = resolve_zone("default_zone", default_zone)
            self._fixed = None if callable(zone) else resolve_zone("zone", zone)
        except ValidationError as exc:
            raise ConfigurationError(f"quiet hours {exc}") from None
        self._zone_of = zone if callable(zone) else None
        self.defer = defer
        self.bypass = bypass
        self._overnight = self.end < self.start

    def __repr__(self) -> str:
        return f"QuietHours({self.start.isoformat('minutes')!r}, {self.end.isoformat('minutes')!r}, name={self.name!r})"

    def zone_for(self, target: Target) -> tzinfo:
        """The time zone quiet hours are read in for ``target``."""
        if self._zone_of is None:
            assert self._fixed is not None
            return self._fixed
        zone = _ask(self.name, "zone", self._zone_of, target)  # type: ignore[arg-type]
        return self.default_zone if zone is None else resolve_zone(f"{self.name} zone", zone)

    def quiet_until(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When the quiet window around ``now`` ends (aware, UTC), or ``None`` if ``now`` is outside it."""
        local = now.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        start, end = self.start, self.end
        quiet = (wall >= start or wall < end) if self._overnight else (start <= wall < end)
        if not quiet:
            return None
        day = local.date() if wall < end else local.date() + timedelta(days=1)
        until = datetime.combine(day, end, tzinfo=zone).astimezone(timezone.utc)
        if until <= now:  # end repeated by a fall-back: the second 01:30 of the night, say
            until = datetime.combine(day, end, tzinfo=zone).replace(fold=1).astimezone(timezone.utc)
        return until

    def evaluate(self, notification: Notification, target: Target, now: datetime) -> Refusal | None:
        """A ``Refusal`` while ``now`` is in the recipient's quiet hours (unless ``bypass`` lets it through)."""
        if self.bypass is not None and _ask(self.name, "bypass", self.bypass, notification):  # type: ignore[arg-type]
            return None
        zone = self.zone_for(target)
        until = self.quiet_until(now, zone)
        if until is None:
            return None
        window = f"quiet hours {self.start.isoformat('minutes')}-{self.end.isoformat('minutes')} ({zone})"
        if self.defer:
            return Refusal(self.name, f"{window}: deferred until {until.isoformat()}", until)
        return Refusal(self.name, f"{window}: dropped")


class FrequencyCap(SendPolicy):
    """At most ``limit`` notifications per recipient (or per recipient and category) per sliding ``window``.

    Args:
        limit: how many may be sent in any ``window`` (a sliding window: the last 24 hours, not today).
        window: a ``timedelta`` or seconds.
        recipient: a function of the target naming the person it reaches (a user id, str or int), so
            that their devices share one count; ``None`` if the cap does not apply to it. Default: the
            device.
        category: a function of the notification naming its category (``lambda n: n.data.get("kind")``);
            then the count is per recipient and category, and a notification whose category is
            ``None`` is not counted. Default: one count per recipient.
        name: the result's ``reason`` when the cap is reached, and the prefix of its store keys.
    """

    def __init__(
        self,
        limit: int,
        window: timedelta | float,
        *,
        recipient: Callable[[Target], str | int | None] | None = None,
        category: Callable[[Notification], str | None] | None = None,
        name: str = "frequency_cap",
    ) -> None:
        self.name = _check_name(name)
        if type(limit) is not int or limit < 1:
            raise ConfigurationError(f"frequency cap limit must be an int >= 1, got {limit!r}")
        self.limit = limit
        self.window = _seconds("frequency cap", window)
        _callable("frequency cap recipient", recipient)
        _callable("frequency cap category", category)
        self.recipient = recipient or default_recipient
        self.category = category
        self._refusal = Refusal(
            self.name, f"frequency cap reached: {limit} per {_span(self.window)} for this recipient"
        )

    def __repr__(self) -> str:
        return f"FrequencyCap({self.limit}, {_span(self.window)!r}, name={self.name!r})"

    def evaluate(self, notification: Notification, target: Target, now: datetime) -> Claim | None:
        """A ``Claim`` on the recipient's (and category's) count."""
        who = _key_part(self.name, "recipient", _ask(self.name, "recipient", self.recipient, target))  # type: ignore[arg-type]
        if who is None:
            return None
        if self.category is None:
            return Claim(f"{self.name}:{who}", self.limit, self.window, self._refusal)
        kind = _key_part(self.name, "category", _ask(self.name, "category", self.category, notification))  # type: ignore[arg-type]
        if kind is None:
            return None
        # The category's length first: no recipient and category pair can spell another's key.
        return Claim(f"{self.name}:{len(kind)}:{kind}:{who}", self.limit, self.window, self._refusal)


class Deduplicate(SendPolicy):
    """The same logical notification (an application-chosen ``key``) at most once per recipient per ``window``.

    Args:
        key: a function of the notification returning its key (``lambda n: n.data.get("campaign")``);
            a notification whose key is ``None`` is not de-duplicated.
        window: how long a key is remembered per recipient (a ``timedelta`` or seconds).
        recipient: a function of the target naming the person (see ``FrequencyCap``); default the device.
        name: the result's ``reason`` for a duplicate, and the prefix of its store keys.
    """

    def __init__(
        self,
        key: Callable[[Notification], str | None],
        window: timedelta | float,
        *,
        recipient: Callable[[Target], str | int | None] | None = None,
        name: str = "deduplicate",
    ) -> None:
        self.name = _check_name(name)
        if not callable(key):
            raise ConfigurationError(
                f"deduplicate key must be a function of the notification, got {type(key).__name__}"
            )
        _callable("deduplicate recipient", recipient)
        self.key = key
        self.window = _seconds("deduplicate", window)
        self.recipient = recipient or default_recipient
        self._refusal = Refusal(self.name, f"already sent to this recipient within {_span(self.window)} (same key)")

    def __repr__(self) -> str:
        return f"Deduplicate(window={_span(self.window)!r}, name={self.name!r})"

    def evaluate(self, notification: Notification, target: Target, now: datetime) -> Claim | None:
        """A ``Claim`` with a limit of 1 on the recipient's key."""
        key = _key_part(self.name, "key", _ask(self.name, "key", self.key, notification))  # type: ignore[arg-type]
        if key is None:
            return None
        who = _key_part(self.name, "recipient", _ask(self.name, "recipient", self.recipient, target))  # type: ignore[arg-type]
        if who is None:
            return None
        return Claim(f"{self.name}:{len(key)}:{key}:{who}", 1, self.window, self._refusal)
