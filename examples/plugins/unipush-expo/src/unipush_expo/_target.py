"""``ExpoDevice``: an Expo push token as a unipush target."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from unipush import Target, ValidationError

__all__ = ["ExpoDevice"]

# What expo-notifications' getExpoPushTokenAsync() returns: "ExponentPushToken[...]", or the newer
# "ExpoPushToken[...]" spelling that Expo's server SDKs also accept. The part in brackets is opaque;
# it never contains brackets or whitespace.
_TOKEN = re.compile(r"(?:Exponent|Expo)PushToken\[[^\[\]\s]{1,200}\]")


@dataclass(frozen=True, slots=True, repr=False)
class ExpoDevice(Target):
    """A device of an Expo / React Native app, by its Expo push token.

    ``token`` is the string from ``Notifications.getExpoPushTokenAsync()``: ``ExponentPushToken[...]``
    or ``ExpoPushToken[...]``. Surrounding whitespace is removed; anything else is refused with a
    ``ValidationError`` naming ``token``, so a raw APNs or FCM token is caught before sending.
    """

    provider: ClassVar[str] = "expo"
    token: str

    def __post_init__(self) -> None:
        if not isinstance(self.token, str):
            raise ValidationError("token", f"must be a string, got {type(self.token).__name__}")
        token = self.token.strip()
        if not _TOKEN.fullmatch(token):
            raise ValidationError(
                "token",
                "must be an Expo push token, ExponentPushToken[...] or ExpoPushToken[...] "
                "(from getExpoPushTokenAsync); a raw APNs or FCM token needs the apns or fcm provider",
            )
        object.__setattr__(self, "token", token)

    @property
    def key(self) -> str:
        """The push token, as given (without surrounding whitespace)."""
        return self.token

    def short(self) -> str:
        """The token for logs: the common prefix and the first characters of the secret part."""
        prefix, _, rest = self.token.partition("[")
        return f"{prefix}[{rest[:6]}…]"

    def __repr__(self) -> str:
        return f"ExpoDevice({self.short()!r})"
