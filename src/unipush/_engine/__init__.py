"""The sending engine: a lean HTTP/2 client on jh2 + asyncio, one connection pool per provider origin.

It speaks HTTP/1.1 (on h11) too, to a server that chooses it by ALPN.

Every provider request goes through ``Engine.request``. The per-request cost is one future, one
coroutine and (with a timeout) one timer handle; connections are ``asyncio.Protocol`` objects that
turn received bytes into jh2 events and settle futures in the same callback. jh2 is h2's maintained
fork with a compiled HPACK encoder and decoder; httpx's HTTP/2 path costs several times more CPU per
request, which matters when a batch is a million notifications.

Layout, imported one way only (each module imports only those above it):

* ``_config.py``: ``EngineConfig`` (frozen settings) and ``EngineStats`` (counters), a leaf;
* ``_exchange.py``: ``Exchange`` (one request's state) and ``Response``, a leaf;
* ``_connection.py``: ``Connection``, one HTTP/2 connection (flow control, GOAWAY, resets, PING), and
  ``ConnectionOwner``, the protocol of what it tells its pool;
* ``_http1.py``: ``Http1Pool``, the kept-alive HTTP/1.1 connections (on h11) of an origin whose server
  chose HTTP/1.1 by ALPN, or of an ``http://`` origin;
* ``_pool.py``: ``Pool``, the connections of one origin and the FIFO queue of requests waiting for a
  stream, connecting with backoff (it is a ``ConnectionOwner``); it hands an origin to ``Http1Pool``
  when ALPN chooses HTTP/1.1;
* ``_engine.py``: ``Engine``, URL → pool, header list, timeout.
"""

from __future__ import annotations

from unipush._engine._config import MAX_RESPONSE_BODY, EngineConfig, EngineStats
from unipush._engine._engine import Engine
from unipush._engine._exchange import Response

__all__ = ["MAX_RESPONSE_BODY", "Engine", "EngineConfig", "EngineStats", "Response"]
