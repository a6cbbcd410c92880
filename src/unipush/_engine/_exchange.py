"""One request's journey through the engine, and the ``Response`` it ends with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpack.struct import HeaderWeaklyTyped

    from unipush._engine._connection import Connection

__all__ = ["MAX_RESPONSE_BODY", "Exchange", "Response"]

MAX_RESPONSE_BODY = 256 * 1024
"""Bytes of response body the engine reads per response before it gives up on the stream.

Provider answers are tiny: APNs sends at most a ``{"reason": ...}`` of a few dozen bytes, FCM a
``google.rpc.Status`` of a few hundred, push services a short text or JSON. 256 KiB is far above any
of them and still bounds what one hostile or broken server can make a client buffer per stream
(``max_streams_cap`` streams at once). A longer body fails the request with ``TransportError``.
"""


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP/2 response: the status, lower-case headers (pseudo-headers removed) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Exchange:
    """The mutable state of one request: queued in a pool, then on a stream, until its future settles.

    The caller's coroutine only awaits ``future``; pools and connections move the exchange between
    connections (resends after GOAWAY or REFUSED_STREAM) without waking it, which keeps the per-request
    cost to one future, one coroutine and, with a timeout, one timer handle.
    """

    __slots__ = (
        "body",
        "chunks",
        "connection",
        "future",
        "headers",
        "offset",
        "received",
        "resends",
        "response_headers",
        "status",
        "stream_id",
    )

    def __init__(self, headers: list[HeaderWeaklyTyped], body: bytes, future: asyncio.Future[Response]) -> None:
        self.headers = headers
        self.body = body
        self.future = future
        self.connection: Connection | None = None  # set while the request is on a stream
        self.stream_id = 0
        self.offset = 0  # body bytes handed to h2 so far
        self.resends = 0
        self.status = 0  # the response's :status, once its HEADERS arrived
        self.response_headers: dict[str, str] | None = None  # set with ``status``
        self.chunks: list[bytes] | None = None
        self.received = 0  # response body bytes so far, held against MAX_RESPONSE_BODY

    def detach(self) -> None:
        """Forget the stream this exchange was on, so it can start again on another one."""
        self.connection = None
        self.stream_id = 0
        self.offset = 0
        self.response_headers = None
        self.chunks = None
        self.received = 0
