"""Local emulators of APNs, FCM HTTP v1 and Web Push, for tests, demos and development.

``Sandbox`` starts all three over real TLS on 127.0.0.1, each on its own port, with a throwaway CA
(``sandbox.ca_path``), ready-made credentials (``apns_config()``, ``fcm_config()``,
``webpush_config()``), an ``inbox`` of what they accepted (decoded) and ``faults`` to script what the
services do wrong::

    from unipush.sandbox import Sandbox

    with Sandbox() as sandbox:
        device = sandbox.apns_device()
        sandbox.fail(503, provider="apns", retry_after=1)   # the next APNs request gets 503
        ...                                                  # send with APNs(..., base_url=sandbox.apns_url)
        [delivery] = sandbox.inbox.wait_for(1)

The layout: ``unipush.sandbox.server`` is the server core (listener, TLS, HTTP/2 and HTTP/1.1,
connection-level faults, dispatch to one emulator), ``unipush.sandbox.emulators`` the three emulators,
and ``Emulator`` (with ``EmulatorBase`` and ``EmulatorContext``) the seam between them: a plugin's
emulator joins the built-in ones with ``Sandbox(emulators=[...])``. The pieces can also be used on their
own, on your event loop (``SandboxServer(emulator, ssl_context=...)``).
"""

from __future__ import annotations

from unipush.sandbox._faults import Fault, FaultKind, Faults
from unipush.sandbox._inbox import Delivery, Inbox
from unipush.sandbox._interface import (
    Emulator,
    EmulatorBase,
    EmulatorContext,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from unipush.sandbox._sandbox import (
    DEFAULT_APNS_TOPIC,
    DEFAULT_NAVIGATE,
    DEFAULT_VAPID_SUBJECT,
    PROVIDERS,
    Sandbox,
    configs_from_info,
)
from unipush.sandbox._tls import SandboxTLS, create_tls
from unipush.sandbox.emulators import ApnsEmulator, FcmEmulator, WebPushEmulator
from unipush.sandbox.server import DEFAULT_MAX_CONCURRENT_STREAMS, SandboxServer, ServerStats, install_hpack_cache

__all__ = [
    "DEFAULT_APNS_TOPIC",
    "DEFAULT_MAX_CONCURRENT_STREAMS",
    "DEFAULT_NAVIGATE",
    "DEFAULT_VAPID_SUBJECT",
    "PROVIDERS",
    "ApnsEmulator",
    "Delivery",
    "Emulator",
    "EmulatorBase",
    "EmulatorContext",
    "Fault",
    "FaultKind",
    "Faults",
    "FcmEmulator",
    "Inbox",
    "Sandbox",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTLS",
    "ServerStats",
    "WebPushEmulator",
    "configs_from_info",
    "create_tls",
    "install_hpack_cache",
    "json_response",
]
