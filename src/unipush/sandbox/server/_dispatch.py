"""The server core's dispatch: one emulator behind every connection, faults first, counters for tests.

``Dispatcher`` is what the connection protocols (``_h2.py``, ``_h1.py``) talk to: it registers
connections, takes the scripted fault a request meets, and routes the request to the emulator's
``handle`` (an emulator failure becomes a 500, never a dead connection). ``SandboxServer`` adds the
listener on top of it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from unipush.sandbox._faults import Fault, Faults
from unipush.sandbox._interface import Emulator, SandboxRequest, SandboxResponse

__all__ = ["DEFAULT_MAX_CONCURRENT_STREAMS", "MAX_REQUEST_BODY", "Dispatcher", "ServerStats"]

logger = logging.getLogger("unipush.sandbox")

#: What the server advertises unless ``faults.max_concurrent_streams[service]`` says otherwise.
#: Apple's documentation tells providers not to assume a number; observed APNs values are around 500-1000.
DEFAULT_MAX_CONCURRENT_STREAMS = 1000

#: Request bodies above this are refused with 413 before reaching an emulator: every real service's
#: limit is a few kilobytes, this only protects the sandbox's memory.
MAX_REQUEST_BODY = 1 << 20

# Request-level faults answered by the emulator's ``fault_response`` (the service's own error body).
RESPONSE_FAULTS = frozenset({"status", "invalid_token", "bad_token", "expired_credential"})

INTERNAL_ERROR = SandboxResponse(
    status=500,
    headers={"content-type": "text/plain; charset=utf-8"},
    body=b"sandbox emulator error (see the unipush.sandbox log)\n",
)
TOO_LARGE = SandboxResponse(status=413, headers={"content-type": "text/plain; charset=utf-8"}, body=b"too large\n")


@dataclass
class ServerStats:
    """Counters of one server, for tests and benchmarks. Read them from any thread.

    ``streams`` counts HTTP/2 streams and HTTP/1.1 requests received (including ones answered by a
    fault or ignored after a GOAWAY); ``per_connection`` maps a connection id to its stream count.
    """

    connections: int = 0
    open_connections: int = 0
    streams: int = 0
    responses: int = 0
    resets: int = 0
    goaways: int = 0
    dropped: int = 0
    per_connection: dict[int, int] = field(default_factory=dict)


class Connection(Protocol):
    """What the server's shutdown needs from one connection (HTTP/2 or HTTP/1.1)."""

    closed: asyncio.Future[None]

    def shutdown(self) -> None:
        """Close gracefully once what is in flight is answered."""
        ...

    def abort(self) -> None:
        """Close now."""
        ...


ConnectionT = TypeVar("ConnectionT", bound=Connection)


class Dispatcher(Generic[ConnectionT]):
    """Routes each request of every connection to ``emulator``, after the scripted faults.

    Generic in the connection type, so that the server's ``_connections`` say what they are (the
    protocols in ``_h2``/``_h1``) without this module importing them.

    Args:
        emulator: answers each request; its ``name`` is the service name faults are keyed by.
        faults: the sandbox's fault registry (a private empty one if omitted).
        max_concurrent_streams: the default SETTINGS_MAX_CONCURRENT_STREAMS.
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        faults: Faults | None = None,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
    ) -> None:
        self.emulator = emulator
        self.faults = faults if faults is not None else Faults()
        self.max_concurrent_streams = max_concurrent_streams
        self.stats = ServerStats()
        #: Called on the loop with each request and the response it gets (the inbox page records them).
        self.on_exchange: Callable[[SandboxRequest, SandboxResponse], None] | None = None
        self._connections: set[ConnectionT] = set()
        self._orphans: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    @property
    def service(self) -> str:
        """The emulated service's name (``"apns"``, ``"fcm"``, ``"webpush"``, or a plugin's)."""
        return self.emulator.name

    # -- connection bookkeeping ------------------------------------------------------------------

    def _opened(self, connection: ConnectionT) -> int:
        connection_id = next(self._ids)
        self._connections.add(connection)
        self.stats.connections += 1
        self.stats.open_connections += 1
        self.stats.per_connection[connection_id] = 0
        return connection_id

    def _lost(self, connection: ConnectionT, tasks: Iterable[asyncio.Task[None]]) -> None:
        self._connections.discard(connection)
        self.stats.open_connections -= 1
        for task in tasks:
            if not task.done():
                task.cancel()
                self._orphans.add(task)
                task.add_done_callback(self._orphans.discard)

    # -- routing a request -----------------------------------------------------------------------

    def _take_fault(self, request: SandboxRequest) -> Fault | None:
        faults = self.faults
        # pending() is a cheap locked copy; skipping target_of when nothing is scripted keeps the
        # common path free of the emulator's target parsing (FCM reads the JSON body for it).
        if not faults.pending():
            return None
        # FCM exempts its OAuth token endpoint, so a scripted 503 "for FCM" hits sends, as it would in
        # production, not the credential exchange.
        if not self.emulator.accepts_fault(request):
            return None
        try:
            target = self.emulator.target_of(request)
        except Exception:  # the protocol says it never raises; a fault lookup must not break a request
            logger.exception("%s: target_of failed", self.service)
            target = None
        return faults.take(self.service, target)

    async def _answer(self, request: SandboxRequest, delay: float) -> SandboxResponse:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            response = await self.emulator.handle(request)
        except Exception:
            logger.exception("%s: emulator failed on %s %s", self.service, request.method, request.path)
            response = INTERNAL_ERROR
        if self.on_exchange is not None:
            self.on_exchange(request, response)
        return response

    def _fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        response = self._scripted_response(fault, request)
        if self.on_exchange is not None:
            self.on_exchange(request, response)
        return response

    def _scripted_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        try:
            response = self.emulator.fault_response(fault, request)
        except Exception:
            logger.exception("%s: fault_response failed for %s", self.service, fault.kind)
            return INTERNAL_ERROR
        if fault.body is not None:  # a body no real service sends: huge, not JSON, hostile...
            headers = {name: value for name, value in response.headers.items() if name.lower() != "content-length"}
            return SandboxResponse(status=response.status, headers=headers, body=fault.body)
        return response


def headers_dict(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated fields joined with ", " (RFC 9110 section 5.3)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.decode("ascii", "replace").lower()
        value = raw_value.decode("utf-8", "replace")
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers


def response_headers(response: SandboxResponse) -> list[tuple[str, str]]:
    """The response's headers as a list, with ``content-length`` added when the emulator left it out."""
    headers = [(name.lower(), value) for name, value in response.headers.items()]
    if "content-length" not in response.headers:
        headers.append(("content-length", str(len(response.body))))
    return headers


def close_quietly(transport: asyncio.BaseTransport | None) -> None:
    """Close ``transport`` unless it is closing already.

    On Python 3.10 an SSL transport closed by the peer is not marked closed, and its finaliser then
    warns "unclosed transport" (a ResourceWarning, an error under -W error): close it explicitly.
    """
    if transport is not None and not transport.is_closing():
        transport.close()
