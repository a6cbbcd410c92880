"""The sandbox's emulators of APNs, FCM HTTP v1 and Web Push, one per origin, behind the server core.

Each is an ``unipush.sandbox.Emulator``: it answers a ``SandboxRequest`` as the real service would and
records what it accepted in the inbox. The rules each one checks, and their order, are in the docstring
of its ``_emulator`` module: ``_apns`` (emulator, channels, errors), ``_fcm`` (emulator, OAuth, schema,
rules, errors) and ``_webpush`` (emulator, checks); ``_common`` holds what the three share.
"""

from __future__ import annotations

from unipush.sandbox.emulators._apns import ApnsEmulator
from unipush.sandbox.emulators._fcm import FcmEmulator
from unipush.sandbox.emulators._webpush import WebPushEmulator

__all__ = ["ApnsEmulator", "FcmEmulator", "WebPushEmulator"]
