"""The sending engine: a lean HTTP/2 client on h2 + asyncio, one connection pool per provider origin.

Every provider request goes through ``Engine.request``. The per-request cost is one future, one
coroutine and (with a timeout) one timer handle; connections are ``asyncio.Protocol`` objects that
turn received bytes into h2 events and settle futures in the same callback. httpx's HTTP/2 path costs
several times more CPU per request, which matters when a batch is a million notifications.

Layout: ``_engine.py`` (``Engine``: URL → pool, header list, timeout), ``_pool.py`` (``Pool``: the
connections of one origin and the FIFO queue of requests waiting for a stream, connecting with
backoff), ``_connection.py`` (``Connection``: one HTTP/2 connection; flow control, GOAWAY, resets,
PING), ``_http1.py`` (``Http1Pool``: the kept-alive HTTP/1.1 connections of an origin whose server
chose HTTP/1.1 by ALPN, or of an ``http://`` origin), ``_exchange.py`` (``Exchange``: one request's
state; ``Response``).
"""

from __future__ import annotations

from unipush._engine._engine import Engine
from unipush._engine._exchange import MAX_RESPONSE_BODY, Response

__all__ = ["MAX_RESPONSE_BODY", "Engine", "Response"]
