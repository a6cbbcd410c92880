"""``MockTransport``: a transport answering each request with a handler, for tests (``unipush.transports``)."""

from __future__ import annotations

import asyncio
import inspect
import json as _json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from unipush import _errors
from unipush._errors import ConfigurationError, TransportError, ValidationError
from unipush._transport import TransportResponse

__all__ = ["Handler", "MockTransport", "Request", "Response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a ``MockTransport`` handler receives it.

    ``headers`` has lower-case names and carries the credential the client attached (APNs and VAPID
    JWTs, the FCM OAuth token); ``body`` is the exact bytes (encrypted for Web Push); ``timeout`` is the
    client's per-request timeout in seconds.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float | None = None

    def json(self) -> Any:
        """The body decoded as JSON (APNs and FCM bodies; a Web Push body is encrypted)."""
        return _json.loads(self.body)


class Response:
    """An answer for a ``MockTransport`` handler to return: ``Response(200)``, ``Response(410, json={...})``.

    Args:
        status: the HTTP status code, 200-599 (an informational 1xx is never a final answer).
        headers: response headers (names are lower-cased), e.g. ``{"apns-id": "..."}``,
            ``{"retry-after": "30"}``, ``{"location": "..."}``.
        body: the body bytes; or give ``json`` instead.
        json: a value to send as a JSON body (sets ``content-type: application/json``).
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b"", *, json: object = None
    ) -> None:
        if type(status) is not int or not 200 <= status <= 599:
            raise ValidationError("status", f"must be an int from 200 to 599, got {status!r}"[:120])
        fields = {str(name).lower(): str(value) for name, value in (headers or {}).items()}
        if json is not None:
            if body:
                raise ValidationError("body", "give body or json, not both")
            body = _json.dumps(json).encode()
            fields.setdefault("content-type", "application/json")
        if not isinstance(body, (bytes, bytearray)):
            raise ValidationError("body", f"must be bytes, got {type(body).__name__}")
        self.status = status
        self.headers: Mapping[str, str] = fields
        self.body = bytes(body)

    def __repr__(self) -> str:
        return f"Response({self.status}, body=<{len(self.body)} bytes>)"


#: A ``MockTransport`` handler: a plain or an async function from a ``Request`` to a ``Response``.
Handler = Callable[[Request], Response | TransportResponse | Awaitable[Response | TransportResponse]]


class MockTransport:
    """A transport that answers every request with ``handler(request)``, without a network.

    Pass it to either client as ``transport=MockTransport(handler)``. The handler may be a plain
    function (called on the client's event loop: it must not block) or an async one (awaited there:
    ``await asyncio.sleep(...)`` plays a slow server, and the client's ``timeout`` applies, ending as a
    ``unipush.TimeoutError``). It returns a ``Response``; raising ``unipush.TransportError`` (or
    ``unipush.TimeoutError``) plays a network failure, which the client's retry policy sees exactly as
    an engine's; any other exception is reported as a ``TransportError`` saying the transport failed.

    ``requests`` counts the requests handled. Closing the client ends the async handlers still running
    (their sends fail with a ``TransportError`` saying the transport was closed); the mock itself stays
    usable, so one can serve several clients.
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise ConfigurationError(f"MockTransport needs a callable handler, got {type(handler).__name__}")
        self._handler = handler
        self._running: set[asyncio.Task[Any]] = set()
        self.requests = 0

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> TransportResponse:
        """Answer one request with the handler (see the class docstring)."""
        self.requests += 1
        answer: object = self._handler(Request(method, url, headers, body, timeout))
        if inspect.isawaitable(answer):
            answer = await self._wait(answer, timeout, url)
        if type(answer) is not Response and not _is_response(answer):
            raise TypeError(f"the MockTransport handler returned {type(answer).__name__}, not a Response")
        return cast(TransportResponse, answer)

    async def _wait(self, answer: Awaitable[object], timeout: float | None, url: str) -> object:
        task = asyncio.ensure_future(answer)
        self._running.add(task)
        try:
            # asyncio.wait neither cancels the handler on a timeout nor raises one of its own, so a
            # handler's own TimeoutError stays the handler's.
            done, _ = await asyncio.wait((task,), timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()  # the send itself was cancelled: so is its handler
            raise
        finally:
            self._running.discard(task)
        if not done:
            task.cancel()
            raise _errors.TimeoutError(f"no response from {_origin(url)} within {timeout:g} s")
        if task.cancelled():  # only aclose() cancels a running handler
            raise TransportError("the transport was closed before an answer came")
        return task.result()  # the handler's answer, or its exception

    async def aclose(self) -> None:
        """End the async handlers still running; the mock stays usable for another client."""
        running = list(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)


def _is_response(value: object) -> bool:
    # isinstance() with a runtime-checkable protocol costs ~20 µs a call: checked by hand, per request.
    return all(hasattr(value, name) for name in ("status", "headers", "body"))


def _origin(url: str) -> str:
    # Never the path: it may hold a device token or a Web Push endpoint's capability secret.
    return url[: url.find("/", 8)] if url.find("/", 8) > 0 else url
