"""The sandbox's Web Push service, in parts: ``_emulator`` (subscriptions, the push, decryption, the inbox) and
``_checks`` (RFC 8030 headers, RFC 8292 VAPID, and the error bodies)."""

from __future__ import annotations

from unipush.sandbox.emulators._common import DETAIL_HEADER
from unipush.sandbox.emulators._webpush._checks import MAX_TTL_SECONDS
from unipush.sandbox.emulators._webpush._emulator import SUBSCRIBE_PATH, VAPID_PRIVATE_KEY_FILE, WebPushEmulator

__all__ = ["DETAIL_HEADER", "MAX_TTL_SECONDS", "SUBSCRIBE_PATH", "VAPID_PRIVATE_KEY_FILE", "WebPushEmulator"]
