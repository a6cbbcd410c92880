"""One request's journey through the engine, and the ``Response`` it ends with."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from unipush._engine._config import MAX_RESPONSE_BODY
from unipush._errors import TransportError

__all__ = ["MAX_RESPONSE_BODY", "Carrier", "Exchange", "Field", "Response", "fail_pending"]

Field: TypeAlias = "tuple[bytes, bytes] | tuple[str, str]"
"""One request header field as the engine hands it to the HTTP/2 library (names lower-case)."""


class Carrier(Protocol):
    """What an exchange knows of the connection it is on: how to take it off again."""

    def cancel(self, exchange: Exchange) -> None:
        """Stop the exchange's stream (RST_STREAM(CANCEL)) and free its slot."""


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

    def __init__(self, headers: list[Field], body: bytes, future: asyncio.Future[Response]) -> None:
        self.headers = headers
        self.body = body
        self.future = future
        self.connection: Carrier | None = None  # set while the request is on a stream
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


def fail_pending(pending: deque[Exchange], message: str, cause: BaseException | None) -> None:
    """Empty a pool's queue: every waiting exchange fails with ``message`` (never sent, so not processed)."""
    while pending:
        exchange = pending.popleft()
        if not exchange.future.done():
            error = TransportError(message, maybe_processed=False)
            error.__cause__ = cause
            exchange.future.set_exception(error)
