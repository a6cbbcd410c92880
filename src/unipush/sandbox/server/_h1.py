"""One HTTP/1.1 connection of the sandbox's server (``h11``): Web Push and FCM accept HTTP/1.1, APNs does not."""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from typing import Any

import h11

from unipush.sandbox._interface import SandboxRequest, SandboxResponse
from unipush.sandbox.server._dispatch import (
    MAX_REQUEST_BODY,
    RESPONSE_FAULTS,
    TOO_LARGE,
    Dispatcher,
    close_quietly,
    headers_dict,
    response_headers,
)

__all__ = ["H11Protocol"]

logger = logging.getLogger("unipush.sandbox")


class H11Protocol(asyncio.Protocol):
    """One HTTP/1.1 connection (Web Push services accept HTTP/1.1; APNs does not)."""

    def __init__(self, server: Dispatcher[Any], transport: asyncio.Transport) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = transport
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._id = server._opened(self)
        self._h11 = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._task: asyncio.Task[None] | None = None
        self._received = 0
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
        except RuntimeError:  # data after the connection is closing: nothing more to serve
            return
        self._process()

    def eof_received(self) -> bool | None:
        with contextlib.suppress(RuntimeError):
            self._h11.receive_data(b"")
        self._process()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        close_quietly(self._transport)
        self._transport = None
        tasks = [self._task] if self._task is not None else []
        self._task = None
        self._server._lost(self, tasks)
        if not self.closed.done():
            self.closed.set_result(None)

    def shutdown(self) -> None:
        """Close once the request in flight (if any) is answered."""
        self._closing = True
        if self._task is None:
            self._close()

    def abort(self) -> None:
        """Close the connection now."""
        if self._transport is not None:
            self._transport.abort()

    def _process(self) -> None:
        h11_conn = self._h11
        while self._task is None and self._transport is not None:
            try:
                event = h11_conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc.error_status_hint)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = event
                self._body = []
                self._size = 0
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > MAX_REQUEST_BODY:
                    self._closing = True
                    self._send(TOO_LARGE)
                    return
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    def _dispatch(self) -> None:
        assert self._request is not None
        server = self._server
        self._received += 1
        server.stats.streams += 1
        server.stats.per_connection[self._id] = self._received
        event = self._request
        request = SandboxRequest(
            method=event.method.decode("ascii", "replace"),
            path=event.target.decode("utf-8", "replace"),
            headers=headers_dict(event.headers),
            body=b"".join(self._body),
            http_version="1.1",
            connection_id=self._id,
            stream_id=self._received,
        )
        goaway_after = server.faults.goaway_after.get(server.service)
        if goaway_after is not None and self._received >= goaway_after:
            # HTTP/1.1 has no GOAWAY: answer this request with "Connection: close" and hang up.
            self._closing = True
        fault = server._take_fault(request)
        delay = 0.0
        if fault is not None:
            if fault.kind in RESPONSE_FAULTS:
                self._send(server._fault_response(fault, request))
                return
            if fault.kind in ("reset", "drop_connection", "goaway"):
                # Without streams, each of these ends the connection with the request unanswered.
                server.stats.dropped += 1
                self.abort()
                return
            if fault.kind == "latency":
                delay = fault.delay
        self._task = self._loop.create_task(self._serve(request, delay))

    async def _serve(self, request: SandboxRequest, delay: float) -> None:
        try:
            response = await self._server._answer(request, delay)
        finally:
            self._task = None
        self._send(response)

    def _send(self, response: SandboxResponse) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        h11_conn = self._h11
        headers = response_headers(response)
        if self._closing:
            headers.append(("connection", "close"))
        try:
            reason = http.HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        try:
            data = h11_conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            if response.body:
                data = (data or b"") + (h11_conn.send(h11.Data(data=response.body)) or b"")
            data = (data or b"") + (h11_conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            logger.exception("%s: could not send a response", self._server.service)
            self.abort()
            return
        self._server.stats.responses += 1
        self._transport.write(data)
        if self._closing or h11_conn.our_state is not h11.DONE or h11_conn.their_state is not h11.DONE:
            self._close()
            return
        h11_conn.start_next_cycle()
        self._process()

    def _bad_request(self, status: int) -> None:
        self._closing = True
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._send(SandboxResponse(status=status, headers={"content-type": "text/plain; charset=utf-8"}))
        else:
            self._close()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
