"""The sandbox's server core: a TLS listener, HTTP/2 and HTTP/1.1, faults, and dispatch to one emulator.

``SandboxServer(emulator, ssl_context=...)`` serves any object that satisfies ``unipush.sandbox.Emulator``
on one port, on your event loop; ``Sandbox`` runs one per emulator on its own loop thread. The modules:
``_listener`` (the listening socket, TLS and ALPN), ``_h2`` and ``_h1`` (one connection each, with the
connection-level faults), ``_dispatch`` (faults, then the emulator; the counters in ``ServerStats``) and
``_hpack`` (``install_hpack_cache``, an opt-in speed-up for a process that is a sandbox).
"""

from __future__ import annotations

from unipush.sandbox.server._dispatch import DEFAULT_MAX_CONCURRENT_STREAMS, MAX_REQUEST_BODY, ServerStats
from unipush.sandbox.server._hpack import install_hpack_cache
from unipush.sandbox.server._listener import SandboxServer

__all__ = ["DEFAULT_MAX_CONCURRENT_STREAMS", "MAX_REQUEST_BODY", "SandboxServer", "ServerStats", "install_hpack_cache"]
