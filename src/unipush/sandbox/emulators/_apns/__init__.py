"""The sandbox's APNs, in parts: ``_emulator`` (the provider API's checks, devices, broadcasts), ``_channels``
(iOS 18 broadcast channels and their listeners) and ``_errors`` (Apple's ``{"reason"}`` bodies)."""

from __future__ import annotations

from unipush.sandbox.emulators._apns._emulator import ApnsEmulator
from unipush.sandbox.emulators._common import DETAIL_HEADER

__all__ = ["DETAIL_HEADER", "ApnsEmulator"]
