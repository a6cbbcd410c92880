"""The sandbox's FCM emulator, in parts: ``_emulator`` (routes, devices, topics, sends), ``_oauth`` (the token
endpoint and bearer checks), ``_schema`` (the ``SendMessageRequest`` schema and proto3 JSON parser),
``_rules`` (FCM's own rules on a message) and ``_errors`` (Google's error bodies)."""

from __future__ import annotations

from unipush.sandbox.emulators._common import DETAIL_HEADER
from unipush.sandbox.emulators._fcm._emulator import DEFAULT_PROJECT_ID, FcmEmulator
from unipush.sandbox.emulators._fcm._oauth import ACCESS_TOKEN_LIFETIME, CLIENT_EMAIL, CLOUD_PLATFORM_SCOPE, FCM_SCOPE

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "CLIENT_EMAIL",
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_PROJECT_ID",
    "DETAIL_HEADER",
    "FCM_SCOPE",
    "FcmEmulator",
]
