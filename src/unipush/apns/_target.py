"""``ApnsDevice``: an APNs device token as a push target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unipush._errors import ValidationError
from unipush._targets import Target

__all__ = ["ApnsDevice"]

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
