"""APNs push targets: ``ApnsDevice`` (a device token) and ``ApnsChannel`` (a broadcast channel, iOS 18)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Literal

from unipush._errors import ValidationError
from unipush._targets import Target

__all__ = ["ApnsChannel", "ApnsDevice", "ApnsStoragePolicy"]

_HEX = frozenset("0123456789abcdef")
# Device tokens are 32 bytes today, but Apple says their length may change and not to hard-code it;
# 100 bytes leaves room without accepting arbitrary junk.
_MIN_HEX_LEN = 64
_MAX_HEX_LEN = 200


@dataclass(frozen=True, slots=True, repr=False)
class ApnsDevice(Target):
    """An iOS, iPadOS, macOS, watchOS, tvOS or visionOS device token, as hex.

    The token is the ``deviceToken`` data from ``application(_:didRegisterForRemoteNotificationsWithDeviceToken:)``
    written as hex. Surrounding whitespace is removed and the hex is lower-cased; anything else that is
    not hex (spaces or ``<>`` from an old ``NSData`` description, base64) is rejected rather than
    guessed at. Live Activity push tokens are the same kind of token and use this class too.
    """

    provider: ClassVar[str] = "apns"
    token: str

    def __post_init__(self) -> None:
        if not isinstance(self.token, str):
            raise ValidationError("token", f"must be a hex string, got {type(self.token).__name__}")
        token = self.token.strip().lower()
        if not token:
            raise ValidationError("token", "must not be empty")
        if not _HEX.issuperset(token):
            raise ValidationError("token", "must be hexadecimal (0-9, a-f), as the device reported it")
        if len(token) % 2:
            raise ValidationError("token", f"must have an even number of hex digits, got {len(token)}")
        if not _MIN_HEX_LEN <= len(token) <= _MAX_HEX_LEN:
            raise ValidationError(
                "token", f"must be {_MIN_HEX_LEN} to {_MAX_HEX_LEN} hex digits (usually 64), got {len(token)}"
            )
        object.__setattr__(self, "token", token)

    @property
    def key(self) -> str:
        """The normalised hex token."""
        return self.token

    def __repr__(self) -> str:
        # Tokens are shortened in reprs so they do not end up whole in logs.
        return f"ApnsDevice({self.short()!r})"


class ApnsStoragePolicy(IntEnum):
    """A broadcast channel's ``message-storage-policy``, chosen when the channel is created.

    Apple, "Sending channel management requests to APNs": with ``NO_STORAGE`` (0) APNs delivers a
    broadcast only to devices that are online and gives the channel a higher publishing budget; with
    ``MOST_RECENT`` (1) it keeps the most recent broadcast for devices that come online later. A channel
    with no storage accepts only ``apns-expiration: 0``.
    """

    NO_STORAGE = 0
    MOST_RECENT = 1


StoragePolicyValue = Literal[0, 1]
"""The plain values accepted wherever an ``ApnsStoragePolicy`` is expected."""


def storage_policy(field: str, value: object) -> ApnsStoragePolicy:
    """``value`` (an ``ApnsStoragePolicy``, 0 or 1) as the enum member; ``ValidationError`` otherwise."""
    if isinstance(value, ApnsStoragePolicy):
        return value
    if type(value) is int and value in (0, 1):
        return ApnsStoragePolicy(value)
    raise ValidationError(field, f"must be ApnsStoragePolicy.NO_STORAGE (0) or MOST_RECENT (1), got {value!r}")


def channel_id(field: str, value: object) -> str:
    """A broadcast channel id, checked: the base64 string APNs returned when the channel was created."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be the base64 channel id string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValidationError(field, "must not be empty")
    # Apple (ActivityKit PushType.channel, "Sending broadcast push notification requests to APNs"): the
    # channel id is a base64-encoded string; it travels as is in the apns-channel-id header.
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            field, "must be base64 (A-Z, a-z, 0-9, '+', '/', '=' padding), as APNs returned it"
        ) from None
    return text


@dataclass(frozen=True, slots=True, repr=False)
class ApnsChannel(Target):
    """A broadcast channel (iOS and iPadOS 18): one request updates every Live Activity subscribed to it.

    ``channel_id`` is the base64 id APNs returned when the channel was created
    (``client.apns_channels.create(...)``); apps subscribe a Live Activity to it with
    ``pushType: .channel(id)``, or a push-to-start with ``ApnsOptions(input_push_channel=id)``.
    ``storage`` is the channel's message-storage policy when you know it: with ``NO_STORAGE`` a ``ttl``
    other than 0 is refused before sending, and ``apns-expiration`` defaults to 0 unless the channel is
    ``MOST_RECENT`` (see ``docs/apns.md``, "Broadcast push").

    A notification sent to a channel goes to ``POST /4/broadcasts/apps/<bundle id>`` with
    ``apns-channel-id``, and must be a Live Activity ``update`` or ``end``.
    """

    provider: ClassVar[str] = "apns"
    target_type: ClassVar[str] = "channel"
    channel_id: str
    storage: ApnsStoragePolicy | StoragePolicyValue | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_id", channel_id("channel_id", self.channel_id))
        if self.storage is not None:
            object.__setattr__(self, "storage", storage_policy("storage", self.storage))

    @property
    def key(self) -> str:
        """The channel id."""
        return self.channel_id

    def __repr__(self) -> str:
        storage = "" if self.storage is None else f", storage={ApnsStoragePolicy(self.storage).name}"
        return f"ApnsChannel({self.channel_id!r}{storage})"
