"""unipush-expo: send to Expo / React Native apps through unipush, like a built-in provider.

Installing the package registers the ``expo`` provider in the ``unipush.providers`` entry-point group::

    from unipush import Notification, PushClient
    from unipush_expo import ExpoDevice

    with PushClient(providers=["expo"]) as client:          # or providers=[Expo(access_token=...)]
        result = client.send(Notification(title="Hi"), ExpoDevice("ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]"))

``Expo`` is the provider, ``ExpoDevice`` the target, ``ExpoErrorCode`` the ``reason`` of a refused
ticket (``DeviceNotRegistered`` marks the result ``token_invalid`` and runs ``on_invalid_token``).
"""

from __future__ import annotations

from unipush_expo._decode import ExpoErrorCode
from unipush_expo._encode import MAX_PAYLOAD_BYTES
from unipush_expo._provider import DEFAULT_BASE_URL, ENV_ACCESS_TOKEN, ENV_BASE_URL, ENV_CHANNEL_ID, SEND_PATH, Expo
from unipush_expo._target import ExpoDevice

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_ACCESS_TOKEN",
    "ENV_BASE_URL",
    "ENV_CHANNEL_ID",
    "MAX_PAYLOAD_BYTES",
    "SEND_PATH",
    "Expo",
    "ExpoDevice",
    "ExpoErrorCode",
    "__version__",
]
