"""The transport seam (public as ``unipush.transports``), the httpx adapter, and the TLS context from ``verify=``.

The default transport is unipush's own HTTP/2 engine (``_engine``); ``MockTransport`` is in ``_mock_transport``.
``http_client=`` swaps in an ``httpx`` client (sync or async) for users who need a proxy or custom
networking; it is slower per request (httpx's HTTP/2 path costs ~1 ms of CPU per request here) but
fully supported. httpx types appear only in that one argument, never in return values.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from unipush import _errors
from unipush._engine import MAX_RESPONSE_BODY
from unipush._errors import TransportError

__all__ = ["HttpxTransport", "Transport", "TransportResponse", "make_ssl_context"]


@runtime_checkable
class TransportResponse(Protocol):
    """Status, lower-case headers and body of one HTTP answer: what ``Transport.request`` returns."""

    @property
    def status(self) -> int:
        """The HTTP status code (a final one: 200-599)."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, lower-case names."""
        ...

    @property
    def body(self) -> bytes:
        """The whole response body."""
        ...


@runtime_checkable
class Transport(Protocol):
    """What a client needs from a transport: one request at a time, on the client's event loop.

    ``PushClient`` calls it on its private loop thread, ``AsyncPushClient`` on the caller's loop. Many
    requests are in flight at once (up to the client's ``concurrency``).
    """

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> TransportResponse:
        """Send one request and return its answer, whatever its status.

        Raise ``unipush.TransportError`` when no answer could be had (``maybe_processed=False`` when the
        server surely did not act on the request), ``unipush.TimeoutError`` when none came within
        ``timeout`` seconds. The retry policy decides what happens next; any other exception is
        reported as a ``TransportError`` too.
        """
        ...

    async def aclose(self) -> None:
        """Close connections; called once, when the client is closed."""
        ...


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def make_ssl_context(verify: str | os.PathLike[str] | ssl.SSLContext | bool | None) -> ssl.SSLContext:
    """An ``SSLContext`` from ``verify=``: a CA bundle path, a ready context, or True/None for the system CAs.

    ``False`` is refused: a push credential must never travel to an unverified host.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        raise ValueError("verify=False is not supported: pass the CA bundle of your test server instead")
    if verify is True or verify is None:
        cafile = None
    elif isinstance(verify, (str, os.PathLike)):
        cafile = os.fspath(verify)
    else:
        raise ValueError(f"verify must be a CA bundle path, an ssl.SSLContext or None, got {type(verify).__name__}")
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # APNs requires TLS 1.2 or later
    return context


class _Body:
    """A response body read in chunks, held to ``MAX_RESPONSE_BODY`` like the engine's (decoded size)."""

    __slots__ = ("chunks", "origin", "size")

    def __init__(self, url: str) -> None:
        self.origin = urlsplit(url).netloc  # not the path: it may hold a device token
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_RESPONSE_BODY:
            # Raised inside httpx's ``stream`` block: the response is closed unread, nothing more buffered.
            raise TransportError(
                f"{self.origin} sent a response body over the limit of {MAX_RESPONSE_BODY} bytes "
                f"({self.size} bytes received when reading stopped)"
            )
        self.chunks.append(chunk)

    def join(self) -> bytes:
        return b"".join(self.chunks)


def _origin(url: str) -> str:
    """The scheme and host of ``url`` for an error message: never the path, which may hold a device token
    (APNs ``/3/device/<token>``) or a Web Push endpoint's capability secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class HttpxTransport:
    """A transport over a user's ``httpx.AsyncClient`` or ``httpx.Client`` (run in a worker thread)."""

    def __init__(self, client: httpx.AsyncClient | httpx.Client) -> None:
        self._client = client

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> TransportResponse:
        fields = dict(headers)
        try:
            if isinstance(self._client, httpx.AsyncClient):
                async with self._client.stream(method, url, headers=fields, content=body, timeout=timeout) as response:
                    content = _Body(url)
                    async for chunk in response.aiter_bytes():
                        content.add(chunk)
            else:
                response, content = await asyncio.to_thread(self._sync_request, method, url, fields, body, timeout)
        except httpx.TimeoutException as exc:
            raise _errors.TimeoutError(f"{method} {_origin(url)}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {_origin(url)}: {exc}") from exc
        except ValueError as exc:
            # httpcore reads ``:status`` with int(): "2oo" ends there, not in an httpx error.
            raise TransportError(f"{_origin(url)} sent a malformed response ({exc})") from exc
        if not 200 <= response.status_code <= 599:
            # As in the engine: no final status code, no answer to decode (RFC 9110 §15).
            raise TransportError(f"{method} {_origin(url)}: malformed response: status {response.status_code}")
        return _Response(response.status_code, {k.lower(): v for k, v in response.headers.items()}, content.join())

    def _sync_request(
        self, method: str, url: str, headers: dict[str, str], body: bytes, timeout: float | None
    ) -> tuple[httpx.Response, _Body]:
        assert isinstance(self._client, httpx.Client)
        with self._client.stream(method, url, headers=headers, content=body, timeout=timeout) as response:
            content = _Body(url)
            for chunk in response.iter_bytes():
                content.add(chunk)
        return response, content

    async def aclose(self) -> None:
        """The user owns the httpx client: it is not closed here."""
