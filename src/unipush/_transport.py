"""The transport seam: how a prepared request reaches the network.

The default is unipush's own HTTP/2 engine (``_engine``). ``http_client=`` swaps in an ``httpx``
client (sync or async) for users who need a proxy or custom networking; it is slower per request
(httpx's HTTP/2 path costs ~1 ms of CPU per request here) but fully supported. httpx types appear
only in that one argument, never in return values.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from unipush import _errors
from unipush._errors import TransportError

__all__ = ["HttpxTransport", "Transport", "TransportResponse", "make_ssl_context"]


class TransportResponse(Protocol):
    """Status, lower-case headers and body of one HTTP answer."""

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, lower-case names."""
        ...

    @property
    def body(self) -> bytes:
        """The whole response body."""
        ...


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """What the sender needs from a transport."""

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> TransportResponse:
        """Send one request and return its answer; raise ``TransportError`` (or its ``TimeoutError``)."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


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


class HttpxTransport:
    """A transport over a user's ``httpx.AsyncClient`` or ``httpx.Client`` (run in a worker thread)."""

    def __init__(self, client: httpx.AsyncClient | httpx.Client) -> None:
        self._client = client

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> TransportResponse:
        try:
            if isinstance(self._client, httpx.AsyncClient):
                response = await self._client.request(method, url, headers=dict(headers), content=body, timeout=timeout)
            else:
                response = await asyncio.to_thread(
                    self._client.request, method, url, headers=dict(headers), content=body, timeout=timeout
                )
        except httpx.TimeoutException as exc:
            raise _errors.TimeoutError(f"{method} {url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {url}: {exc}") from exc
        headers = {k.lower(): v for k, v in response.headers.items()}
        return _Response(response.status_code, headers, response.content)

    async def aclose(self) -> None:
        """The user owns the httpx client: it is not closed here."""
